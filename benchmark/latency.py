"""A latency sitting: every row of a table's column timed in one process, by one code version, on the
same test tasks, in interleaved rounds - the even comparison that the records' latency column is not
when its rows were made by different commits or beside different loads (README, "Latency").

A cell's record times its method's adapt once, while that cell runs; a table whose rows come from
several runs (re-measured rows, cells copied from another table) compares latencies taken under
different code and load. A sitting takes each row's meta-trained model (from the cache; one missing
is meta-trained and cached first), then times every row on the same ``episodes`` test tasks, ``rounds``
times, each round in another row order, so that a drift of the machine falls on every row alike. On a
CPU with one torch thread it times the adapt's thread CPU time, else wall time. Its file
``results/latency/<table>_<profile>.json`` holds every timing; ``REPORT.md`` then judges the table's
latency claim on it (rounds paired), not on the records.

Example:
    >>> s = {"measure": "thread CPU time", "columns": [{"dataset": "omniglot", "way": 5, "shot": 1,
    ...      "rows": {"mc-di": {"rounds": [[0.5, 0.4], [0.45, 0.5]]}, "reptile": {"rounds": [[0.9], [1.0]]}}}]}
    >>> {row: round(v, 3) for row, v in row_medians(s["columns"][0]).items()}
    {'mc-di': 0.475, 'reptile': 0.95}
"""
from __future__ import annotations

import platform
import statistics
from datetime import datetime, timezone
from pathlib import Path

import torch

from .atomic import write_json_atomic
from .cells import Cell
from .config import compile_sampler, torch_threads
from .evaluate_core import thread_time_measures, time_adapt
from .runner import code_version, environment, shared_dataset, trained_method


def row_label(cell: Cell) -> str:
    """A row of a table: ``method`` or ``method[variant]``.

    Example:
        >>> row_label(Cell("table3", "ghn3", "omniglot", 5, 1, 0, "cpu", variant="no-ft"))
        'ghn3[no-ft]'
    """
    return cell.method + (f"[{cell.variant}]" if cell.variant else "")


def sitting_path(results_dir, table: str, profile: str) -> Path:
    """Where a table's sitting is kept.

    Example:
        >>> sitting_path("results", "table3", "cpu").as_posix()
        'results/latency/table3_cpu.json'
    """
    return Path(results_dir) / "latency" / f"{table}_{profile}.json"


def _columns(cells: list) -> dict:
    cols: dict = {}
    for c in cells:
        cols.setdefault((c.dataset, c.backbone, c.way, c.shot, c.seed), []).append(c)
    return cols


def time_column(cells: list, data_root, cache_dir, device="cpu", rounds: int = 5, episodes: int = 20,
                datasets: dict | None = None, log=print) -> dict:
    """Time every cell of one column (same dataset, body, way, shot and seed) on the same test tasks.

    Returns ``{"rows": {row: {"rounds": [[ms per query sample, ...] per round], "meta_trained_by",
    "meta_trained_now"}}, "same_tasks": bool, ...}``.

    Example:
        >>> cells = [Cell("demo", m, "synthetic", 5, 1, 0, "smoke") for m in ("ref-centroid", "meta-baseline")]
        >>> col = time_column(cells, None, None, rounds=2, episodes=3, log=lambda *a: None)
        >>> sorted(col["rows"]), [len(r) for r in col["rows"]["ref-centroid"]["rounds"]], col["same_tasks"]
        (['meta-baseline', 'ref-centroid'], [3, 3], True)
    """
    datasets = {} if datasets is None else datasets
    built, tasks = [], None
    for c in cells:
        method, ctx, meta_s, reused = trained_method(c, data_root, cache_dir, device, datasets=datasets)
        eps = ctx.test_sampler().episodes(episodes + 1)        # the cell's own test tasks: the seed's, every row alike
        key = [e.support.tolist() for e in eps]
        tasks = key if tasks is None else tasks
        built.append((row_label(c), method, ctx, eps, key == tasks, getattr(method, "meta_trained_by", None),
                      not reused))
        log(f"  {row_label(c)}: {'meta-trained now' if not reused else 'from the cache'}")
    cpu = thread_time_measures(torch.device(device))
    rows = {label: {"rounds": [], "meta_trained_by": by, "meta_trained_now": now}
            for label, _, _, _, _, by, now in built}
    for r in range(rounds):
        order = built[r % len(built):] + built[:r % len(built)]      # each round starts at another row
        for label, method, ctx, eps, _, _, _ in order:
            wall, thread, _ = time_adapt(method, ctx, eps)
            rows[label]["rounds"].append([round(1000 * t, 5) for t in (thread if cpu else wall)])
    return {"rows": rows, "same_tasks": all(b[4] for b in built), "measure": "thread CPU time" if cpu else "wall time"}


def run_sitting(cells: list, data_root, cache_dir, results_dir, table: str, profile: str, device="cpu",
                rounds: int = 5, episodes: int = 20, log=print) -> Path:
    """Time every column of ``cells`` (:func:`time_column`, one torch thread) and write the sitting
    atomically to :func:`sitting_path`; returns the path.

    Example:
        >>> import tempfile
        >>> cells = [Cell("demo", m, "synthetic", 5, 1, 0, "smoke") for m in ("ref-centroid", "meta-baseline")]
        >>> p = run_sitting(cells, None, None, tempfile.mkdtemp(), "demo", "smoke", rounds=2, episodes=2,
        ...                 log=lambda *a: None)
        >>> s = load_sitting(p.parent.parent, "demo", "smoke"); s["rounds"], len(s["columns"])
        (2, 1)
    """
    out = {"table": table, "profile": profile, "code_version": code_version(), "torch": torch.__version__,
           "env": environment(), "device": str(device), "host": platform.node(), "threads": 1,
           "compiled_sampler": compile_sampler(), "rounds": rounds, "episodes": episodes,
           "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "columns": []}
    datasets: dict = {}
    with torch_threads(1):
        for (dataset, body, way, shot, seed), col_cells in _columns(cells).items():
            log(f"{table} {dataset} ({way},{shot}) {body} seed {seed}: {len(col_cells)} rows")
            col = time_column(col_cells, data_root, cache_dir, device, rounds, episodes, datasets, log)
            out["measure"] = col.pop("measure")
            out["columns"].append({"dataset": dataset, "backbone": body, "way": way, "shot": shot, "seed": seed,
                                   **col})
            for row, med in row_medians(out["columns"][-1]).items():
                log(f"    {row}: {med:.3f} ms/sample")
    out["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    path = sitting_path(results_dir, table, profile)
    write_json_atomic(out, path)
    return path


def load_sitting(results_dir, table: str, profile: str) -> dict | None:
    """The table's sitting, or None.

    Example:
        >>> import tempfile
        >>> load_sitting(tempfile.mkdtemp(), "table3", "cpu") is None
        True
    """
    import json
    p = sitting_path(results_dir, table, profile)
    return json.loads(p.read_text()) if p.exists() else None


def row_medians(column: dict) -> dict:
    """Each row's median ms per query sample over all its rounds' tasks.

    Example:
        >>> row_medians({"rows": {"reptile": {"rounds": [[1.0, 3.0], [2.0]]}}})
        {'reptile': 2.0}
    """
    return {row: statistics.median(t for rnd in v["rounds"] for t in rnd) for row, v in column["rows"].items()}


def round_values(column: dict, row: str) -> tuple:
    """``({round: median ms}, {round: [ms per task]})`` of one row, the shape of
    :func:`benchmark.claims.paired_difference`'s seeds and episodes (rounds pair as seeds do).

    Example:
        >>> round_values({"rows": {"mc-di": {"rounds": [[1.0, 3.0], [2.0, 2.0]]}}}, "mc-di")
        ({0: 2.0, 1: 2.0}, {0: [1.0, 3.0], 1: [2.0, 2.0]})
    """
    rounds = column["rows"][row]["rounds"]
    return ({i: statistics.median(r) for i, r in enumerate(rounds)}, dict(enumerate(rounds)))
