"""Issue 7: bad input never becomes a valid-looking result. Each test is a bad input or fault that
used to pass silently or crash with a traceback: now one clear error (exit 2), nothing written."""
import os
import threading
import zipfile

import pytest
import torch

from benchmark.cells import Cell
from benchmark.cli import Grid, grid_main
from benchmark.data import DataCorruptError, DataMissingError
from benchmark.data.folders import load_mini_imagenet
from benchmark.runner import run_cell
from conftest import write_tiny_mini_imagenet, write_tiny_omniglot

GRID = Grid("tbad", methods=["meta-baseline", "ref-centroid"], datasets=["synthetic"], settings=[(5, 1)],
            seeds=(0, 1))


def _run(tmp_path, *extra, grid=GRID):
    return grid_main(grid, ["--profile", "smoke", "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"),
                            "--no-progress", *extra])


def _tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


# 1. a typo or a subset run never overwrites a table with an emptier one
def test_typo_and_subset_runs_never_shrink_a_table(tmp_path, capsys):
    assert _run(tmp_path) == 0
    csv = (tmp_path / "r" / "tbad_smoke.csv").read_text()
    for bad in (["--datasets", "Synthetic"], ["--methods", "mc-di"], ["--methods", "nope"]):
        assert _run(tmp_path, *bad) == 2
        assert "error:" in capsys.readouterr().err
        assert (tmp_path / "r" / "tbad_smoke.csv").read_text() == csv
    # a one-seed run aggregates every record present: the 2-seed rows stay 2-seed rows
    assert _run(tmp_path, "--seeds", "0", "--methods", "ref-centroid") == 0
    assert (tmp_path / "r" / "tbad_smoke.csv").read_text() == csv
    # records removed: the smaller table is refused unless asked for
    for p in (tmp_path / "r" / "runs" / "tbad" / "smoke" / "ref-centroid").glob("*seed1.json"):
        p.unlink()
    assert _run(tmp_path, "--table-only") == 2 and "--allow-shrink" in capsys.readouterr().err
    assert (tmp_path / "r" / "tbad_smoke.csv").read_text() == csv
    assert _run(tmp_path, "--table-only", "--allow-shrink") == 0


def test_table_only_without_records_is_one_error(tmp_path, capsys):
    assert _run(tmp_path, "--table-only") == 2
    err = capsys.readouterr().err
    assert "no records of tbad" in err and "Traceback" not in err and _tree(tmp_path / "r") == []


# 2. NaN never becomes a chance-level record, and a diverged model is never cached
def test_diverging_body_is_one_error_naming_the_setting(tmp_path, capsys):
    assert _run(tmp_path, "--set", "body_lr=1e9") == 2
    err = capsys.readouterr().err
    assert "body_lr" in err and "Traceback" not in err
    assert not list((tmp_path / "r").rglob("*.json")) and not list((tmp_path / "c").rglob("body-*.pt"))


# (REPTILE at inner_lr 1e12 now stays finite - absurd weights, but its one-pass batch norm does not overflow
# as vmap's elementwise one did - so the test diverges it for certain)
@pytest.mark.parametrize("method, options, setting", [("reptile", {"inner_lr": 1e30}, "inner_lr"),
                                                      ("mc-di", {"outer_lr": 1e30}, "learning rate")])
def test_diverging_meta_training_is_one_error_and_not_cached(tmp_path, capsys, method, options, setting):
    grid = Grid("tbad", methods=[], datasets=["synthetic"], settings=[(5, 1)], seeds=(0,),
                variants=[("huge", method, options)])
    assert _run(tmp_path, grid=grid) == 2
    err = capsys.readouterr().err
    assert "non-finite" in err and setting in err and "Traceback" not in err
    assert not list((tmp_path / "r").rglob("*.json")) and not list((tmp_path / "c").rglob("methods/*.pt"))


def test_nan_logits_are_refused():
    from methods.base import check_logits
    check_logits(torch.zeros(2, 5), "m")
    with pytest.raises(FloatingPointError, match="non-finite logits"):
        check_logits(torch.full((2, 5), float("nan")), "m")


# 3. every bad setting is one line naming the input and the fix, exit 2, nothing written
@pytest.mark.parametrize("setting, words", [
    ("body_lr=abc", "expected a number"), ("body_width=-3", "must be >= 1"), ("test_episodes=0", "must be >= 1"),
    ("latency_episodes=0", "must be >= 1"), ("query=0", "must be >= 1"), ("query=500", "lower the way"),
    ("selection=best", "choose one of"), ("image_size=2.5", "expected an integer")])
def test_bad_settings_are_one_clear_error(tmp_path, capsys, setting, words):
    assert _run(tmp_path, "--set", setting) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _tree(tmp_path / "r") == []


def test_inconsistent_method_options_fail_before_any_work(tmp_path, capsys):
    grid = Grid("tbad", methods=[], datasets=["synthetic"], settings=[(5, 1)], seeds=(0,),
                variants=[("strict", "mc-di", {"strict_segments": True, "segments": 3, "steps": 20})])
    assert _run(tmp_path, grid=grid) == 2
    err = capsys.readouterr().err
    assert "divisible by the segment number k=3" in err and _tree(tmp_path / "r") == []
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").rglob("*.pt"))


def test_truncated_record_names_the_file(tmp_path, capsys):
    assert _run(tmp_path) == 0
    rec = next((tmp_path / "r" / "runs").rglob("*.json"))
    rec.write_text(rec.read_text()[:40])
    assert _run(tmp_path, "--table-only") == 2
    err = capsys.readouterr().err
    assert rec.name in err and "delete it and run its cell again" in err


def test_damaged_archive_member_is_a_data_error(tmp_path):
    from benchmark.data import omniglot
    root = write_tiny_omniglot(tmp_path / "d")
    zpath = root / "omniglot-py" / "images_evaluation.zip"
    data = bytearray(zpath.read_bytes())
    with zipfile.ZipFile(zpath) as zf:
        info = zf.infolist()[3]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start:start + 20] = bytes(20)                        # damage one member's compressed bytes
    zpath.write_bytes(bytes(data))
    with pytest.raises(DataCorruptError, match="damaged|cannot decode|corrupt"):
        omniglot.load(root, 28, cache_dir=None)


# 4. the decode cache is keyed on the images it was built from
def test_stale_decode_cache_is_not_used(tmp_path):
    root = write_tiny_mini_imagenet(tmp_path / "d")
    a = load_mini_imagenet(root, 12, cache_dir=tmp_path / "c")
    img = sorted((root / "mini-imagenet" / "images").glob("*.jpg"))[-1]
    st = img.stat()
    from PIL import Image
    Image.new("RGB", (12, 12), (255, 255, 255)).save(img, "JPEG")      # another image, same name and time
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns))
    b = load_mini_imagenet(root, 12, cache_dir=tmp_path / "c")
    assert not torch.equal(a.splits["test"].images, b.splits["test"].images)
    img.unlink()
    with pytest.raises(DataMissingError, match=img.name):
        load_mini_imagenet(root, 12, cache_dir=tmp_path / "c")


# 5. shared outputs are readable by colleagues (the umask is honoured)
def test_outputs_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run_cell(Cell("t", "ref-centroid", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c", tmp_path / "r")
    finally:
        os.umask(old)
    files = [p for p in list((tmp_path / "r").rglob("*.json")) + list((tmp_path / "c").rglob("*.pt"))]
    assert files and all(p.stat().st_mode & 0o777 == 0o644 for p in files), [oct(p.stat().st_mode) for p in files]


# 6. latency from benchmark.evaluate is timed as the runner times it
def test_user_episode_latency_has_a_warm_up(tmp_path):
    from benchmark.checkpoint import save_checkpoint
    from benchmark.evaluate import main as evaluate_main
    from benchmark.runner import trained_method
    from test_checkpoint import write_user_episodes
    m, ctx, _, _ = trained_method(Cell("t", "ref-centroid", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c")
    save_checkpoint(m, ctx, tmp_path / "m.pt")
    calls = []
    real = type(m).adapt
    type(m).adapt = lambda self, x, y: calls.append(1) or real(self, x, y)
    try:
        out = tmp_path / "e.json"
        assert evaluate_main(["--checkpoint", str(tmp_path / "m.pt"), "--episodes",
                              str(write_user_episodes(tmp_path / "eps", n_episodes=1)), "--out", str(out)]) == 0
    finally:
        type(m).adapt = real
    import json
    rec = json.loads(out.read_text())
    assert len(calls) == 2 and rec["latency_episodes"] == 1          # one untimed warm-up, one timed


# 7. two runs on one results folder compute a cell once
def test_concurrent_runs_compute_a_cell_once(tmp_path, monkeypatch):
    from methods.meta_baseline import MetaBaseline
    count, real = [], MetaBaseline.meta_train
    monkeypatch.setattr(MetaBaseline, "meta_train", lambda self: count.append(1) or real(self))
    cell = Cell("t", "meta-baseline", "synthetic", 5, 1, 0, "smoke")
    out = []
    threads = [threading.Thread(target=lambda: out.append(run_cell(cell, None, None, tmp_path / "r")))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(count) == 1 and len(out) == 2 and out[0]["acc"] == out[1]["acc"]


# 8. the paper profile builds and runs every method: its hyper-parameters (widths, depths, schedules,
# optimisers) with the iteration counts cut to one and the batch sizes to two, on tiny data
ITERATION_KEYS = {"meta_iters": 1, "iters": 1, "vae_iters": 1, "tasks": 6, "max_steps": 15, "eval_steps": 2,
                  "test_steps": 1, "ft_steps": 1, "meta_batch": 2, "draws": 2}


@pytest.mark.parametrize("method", __import__("methods").registered("images"))
def test_paper_profile_runs_every_method(tmp_path, method):
    from methods import get_method
    hp = get_method(method).DEFAULTS["paper"]
    opts = {k: v for k, v in ITERATION_KEYS.items() if k in hp}
    opts.update(body_epochs=1, test_episodes=2, latency_episodes=1, val_episodes=2, val_checkpoints=1)
    cell = Cell("t", method, "synthetic", 5, 1, 0, "paper", options=tuple(sorted(opts.items())))
    rec = run_cell(cell, None, tmp_path / "c", tmp_path / "r")
    assert 0 <= rec["acc"] <= 100 and rec["episodes"] == 2 and rec["settings"]["body_width"] == 64
