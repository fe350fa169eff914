"""The timing that reproduce/perf.py reports: every record's stage split (benchmark/timing.py)
and its sum over a table's records. (The optimised paths' equality to the plain ones is tested
beside them: tests/test_diffusion.py, chain conditioning; tests/test_methods.py, batched_adam.)"""
import importlib
from pathlib import Path

import pytest

from benchmark.cells import Cell
from benchmark.runner import run_cell
from benchmark.timing import cell_timer, stage


def test_stages_are_exclusive_and_only_inside_a_cell():
    with stage("meta_train"):                  # outside a cell: nothing is collected, nothing fails
        pass
    with cell_timer() as t:
        with stage("meta_train"):
            with stage("weight_prep"):
                sum(range(200000))
        with stage("evaluate"):
            pass
    assert set(t) == {"meta_train", "weight_prep", "evaluate"}
    assert t["weight_prep"] > 0 and t["meta_train"] >= 0 and t["evaluate"] >= 0


def test_records_carry_the_stage_split_and_perf_sums_it(tmp_path, monkeypatch):
    rec = run_cell(Cell("t", "mc-di", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c", tmp_path / "r")
    st = rec["stages_s"]
    assert {"body", "weight_prep", "meta_train", "evaluate"} <= set(st)
    assert sum(st.values()) <= rec["wall_time_s"] + 0.01
    again = run_cell(Cell("t", "mv-di", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c", tmp_path / "r")
    assert "body" not in again["stages_s"]     # the body came from the cache (a load is not pretraining)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "reproduce"))
    perf = importlib.import_module("perf")
    split = perf.stage_split(tmp_path / "r")
    assert split["cells"] == 2 and split["without_stages"] == 0
    assert split["stages_s"]["meta_train"] == pytest.approx(st["meta_train"] + again["stages_s"]["meta_train"],
                                                           abs=2e-3)
    assert split["wall_span_s"] >= max(rec["wall_time_s"], again["wall_time_s"]) - 1
    # a cell of another table that reuses a record counts once, from its source; the sum covers every cell
    copy = run_cell(Cell("t2", "mc-di", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c", tmp_path / "r")
    assert copy.get("copied_from")
    both = perf.stage_split(tmp_path / "r")                 # the copy's source is in the folder: counted once
    assert both["cells"] == 2 and both["copied"] == 0
    assert both["cells_wall_s"] == pytest.approx(rec["wall_time_s"] + again["wall_time_s"], abs=1e-6)
    t2 = perf.stage_split(tmp_path / "r" / "runs" / "t2")    # only the copy: counted from its source
    assert t2["cells"] == 0 and t2["copied"] == 1 and t2["cells_wall_s"] == pytest.approx(rec["wall_time_s"], abs=1e-6)


def test_latency_in_thread_cpu_time_and_one_measure_per_table(tmp_path):
    """On a CPU (one thread a cell) the record also times adapt in thread CPU time; a table reports
    it only when every record has it (never a mix of CPU and wall times)."""
    from benchmark.tables import records_frame
    rec = run_cell(Cell("t", "ref-centroid", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c", tmp_path / "r")
    assert 0 < rec["latency_cpu_ms"] <= 1.5 * rec["latency_ms"] + 0.05
    old = dict(rec)
    del old["latency_cpu_ms"]                   # a record made before the CPU-time measure
    assert records_frame([rec]).attrs["latency"] == "latency_cpu_ms"
    assert records_frame([rec]).latency_ms.iloc[0] == rec["latency_cpu_ms"]
    mixed = records_frame([rec, old])
    assert mixed.attrs["latency"] == "latency_ms" and mixed.latency_ms.iloc[0] == rec["latency_ms"]


def test_a_whole_table_run_resumes_over_sittings_and_sums_their_time(tmp_path, monkeypatch):
    """perf.py (f) with --table-dir: each sitting's wall time goes to the folder's ledger and the table's
    time is their sum; a folder not started empty by perf.py (or of another table) is refused."""
    import json
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.syspath_prepend(str(repo / "reproduce"))
    perf = importlib.import_module("perf")
    script = tmp_path / "perftest.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(repo)!r})\nfrom benchmark.cli import Grid, grid_main\n"
                      "GRID = Grid('perftest', methods=['ref-centroid'], datasets=['synthetic'], settings=[(5, 1)],"
                      " seeds=(0, 1))\nraise SystemExit(grid_main(GRID))\n")
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "perf_ledger.json").write_text(json.dumps(     # a first sitting of 5 s, killed before the end
        {"table": str(script), "jobs": 1, "segments_s": [5.0], "finished": False}))
    out = perf.run_table(str(script), jobs=1, folder=folder, profile="smoke")
    ledger = json.loads((folder / "perf_ledger.json").read_text())
    assert ledger["finished"] and len(ledger["segments_s"]) == 2 and ledger["segments_s"][1] > 0
    assert out["sittings"] == 2 and out["wall_s"] == pytest.approx(5.0 + ledger["segments_s"][1])
    assert out["cells"] == 2 and out["stages_s"]["evaluate"] > 0
    again = perf.run_table(str(script), jobs=1, folder=folder, profile="smoke")    # finished: nothing reruns
    assert again["wall_s"] == out["wall_s"] and again["sittings"] == 2
    with pytest.raises(SystemExit, match="not empty"):
        perf.run_table(str(script), folder=tmp_path, profile="smoke")              # not started empty
    with pytest.raises(SystemExit, match="holds a perf run of"):
        perf.run_table("table3", folder=folder)
