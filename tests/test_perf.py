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
