"""Sweeps on a real SLURM cluster (the single-node cluster of benchmark/slurm/local_cluster.sh,
which .ci/run starts before the tests and stops after). Skipped when no cluster answers."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli import Grid, grid_main
from benchmark.sweep import state_path

REPO = Path(__file__).resolve().parent.parent
SLURM_DIR = Path(os.environ.get("MCDI_SLURM_DIR", "/tmp/mcdi-slurm"))


def _cluster_up() -> bool:
    if "SLURM_CONF" not in os.environ and (SLURM_DIR / "etc" / "slurm.conf").exists():
        os.environ["SLURM_CONF"] = str(SLURM_DIR / "etc" / "slurm.conf")
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return False
    return out.returncode == 0 and out.stdout.strip() in ("idle", "mix", "alloc")


pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm"),     # one worker runs them all, in order
              pytest.mark.skipif(not _cluster_up(), reason="no SLURM cluster (benchmark/slurm/local_cluster.sh start)")]

GRID = Grid("sweeptest", methods=["meta-baseline", "ref-centroid"], datasets=["synthetic"], settings=[(5, 1)],
            seeds=(0, 1))                                        # 4 cells, smoke profile
COMMON = ["--profile", "smoke", "--no-progress"]
ACC = ["method", "dataset", "way", "shot", "n_seeds", "acc_mean", "acc_std", "ci95_mean", "status"]


def _table(results: Path) -> pd.DataFrame:
    return pd.read_csv(results / "sweeptest_smoke.csv")[ACC]


def _sweep_cmd(grid_expr: str, results: Path, cache: Path, *extra) -> list:
    code = (f"import sys; from benchmark.cli import Grid, grid_main; sys.exit(grid_main({grid_expr}, sys.argv[1:]))")
    return [sys.executable, "-c", code, *COMMON, "--results", str(results), "--cache", str(cache),
            "--executor", "slurm", *extra]


GRID_EXPR = ("Grid('sweeptest', methods=['meta-baseline', 'ref-centroid'], datasets=['synthetic'], "
             "settings=[(5, 1)], seeds=(0, 1))")


def _submission(results: Path, n: int, timeout: float = 120) -> dict:
    """Wait for the n-th submission of the sweep to be recorded in its state file."""
    path = state_path(results, "sweeptest", "smoke")
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.exists():
            subs = json.loads(path.read_text())["submissions"]
            if len(subs) >= n:
                return subs[n - 1]
        time.sleep(0.5)
    raise TimeoutError("the sweep did not submit its job array")


def test_slurm_sweep_equals_inline(tmp_path, capsys):
    inline, slurm = tmp_path / "inline", tmp_path / "slurm"
    assert grid_main(GRID, COMMON + ["--results", str(inline), "--cache", str(tmp_path / "c1")]) == 0
    assert grid_main(GRID, COMMON + ["--results", str(slurm), "--cache", str(tmp_path / "c2"),
                                     "--executor", "slurm", "--cpus-per-task", "1", "--timeout-min", "10"]) == 0
    out = capsys.readouterr().out
    assert "submitted 4 task(s) (4 cells) as slurm job array" in out
    pd.testing.assert_frame_equal(_table(inline), _table(slurm))
    assert (_table(slurm).n_seeds == 2).all()
    # the status command sees every cell done, with its SLURM job id
    assert grid_main(GRID, COMMON + ["--results", str(slurm), "--status"]) == 0
    status = capsys.readouterr().out
    assert status.splitlines()[0] == "done: 4" and "_" in status        # array job ids <array>_<task>


def test_cancelled_cell_is_the_only_one_resubmitted(tmp_path, capsys):
    results, cache = tmp_path / "r", tmp_path / "c"
    proc = subprocess.Popen(_sweep_cmd(GRID_EXPR, results, cache, "--array-parallelism", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sub = _submission(results, 1)
    victim = max(sub["jobs"], key=lambda j: int(j.split("_")[1]))     # the last task: still pending or running
    subprocess.run(["scancel", victim], check=True)
    out, _ = proc.communicate(timeout=900)                             # a guard against a hang, not a timing
    assert proc.returncode == 1, out                                   # the sweep reports the missing cell
    assert "ended without their records" in out
    (cell,) = sub["jobs"][victim]
    assert sum(1 for _ in (results / "runs" / "sweeptest" / "smoke").rglob("*.json")) == 3
    # the rerun submits only the cancelled cell and completes the table
    assert grid_main(GRID, COMMON + ["--results", str(results), "--cache", str(cache), "--executor", "slurm"]) == 0
    assert "submitted 1 task(s) (1 cells)" in capsys.readouterr().out
    assert list(_submission(results, 2)["cells"]) == [cell]
    assert (_table(results).n_seeds == 2).all()


def test_requeued_cell_resumes_from_its_checkpoint(tmp_path):
    results, cache = tmp_path / "r", tmp_path / "c"
    grid = ("Grid('sweeptest', methods=[], datasets=['synthetic'], settings=[(5, 1)], seeds=(0,), "
            "variants={'long': ('mv-di', {'meta_iters': 600})})")
    proc = subprocess.Popen(_sweep_cmd(grid, results, cache), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    sub = _submission(results, 1)
    (job,) = sub["jobs"]
    progress = cache / "methods" / "progress"
    t0 = time.time()
    while not list(progress.glob("*.progress.pt")):                  # wait for a saved checkpoint
        assert proc.poll() is None and time.time() - t0 < 240, "no progress was saved"
        time.sleep(0.2)
    subprocess.run(["scontrol", "requeue", job], check=True)
    # A requeued job waits ~2 min (BeginTime) before it may start again; lift that while it is pending. The
    # update can land before the requeue has set BeginTime, so keep at it until the job leaves the queue's
    # pending state (or the sweep ends).
    t0, pended = time.time(), False
    while proc.poll() is None and time.time() - t0 < 180:
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout
        if state.strip() == "PENDING":
            pended = True
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], capture_output=True)
        elif state.strip() == "RUNNING" and pended:
            break
        time.sleep(0.5)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    (record,) = [json.loads(p.read_text()) for p in (results / "runs").rglob("*.json")]
    resumed = record["meta_train_resumed_at"]
    assert resumed and min(resumed.values()) > 0, record              # continued, not restarted from 0
    assert not list(progress.glob("*.progress.pt"))                   # cleaned up after the cell finished


def test_table5_cell_runs_on_slurm(tmp_path, capsys):
    """A Table 5 (GLUE, text) cell through the SLURM executor gives the inline run's numbers."""
    from benchmark.text.context import write_tiny_glue
    root = write_tiny_glue(tmp_path / "data", ["mrpc"])
    grid = Grid("table5", methods=["lora"], datasets=["glue-mrpc"], settings=[(2, 0)], seeds=(0,), latency="per-task")
    base = ["--profile", "smoke", "--no-progress", "--data", str(root)]
    inline, slurm = tmp_path / "inline", tmp_path / "slurm"
    assert grid_main(grid, base + ["--results", str(inline), "--cache", str(tmp_path / "c1")]) == 0
    assert grid_main(grid, base + ["--results", str(slurm), "--cache", str(tmp_path / "c2"), "--executor", "slurm",
                                   "--cpus-per-task", "1", "--timeout-min", "10"]) == 0
    assert "submitted 1 task(s)" in capsys.readouterr().out
    a, b = (pd.read_csv(r / "table5_smoke.csv") for r in (inline, slurm))
    assert a["acc_mean"].tolist() == b["acc_mean"].tolist() and (b["n_seeds"] == 1).all()
