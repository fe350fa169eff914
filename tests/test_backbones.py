"""The timm bodies of Tables 6-7 (ResNet-18, MobileNetV2, Swin-T), untrained, behind build_backbone,
and a cell of REPTILE and Mc-Di running on one of them."""
import pytest
import torch

from benchmark.cells import Cell
from benchmark.models.backbones import TIMM, build_backbone
from benchmark.runner import run_cell


@pytest.mark.parametrize("name", sorted(TIMM))
def test_timm_bodies_give_pooled_features_without_hub_weights(name):
    for channels, size in ((1, 28), (3, 32)):
        torch.manual_seed(0)
        a = build_backbone(name, channels, 64, track_running_stats=False, image_size=size).train()
        torch.manual_seed(0)
        b = build_backbone(name, channels, 64, track_running_stats=False, image_size=size).train()
        x = torch.randn(3, channels, size, size)
        out = a(x)
        assert out.dim() == 2 and out.shape[0] == 3 and torch.isfinite(out).all()
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))   # seeded, nothing downloaded
        bn = [m for m in a.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        assert all(m.running_mean is None for m in bn)                  # batch statistics only


def test_unknown_backbone_is_one_clear_error():
    with pytest.raises(KeyError, match="choose one of conv4, resnet12, resnet18"):
        build_backbone("vgg", 3, 64)


@pytest.mark.parametrize("method,options", [("reptile", {"meta_iters": 2, "eval_steps": 2}),
                                            ("reptile", {"meta_iters": 2, "eval_steps": 2, "init_body": "pretrained"}),
                                            ("mc-di", {"tasks": 8, "meta_iters": 2, "max_steps": 5}),
                                            ("ref-centroid", {})])
def test_cells_run_on_a_timm_body(tmp_path, method, options):
    opts = tuple(sorted({"query": 2, "test_episodes": 5, "val_checkpoints": 1, "val_episodes": 2, **options}.items()))
    cell = Cell("table6", method, "synthetic", 5, 1, 0, "smoke", "mobilenetv2", options=opts)
    rec = run_cell(cell, None, tmp_path / "cache", tmp_path / "r")
    assert 0 <= rec["acc"] <= 100 and cell.record_path(tmp_path / "r").name.endswith("_mobilenetv2.json")


def test_reptile_runs_on_swin(tmp_path):
    """Swin-T's stochastic depth would make vmap refuse REPTILE's copies (random ops) and its query
    predictions random: REPTILE's network has it off."""
    opts = (("eval_steps", 1), ("meta_iters", 1), ("query", 1), ("test_episodes", 2), ("val_checkpoints", 1),
            ("val_episodes", 1))
    cell = Cell("table6", "reptile", "synthetic", 5, 1, 0, "smoke", "swin", options=opts)
    a = run_cell(cell, None, tmp_path / "cache", tmp_path / "r1")
    b = run_cell(cell, None, tmp_path / "cache", tmp_path / "r2")
    assert a["episode_acc"] == b["episode_acc"]


def test_grid_over_bodies_has_a_column_per_body(tmp_path):
    import pandas as pd

    from benchmark.cli import Grid, grid_main
    grid = Grid("bodies", methods=["ref-centroid"], datasets=["synthetic"], settings=[(5, 1)], seeds=(0,),
                backbones=("conv4", "mobilenetv2"))
    assert {c.backbone for c in grid.cells("smoke")} == {"conv4", "mobilenetv2"}
    assert grid_main(grid, ["--profile", "smoke", "--results", str(tmp_path), "--no-progress"]) == 0
    df = pd.read_csv(tmp_path / "bodies_smoke.csv")
    assert sorted(df["dataset"]) == ["synthetic|conv4", "synthetic|mobilenetv2"] and set(df["status"]) == {"ok"}
    assert df["acc_mean"].nunique() == 2                                # two bodies, two numbers
    assert "Synthetic: MobileNetV2" in (tmp_path / "bodies_smoke.tex").read_text()
