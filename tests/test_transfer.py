"""Table 2 (transfer learning): ImageNet's folder layout, the composed source -> target dataset, the
two readings of "without any labeled data" (conditioning shots; label-free cluster episodes), and a
transfer cell on fixture files."""
import pytest
import torch

from benchmark.cells import Cell
from benchmark.config import ConfigError
from benchmark.data import ClusterEpisodeSampler, DataCorruptError, DataMissingError, load_dataset, matched_accuracy
from benchmark.data.fixtures import write_class_folders
from benchmark.data.transfer import compose
from benchmark.runner import check_cell_data, run_cell
from conftest import write_tiny_mini_imagenet


def test_imagenet_folders(tmp_path):
    wnids = ["n01440764", "n01443537", "n01484850"]
    write_class_folders(tmp_path / "imagenet" / "train", wnids, per_class=4)
    write_class_folders(tmp_path / "imagenet" / "val", wnids, per_class=2)
    ds = load_dataset("imagenet", tmp_path, 8, tmp_path / "c", per_class=3, val_per_class=1)
    assert ds.splits["train"].class_names == wnids and len(ds.splits["train"]) == 9      # capped per class
    assert ds.splits["val"].class_names == wnids and len(ds.splits["val"]) == 3
    assert "test" not in ds.splits
    write_class_folders(tmp_path / "imagenet" / "val", ["n09999999"], per_class=1)
    with pytest.raises(DataCorruptError, match="different class folders"):
        load_dataset("imagenet", tmp_path, 8)


def test_compose_keeps_the_source_name_and_checks_channels():
    from benchmark.data import synthetic
    from benchmark.data.base import FewShotDataset, ImageSplit
    src = synthetic.load(8, seed=0)
    other = ImageSplit(torch.zeros(2, src.channels + 2, 8, 8, dtype=torch.uint8), torch.tensor([0, 1]), ["a", "b"])
    with pytest.raises(DataCorruptError, match="channel"):
        compose(src, FewShotDataset("t", {"test": other}, (0.5,), (0.5,)))
    same = ImageSplit(torch.zeros(2, src.channels, 8, 8, dtype=torch.uint8), torch.tensor([0, 1]), ["a", "b"])
    ds = compose(src, FewShotDataset("t", {"test": same}, (0.1,), (0.2,)))
    assert ds.name == src.name and ds.splits["train"] is src.splits["train"] and ds.mean == src.mean


def test_matched_accuracy_ignores_cluster_names():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert matched_accuracy(torch.tensor([2, 2, 0, 0, 1, 1]), labels, 3) == 1.0          # renamed clusters
    assert matched_accuracy(torch.tensor([0, 0, 0, 0, 1, 1]), labels, 3) == pytest.approx(5 / 6 - 1 / 6)


def test_cluster_episodes_use_no_labels():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 8.0], [8.0, 0.0], [-8.0, -8.0]])
    feats = torch.cat([c + torch.randn(10, 2, generator=g) for c in centres])
    labels = torch.arange(3).repeat_interleave(10)
    a = ClusterEpisodeSampler(feats, labels, 3, 2, seed=1).episode(0)
    b = ClusterEpisodeSampler(feats, (labels + 1) % 3, 3, 2, seed=1).episode(0)       # other label names
    assert torch.equal(a.support, b.support) and torch.equal(a.query, b.query)
    assert len(set(a.support.tolist()) | set(a.query.tolist())) == 30 and len(a.query) == 24
    # each cluster's support lies in one true class (the clusters are the classes here)
    assert all(len(set(labels[a.support[2 * c:2 * c + 2]].tolist())) == 1 for c in range(3))
    with pytest.raises(ConfigError, match="number of classes"):
        ClusterEpisodeSampler(feats, labels, 2, 2, seed=1)


def _transfer_data(root):
    write_tiny_mini_imagenet(root, classes=(4, 3, 3), per_class=20)
    write_class_folders(root / "cifar10" / "test", ["airplane", "cat", "ship"], per_class=8, start=5)


@pytest.mark.parametrize("labels", ["support", "none"])
def test_transfer_cell_on_fixture_files(tmp_path, labels):
    _transfer_data(tmp_path)
    opts = (("transfer_labels", "none"),) if labels == "none" else ()
    for method in ("ghn3", "ref-centroid"):
        cell = Cell("table2", method, "cifar10", 3, 2, 0, "smoke", "resnet12", opts)
        rec = run_cell(cell, tmp_path, tmp_path / "cache", tmp_path / "results")
        assert rec["settings"]["transfer_source"] == "mini-imagenet" and rec["query_per_episode"] == 3 * (8 - 2)
        assert rec["query_per_class"] == (6 if labels == "support" else None)
        if method == "ghn3":
            assert rec["hparams"]["ft_steps"] == 0            # no gradient step on the target (Table 2)
        else:                                                 # each target class is one flat colour
            assert rec["acc"] == 100.0
    # the body is the source's: trained once, on mini-ImageNet's training split
    assert len(list((tmp_path / "cache" / "bodies").glob("*mini-imagenet*.pt"))) == 1


def test_transfer_needs_its_source(tmp_path):
    write_class_folders(tmp_path / "cifar10" / "test", ["airplane", "cat"], per_class=3)
    with pytest.raises(DataMissingError, match="mini-imagenet"):
        check_cell_data(Cell("table2", "mc-di", "cifar10", 2, 1, 0, "cpu", "resnet12"), tmp_path)


def test_table2_grid(tmp_path, capsys, monkeypatch):
    import pathlib
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parents[1] / "reproduce"))
    import table2
    from benchmark.cli import grid_main
    cells = table2.GRID.cells("cpu")
    assert {(c.dataset, c.way, c.shot) for c in cells} >= {("cifar10", 10, 5), ("cifar100", 100, 5), ("pets", 37, 5)}
    write_class_folders(tmp_path / "d" / "cifar10" / "test", ["airplane", "cat"], per_class=3)
    args = ["--profile", "cpu", "--data", str(tmp_path / "d"), "--results", str(tmp_path / "r"), "--no-progress"]
    assert grid_main(table2.GRID, args) == 2                    # no source anywhere: one clear error, nothing written
    assert "mini-imagenet" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_label_free_reading_with_a_wrong_way_is_refused_before_training(tmp_path):
    """transfer_labels=none needs way = the target's number of classes: preflight says so, nothing trains."""
    from benchmark.runner import preflight
    _transfer_data(tmp_path)
    cell = Cell("table2", "mc-di", "cifar10", 2, 1, 0, "smoke", "resnet12", (("transfer_labels", "none"),))
    with pytest.raises(ConfigError, match="number of classes"):
        preflight([cell], tmp_path, tmp_path / "cache")
    assert not (tmp_path / "cache" / "methods").exists() and not (tmp_path / "cache" / "bodies").exists()
