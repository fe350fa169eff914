"""Runner: atomic records, resume after a kill, --force, clear errors that write nothing."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchmark.cells import Cell
from benchmark.cli import Grid, grid_main
from benchmark.runner import run_cell, run_grid

REPO = Path(__file__).resolve().parent.parent

GRID_SCRIPT = textwrap.dedent("""
    import sys
    from benchmark.cli import Grid, grid_main
    GRID = Grid("killtest", methods=["meta-baseline", "reptile"], datasets=["synthetic"],
                settings=[(5, 1)], seeds=(0, 1, 2))
    raise SystemExit(grid_main(GRID, sys.argv[1:]))
""")


LONG_GRID_SCRIPT = textwrap.dedent("""
    import sys
    from benchmark.cli import Grid, grid_main
    GRID = Grid("killtest", methods=[], variants=[("long", "reptile", {"meta_iters": 20000})],   # hours a cell
                datasets=["synthetic"], settings=[(5, 1)], seeds=(0, 1))
    if __name__ == "__main__":                         # the spawned workers import this file
        raise SystemExit(grid_main(GRID, sys.argv[1:]))
""")


def _records(results: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in results.glob("runs/**/*.json")}


def test_kill_and_rerun_redoes_only_unfinished_cells(tmp_path):
    script = tmp_path / "grid.py"
    script.write_text(GRID_SCRIPT)
    results, cache = tmp_path / "results", tmp_path / "cache"
    args = [sys.executable, str(script), "--profile", "smoke", "--results", str(results), "--cache", str(cache),
            "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while len(_records(results)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _records(results)
    assert 2 <= len(before) < 6, "the kill must land while cells remain"
    assert not list(results.glob("runs/**/*.tmp")), "a killed run leaves no half file"
    for p in before:
        json.loads(p.read_text())                         # every record present is complete

    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    after = _records(results)
    assert len(after) == 6
    assert all(after[p] == t for p, t in before.items()), "finished cells were not redone"
    redone = [line for line in out.stdout.splitlines() if " acc " in line and "latency" in line]
    assert len(redone) == 6 - len(before)
    table = (results / "killtest_smoke.csv").read_text().splitlines()
    assert len(table) == 3 and all(line.endswith(",ok") for line in table[1:])


def _proc_text(pid: int, name: str) -> str:
    """/proc/<pid>/<name>, or "" when the process has gone between listing and reading (a race, not an error)."""
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _workers(pid: int) -> list:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if "spawn_main" in _proc_text(int(p), "cmdline")]


def _cpu_s(pid: int) -> float:
    stat = _proc_text(pid, "stat")
    if not stat:
        return 0.0                                        # gone: not "deep in a cell"
    fields = stat.split(") ")[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _deep_in_cells(pid: int) -> bool:
    """Two spawn workers, each with at least 8 CPU-seconds behind it (one snapshot of the children)."""
    workers = _workers(pid)
    return len(workers) >= 2 and min(_cpu_s(w) for w in workers) >= 8


def _alive(pid: int) -> bool:
    stat = _proc_text(pid, "stat")
    return bool(stat) and stat.split(") ")[1][0] != "Z"


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc")
def test_sigterm_takes_the_workers_with_it(tmp_path):
    """`kill PID` of a grid run with --jobs 2 stops its worker processes too (no orphans computing on)."""
    script = tmp_path / "grid.py"
    script.write_text(LONG_GRID_SCRIPT)
    args = [sys.executable, str(script), "--profile", "smoke", "--results", str(tmp_path / "r"), "--cache",
            str(tmp_path / "c"), "--no-progress", "--jobs", "2"]
    proc = subprocess.Popen(args, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not _deep_in_cells(proc.pid):
        time.sleep(0.2)
    workers = _workers(proc.pid)
    assert len(workers) == 2, "the workers must be computing when the signal lands"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    deadline = time.time() + 10
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "a worker outlived its killed run"
    assert not list((tmp_path / "r").glob("runs/**/*.tmp")), "a killed run leaves no half file"


def test_force_redoes_and_records_are_complete(tmp_path):
    cell = Cell("t", "meta-baseline", "synthetic", 5, 1, 0, "smoke")
    rec = run_cell(cell, None, tmp_path / "c", tmp_path / "r")
    path = cell.record_path(tmp_path / "r")
    for key in ("cell", "hparams", "acc", "ci95", "latency_ms", "wall_time_s", "code_version", "episodes"):
        assert key in rec
    t0 = path.stat().st_mtime_ns
    run_cell(cell, None, tmp_path / "c", tmp_path / "r")
    assert path.stat().st_mtime_ns == t0
    time.sleep(0.01)
    run_cell(cell, None, tmp_path / "c", tmp_path / "r", force=True)
    assert path.stat().st_mtime_ns != t0


def test_missing_data_cells_are_reported_not_run(tmp_path):
    cells = [Cell("t", "meta-baseline", "omniglot", 5, 1, 0, "smoke")]
    out = run_grid(cells, tmp_path / "nodata", tmp_path / "c", tmp_path / "r", progress=False)
    assert out["done"] == [] and "omniglot" in out["missing_data"]
    assert not (tmp_path / "r").exists()


def test_cli_unknown_method_and_missing_data(tmp_path, capsys):
    grid = Grid("t3", methods=["reptile"], datasets=["omniglot"], settings=[(5, 1)])
    rc = grid_main(grid, ["--methods", "bogus", "--data", str(tmp_path), "--results", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown method 'bogus'" in err and "reptile" in err
    assert not (tmp_path / "r").exists()
    # a grid whose data is entirely missing: one error naming the path expected, exit 2, nothing written
    rc = grid_main(grid, ["--profile", "smoke", "--data", str(tmp_path), "--results", str(tmp_path / "r"),
                          "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "omniglot-py" in err and not (tmp_path / "r").exists()


def test_identical_cell_of_another_table_is_reused(tmp_path):
    a = Cell("table3", "meta-baseline", "synthetic", 5, 1, 0, "smoke")
    b = Cell("table1", "meta-baseline", "synthetic", 5, 1, 0, "smoke")
    ra = run_cell(a, None, tmp_path / "c", tmp_path / "r")
    rb = run_cell(b, None, tmp_path / "c", tmp_path / "r")
    assert rb["acc"] == ra["acc"] and rb["copied_from"].startswith("runs/table3/")
    assert rb["cell"]["table"] == "table1" and b.record_path(tmp_path / "r").exists()


def test_lv_di_cell_is_mv_di_computed_once(tmp_path):
    """Lv-Di (k = 1, absolute time) computes what Mv-Di computes (LvDi.same_computation): run alone, its
    record equals Mv-Di's number for number; beside Mv-Di's record it is copied, named as Mv-Di's
    computation; with the relative time input (another computation) nothing is copied."""
    from benchmark.cells import make_options
    from benchmark.figures import figure_row
    from benchmark.runner import same_cell_elsewhere

    def cell(table, method, **extra):                  # a figure's row: MSE and validation curves recorded
        label, _, opts = figure_row(method, steps=10, **extra)
        return Cell(table, method, "synthetic", 5, 1, 0, "smoke", options=make_options(**opts), variant=label)

    mv = run_cell(cell("figA", "mv-di"), None, tmp_path / "c", tmp_path / "r")
    lv = cell("figB", "lv-di")
    alone = run_cell(lv, None, tmp_path / "c2", tmp_path / "alone")          # no twin there: computed
    assert "copied_from" not in alone and alone["readings"]["objective"] == "trajectory"
    for key in ("acc", "mse", "mse_by_steps", "episode_acc"):
        assert alone[key] == mv[key], key
    untimed = lambda rec: [{k: v for k, v in row.items() if k not in ("cpu_s", "wall_s")}
                            for row in rec["selection"]["trace"]]
    assert untimed(alone) == untimed(mv) and alone["selection"]["best_it"] == mv["selection"]["best_it"]
    from benchmark.sweep import sweep_status
    assert sweep_status([lv], tmp_path / "r", "figB", "smoke")[0][1] == "copy ready"       # --status says so
    assert sweep_status([lv], tmp_path / "empty", "figB", "smoke")[0][1] == "not submitted"
    copied = run_cell(lv, None, tmp_path / "c", tmp_path / "r")
    assert copied["copied_from"] == "runs/figA/smoke/mv-di[fig,steps=10]/synthetic_5w1s_seed0.json"
    assert copied["computed_as"] == {"method": "mv-di", "hparams": mv["hparams"]}
    assert copied["hparams"] == alone["hparams"] and copied["acc"] == mv["acc"]
    assert same_cell_elsewhere(cell("figB", "lv-di", time_input="relative"), tmp_path / "r") is None
    assert same_cell_elsewhere(cell("figB", "mc-di", segments=1), tmp_path / "r") is None    # not declared


def test_twin_timed_the_other_way_is_not_reused(tmp_path, monkeypatch):
    """A --compile run does not copy a twin whose latency was timed without it (nor the reverse)."""
    from benchmark.runner import same_cell_elsewhere
    monkeypatch.setenv("MCDI_COMPILE", "0")
    run_cell(Cell("table3", "ref-centroid", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c", tmp_path / "r")
    b = Cell("table1", "ref-centroid", "synthetic", 5, 1, 0, "smoke")
    assert same_cell_elsewhere(b, tmp_path / "r") is not None
    monkeypatch.setenv("MCDI_COMPILE", "1")
    assert same_cell_elsewhere(b, tmp_path / "r") is None


def test_record_made_under_other_defaults_is_not_reused(tmp_path):
    """A twin record whose hyper-parameters or settings differ from what the cell would run with now
    (superseded defaults) is not copied: the cell is computed."""
    a = Cell("table3", "meta-baseline", "synthetic", 5, 1, 0, "smoke")
    ra = run_cell(a, None, tmp_path / "c", tmp_path / "r")
    path = a.record_path(tmp_path / "r")
    stale = json.loads(path.read_text())
    stale["hparams"]["meta_iters"] += 1
    stale["acc"] = 99.0
    path.write_text(json.dumps(stale))
    rb = run_cell(Cell("table1", "meta-baseline", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c",
                  tmp_path / "r")
    assert "copied_from" not in rb and rb["acc"] == ra["acc"] != 99.0


def test_local_executor_sweep_then_status(tmp_path, capsys):
    """--executor local: the cells run as submitit jobs; a rerun submits nothing; --status reports."""
    grid = Grid("sweeplocal", methods=["ref-centroid"], datasets=["synthetic"], settings=[(5, 1)], seeds=(0, 1))
    argv = ["--profile", "smoke", "--no-progress", "--results", str(tmp_path / "r"), "--executor", "local"]
    assert grid_main(grid, argv) == 0
    assert "submitted 2 task(s) (2 cells) as local job array" in capsys.readouterr().out
    assert grid_main(grid, argv) == 0
    assert "submitted" not in capsys.readouterr().out                 # finished cells are not resubmitted
    assert grid_main(grid, argv[:-2] + ["--status"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "done: 2"
    for seed in (0, 1):                       # the jobs' bodies were pretrained with the threads their key names
        rec = json.loads(Cell("sweeplocal", "ref-centroid", "synthetic", 5, 1, seed, "smoke").record_path(
            tmp_path / "r").read_text())
        assert rec["body"]["threads"] == rec["threads"] == 1
    with pytest.raises(SystemExit):
        grid_main(grid, argv[:-1] + ["nope"])                            # unknown executor: argparse error


def test_a_body_is_pretrained_with_the_threads_its_cache_key_names(tmp_path):
    """Whoever asks for a body - a cell (1 thread) or a sweep's body job (a fresh process with torch's
    default threads) - gets the same weights: the key names the thread count, so pretraining runs with it."""
    import torch
    from benchmark.body import get_body
    from benchmark.config import torch_threads
    from benchmark.data import load_dataset
    ds = load_dataset("synthetic", None, 16)
    bodies = {}
    for n in (1, 2):
        with torch_threads(n):                                       # the caller's threads
            bodies[n] = get_body(ds, "conv4", 16, 16, 2, 64, 0.01, 0, tmp_path / f"cache{n}")
            assert torch.get_num_threads() == n                      # given back
    assert bodies[1].provenance["fingerprint"] == bodies[2].provenance["fingerprint"]
    assert bodies[2].provenance["threads"] == 1


def test_status_names_each_body_and_marks_a_cell_in_progress(tmp_path, capsys):
    """--status over a grid of bodies (Tables 6-7) gives each cell its own name, and a cell whose lock a
    running process holds (an inline run) reads ``running``, not ``not submitted``."""
    import fcntl
    grid = Grid("tstat", methods=["ref-centroid"], datasets=["synthetic"], settings=[(5, 1)], seeds=(0,),
                backbones=("conv4", "resnet18"))
    argv = ["--profile", "smoke", "--results", str(tmp_path / "r"), "--status"]
    busy = Cell("tstat", "ref-centroid", "synthetic", 5, 1, 0, "smoke", backbone="resnet18")
    lock = tmp_path / "r/.locks/runs/tstat/smoke/ref-centroid/synthetic_5w1s_seed0_resnet18.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, sys, time
        fh = open({str(lock)!r}, "a"); fcntl.flock(fh, fcntl.LOCK_EX); print("held", flush=True); time.sleep(60)""")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert grid_main(grid, argv) == 0
        lines = capsys.readouterr().out.splitlines()
    finally:
        holder.kill()
        holder.wait()
    assert lines[0] == "not: 1  running: 1"
    assert str(busy) == "tstat/smoke/ref-centroid/synthetic (5,1) seed 0 resnet18"
    status = {ln.split("  ")[-1].strip(): ln.split()[0] for ln in lines[1:]}
    assert status == {"tstat/smoke/ref-centroid/synthetic (5,1) seed 0": "not",
                      str(busy): "running"}
    with open(lock) as fh:                                    # the probe leaves the lock free once its holder is gone
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert grid_main(grid, argv) == 0
    assert capsys.readouterr().out.splitlines()[0] == "not: 2"


def test_option_sets_method_hyper_parameters_of_the_rows_that_have_them(tmp_path, capsys):
    grid = Grid("topt", methods=["ref-centroid", "mv-di"], datasets=["synthetic"], settings=[(5, 1)], seeds=(0,))
    base = ["--profile", "smoke", "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--no-progress"]
    assert grid_main(grid, base + ["--option", "steps=4"]) == 0              # ref-centroid has no "steps"
    runs = tmp_path / "r/runs/topt/smoke"
    assert sorted(p.name for p in runs.iterdir()) == ["mv-di[steps4]"]
    rec = json.loads((runs / "mv-di[steps4]/synthetic_5w1s_seed0.json").read_text())
    assert rec["hparams"]["steps"] == 4 and rec["cell"]["options"] == {"steps": 4}
    assert "mv-di[steps4]" in (tmp_path / "r/topt_smoke_steps4.csv").read_text()
    capsys.readouterr()
    for bad, words in ((["--option", "nosuch=1"], "no row of topt has a hyper-parameter 'nosuch'"),
                       (["--option", "steps=2.5"], "expected an integer"),
                       (["--option", "steps"], "expects KEY=VALUE")):
        assert grid_main(grid, base + bad) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
    assert sorted(p.name for p in runs.iterdir()) == ["mv-di[steps4]"]      # nothing written by the bad ones


def test_compile_is_refused_beside_records_timed_the_other_way(tmp_path, capsys, monkeypatch):
    """--compile times the generation compiled: one table's records are timed one way (a record says
    which, ``compiled_sampler``), so a --compile run beside plain records is one clear error."""
    monkeypatch.setenv("MCDI_COMPILE", "0")          # restored after the test (--compile sets it to 1)
    grid = Grid("tcomp", methods=["ref-centroid"], datasets=["synthetic"], settings=[(5, 1)], seeds=(0, 1))
    base = ["--profile", "smoke", "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--no-progress"]
    assert grid_main(grid, base + ["--seeds", "0"]) == 0
    runs = tmp_path / "r/runs/tcomp/smoke/ref-centroid"
    assert json.loads((runs / "synthetic_5w1s_seed0.json").read_text())["compiled_sampler"] is False
    caption = next(ln for ln in (tmp_path / "r/tcomp_smoke.tex").read_text().splitlines() if "caption" in ln)
    assert "Latency: the adaptation's thread CPU time, per query sample." in caption and "--compile" not in caption
    capsys.readouterr()
    assert grid_main(grid, base + ["--compile"]) == 2
    err = capsys.readouterr().err
    assert "timed without the compiled sampler" in err and "Traceback" not in err
    assert sorted(p.name for p in runs.iterdir()) == ["synthetic_5w1s_seed0.json"]   # seed 1 not run


def test_set_overrides_label_rows_and_table(tmp_path, capsys):
    grid = Grid("tset", methods=["ref-centroid"], datasets=["synthetic"], settings=[(5, 1)], seeds=(0,))
    base = ["--profile", "smoke", "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--no-progress"]
    assert grid_main(grid, base) == 0
    assert grid_main(grid, base + ["--set", "body_width=8", "body_epochs=1"]) == 0
    plain = json.loads((tmp_path / "r/runs/tset/smoke/ref-centroid/synthetic_5w1s_seed0.json").read_text())
    tagged = json.loads((tmp_path / "r/runs/tset/smoke/ref-centroid[body_epochs1-body_width8]/"
                         "synthetic_5w1s_seed0.json").read_text())
    assert plain["settings"]["body_width"] == 16 and tagged["settings"]["body_width"] == 8
    assert tagged["settings"]["body_epochs"] == 1
    assert "ref-centroid[body_epochs1-body_width8]" in (tmp_path / "r/tset_smoke_body_epochs1-body_width8.csv").read_text()
    assert "[" not in (tmp_path / "r/tset_smoke.csv").read_text()      # the plain table keeps its own rows
    other = Grid("tset2", methods=["ref-centroid"], datasets=["synthetic"], settings=[(5, 1)], seeds=(0,))
    assert grid_main(other, base + ["--set", "body_width=8", "body_epochs=1"]) == 0
    twin = json.loads((tmp_path / "r/runs/tset2/smoke/ref-centroid[body_epochs1-body_width8]/"
                       "synthetic_5w1s_seed0.json").read_text())
    assert twin["copied_from"].startswith("runs/tset/") and twin["acc"] == tagged["acc"]
    capsys.readouterr()
    assert grid_main(grid, base + ["--set", "bogus=1"]) == 2
    assert "unknown setting 'bogus'" in capsys.readouterr().err


def test_sweep_wait_counts_a_task_gone_from_the_queue_as_cancelled(monkeypatch):
    """A SLURM array task cancelled while pending: submitit keeps the PENDING it last read for the array's
    range (or UNKNOWN), never an end state; out of the queue for three polls, it is reported cancelled."""
    from benchmark import sweep

    class Job:
        def __init__(self, job_id, state, result=None):
            self.job_id, self.state, self._result = job_id, state, result

        def done(self):
            return self.state == "COMPLETED"

        def result(self):
            return self._result
    monkeypatch.setattr(sweep, "_queued", lambda jobs: set())
    out = sweep._wait([Job("9_0", "COMPLETED", "ok"), Job("9_3", "PENDING"), Job("9_4", "UNKNOWN")], 0.0, slurm=True)
    assert out[0] == "ok" and all(isinstance(e, RuntimeError) and "cancelled" in str(e) for e in out[1:])
    monkeypatch.setattr(sweep, "_queued", lambda jobs: {"9_3"})              # still queued: waited for, not dropped
    calls = []
    running = Job("9_3", "PENDING")
    real_done = running.done

    def done():
        calls.append(1)
        if len(calls) > 5:
            running.state = "COMPLETED"
        return real_done()
    running.done = done
    assert sweep._wait([running], 0.0, slurm=True) == [None] and len(calls) == 6


def test_record_names_its_body(tmp_path):
    """A record carries its body's fingerprint and the code that pretrained it (a sidecar beside the cached
    weights), the same whether the body was pretrained now or loaded; REPTILE from scratch uses no body."""
    from benchmark.runner import code_version
    a = run_cell(Cell("t", "ref-centroid", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c", tmp_path / "r")
    b = run_cell(Cell("t", "meta-baseline", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c", tmp_path / "r")
    other = run_cell(Cell("t", "ref-centroid", "synthetic", 5, 1, 1, "smoke"), None, tmp_path / "c", tmp_path / "r")
    assert a["body"]["pretrained_by"] == code_version() and len(a["body"]["fingerprint"]) == 12
    assert b["body"] == a["body"], "the loaded body is the pretrained one"
    assert other["body"]["fingerprint"] != a["body"]["fingerprint"], "another seed pretrains another body"
    sidecars = sorted((tmp_path / "c" / "bodies").glob("*.json"))
    assert len(sidecars) == 2 and json.loads(sidecars[0].read_text())["pretrained_by"] == code_version()
    r = run_cell(Cell("t", "reptile", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c", tmp_path / "r")
    assert r["body"] is None
    assert r["env"]["cpu"] and r["env"]["pillow"] and r["env"] == a["env"], "and the environment it ran in"
