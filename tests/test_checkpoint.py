"""Saved models and evaluation on a user's own episode folders."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.cells import Cell
from benchmark.checkpoint import load_checkpoint, save_checkpoint
from benchmark.data import load_dataset
from benchmark.evaluate import main as evaluate_main
from benchmark.runner import trained_method


def write_user_episodes(root, n_episodes=3, way=5, shot=1, query=4, size=23):
    """Episodes drawn from the synthetic test classes, saved as RGB PNGs of another size."""
    ds = load_dataset("synthetic", None, 16)
    test = ds.splits["test"]
    rng = np.random.default_rng(0)
    for e in range(n_episodes):
        classes = rng.choice(test.num_classes, way, replace=False)
        for c in classes:
            idx = (test.labels == int(c)).nonzero().flatten().numpy()
            pick = rng.choice(idx, shot + query, replace=False)
            for part, chosen in (("support", pick[:shot]), ("query", pick[shot:])):
                d = root / f"ep{e}" / part / f"class_{c:02d}"
                d.mkdir(parents=True, exist_ok=True)
                for i in chosen:
                    img = Image.fromarray(test.images[i, 0].numpy()).convert("RGB").resize((size, size))
                    img.save(d / f"{i}.png")
    return root


@pytest.mark.parametrize("method", ["meta-baseline", "reptile", "mc-di"])
def test_export_and_evaluate_user_episodes(tmp_path, method):
    cell = Cell("t", method, "synthetic", 5, 1, 0, "smoke")
    m, ctx, _, _ = trained_method(cell, None, tmp_path / "cache")
    ckpt = tmp_path / f"{method}.pt"
    save_checkpoint(m, ctx, ckpt)
    # the reloaded model generates exactly what the trained one does
    m2, ctx2 = load_checkpoint(ckpt)
    x = ctx.images("test", torch.arange(5) * 20)
    y = torch.arange(5)
    a, b = m.predict(m.adapt(x, y), x), m2.predict(m2.adapt(x, y), x)
    assert torch.allclose(a, b, atol=1e-5)
    episodes = write_user_episodes(tmp_path / "episodes")
    out = tmp_path / "record.json"
    assert evaluate_main(["--checkpoint", str(ckpt), "--episodes", str(episodes), "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["episodes"] == 3 and set(rec["per_episode"]) == {"ep0", "ep1", "ep2"}
    assert 0 <= rec["acc"] <= 100 and rec["latency_ms"] > 0


def test_user_episodes_are_evaluated_with_a_cells_threads(tmp_path, monkeypatch):
    """benchmark.evaluate computes with cpu_threads() ($MCDI_THREADS), as the cell that made the model
    did, whatever torch's default, and gives the caller's thread count back."""
    import benchmark.evaluate as ev
    cell = Cell("t", "meta-baseline", "synthetic", 5, 1, 0, "smoke")
    m, ctx, _, _ = trained_method(cell, None, tmp_path / "cache")
    save_checkpoint(m, ctx, tmp_path / "m.pt")
    seen, real = [], ev.evaluate_episodes
    monkeypatch.setattr(ev, "evaluate_episodes", lambda *a: seen.append(torch.get_num_threads()) or real(*a))
    monkeypatch.setenv("MCDI_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out = tmp_path / "r.json"
        assert ev.main(["--checkpoint", str(tmp_path / "m.pt"), "--episodes",
                        str(write_user_episodes(tmp_path / "eps", n_episodes=1)), "--out", str(out)]) == 0
        assert seen == [1] and json.loads(out.read_text())["threads"] == 1 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_evaluate_rejects_bad_inputs(tmp_path, capsys):
    (tmp_path / "bad.pt").write_bytes(b"nope")
    assert evaluate_main(["--checkpoint", str(tmp_path / "bad.pt"), "--episodes", str(tmp_path)]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err


@pytest.fixture(scope="module")
def way_episodes(tmp_path_factory):
    root = tmp_path_factory.mktemp("ways")
    return {w: write_user_episodes(root / f"{w}way", n_episodes=2, way=w, shot=1, query=3) for w in (3, 20)}


@pytest.mark.parametrize("method", __import__("methods").registered("images"))
def test_every_method_on_other_ways(tmp_path, capsys, way_episodes, method):
    """A 5-way checkpoint on 3-way and 20-way episodes: an accuracy over the episode's own classes
    (methods that adapt to any way) or one clear error naming both ways (exit 2, no traceback)."""
    cell = Cell("t", method, "synthetic", 5, 1, 0, "smoke")
    m, ctx, _, _ = trained_method(cell, None, tmp_path / "cache")
    ckpt = tmp_path / "m.pt"
    save_checkpoint(m, ctx, ckpt)
    for way, episodes in way_episodes.items():
        out = tmp_path / f"{way}.json"
        code = evaluate_main(["--checkpoint", str(ckpt), "--episodes", str(episodes), "--out", str(out)])
        err = capsys.readouterr().err
        if m.ANY_WAY:
            assert code == 0, err
            x = ctx.images("test", torch.arange(way) * 20)
            assert m.predict(m.adapt(x, torch.arange(way)), x).shape == (way, way)
        else:
            assert code == 2 and not out.exists()
            assert "meta-trained for 5-way" in err and f"has {way} classes" in err and "Traceback" not in err


def test_checkpoint_keys_share_only_what_training_does_not_read(monkeypatch):
    """An image method's key is what it always was (existing caches stay valid); Table 5's generators
    key neither the evaluation task nor the fine-tuning after generation, but every training input."""
    from benchmark.runner import method_checkpoint_key
    monkeypatch.setenv("MCDI_THREADS", "1")
    assert method_checkpoint_key(Cell("table3", "mc-di", "omniglot", 5, 1, 0, "cpu"), {"a": 1},
                                 {"image_size": 28}) == "mc-di-omniglot-5w1s-seed0-4aabfed805b1"
    key = lambda m="mc-di-lora", d="glue-mrpc", seed=0, **hp: method_checkpoint_key(
        Cell("table5", m, d, 2, 0, seed, "cpu"), {"r": 4, "finetune": False, "lr": 4e-4, **hp}, {"model": "minilm"})
    assert key() == key(d="glue-qnli") == key(finetune=True, lr=1e-3) and key().startswith("mc-di-lora-anytask-")
    assert len({key(), key(seed=1), key(r=8), key(m="mv-di-lora")}) == 4
    assert method_checkpoint_key(Cell("table5", "lora", "glue-mrpc", 2, 0, 0, "cpu"), {}, {}) != \
        method_checkpoint_key(Cell("table5", "lora", "glue-qnli", 2, 0, 0, "cpu"), {}, {})
