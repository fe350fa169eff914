"""Sweeps through submitit: a grid's unfinished cells go out as one job array, on submitit's
local executor or on SLURM (``AutoExecutor``), and the table is built from the records the
jobs write - the same records, written the same atomic way, as an inline run.

- Finished cells (a record exists) are never resubmitted; a rerun of the same command submits
  only what is missing (a cancelled, failed or timed-out cell).
- One array task runs one *training group* (cells that share a meta-training, e.g. REPTILE's
  (5,1) and (5,5)); the shared bodies the pending cells need are pretrained first, by a
  smaller array, so that parallel tasks never train the same body twice.
- Jobs are checkpointable (``submitit.helpers.Checkpointable``): on preemption or a time limit
  submitit requeues them; a requeued (or ``scontrol requeue``-d) task reruns its cells, whose
  meta-training continues from its saved progress (:mod:`benchmark.progress`).
- Each submission gets a fresh submitit folder (a new cluster restarts job ids at 1, and a
  reused folder would hand back a stale ``<id>_0_result.pkl``); the sweep's state file
  ``<results>/sweeps/<table>_<profile>.json`` lists every submission's job ids and cells, which
  ``status`` reads to show pending / running / done / failed cells.

Example:
    >>> opts = ExecutorOptions.parse("slurm", slurm_extra=["qos=normal", "constraint=a100"])
    >>> opts.slurm_extra
    {'qos': 'normal', 'constraint': 'a100'}
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import submitit

from .cells import load_record
from .config import ConfigError, compile_sampler
from .runner import (_body_job, _training_group, _uses_body, cell_running_here, run_cell, same_cell_elsewhere,
                     split_available, write_json_atomic)

log = logging.getLogger(__name__)

EXECUTORS = ("inline", "local", "slurm")


@dataclass
class ExecutorOptions:
    """Where a sweep's job arrays run (``kind``: one of :data:`EXECUTORS`) and each task's resources.

    Example:
        >>> opts = ExecutorOptions.parse("local", timeout_min=30, mem_gb=None)     # None: the default
        >>> opts.kind, opts.timeout_min, opts.mem_gb, opts.cpus_per_task
        ('local', 30, None, 1)
    """
    kind: str = "inline"
    partition: str | None = None
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem_gb: float | None = None
    timeout_min: int = 120
    array_parallelism: int = 64
    slurm_extra: dict = field(default_factory=dict)
    poll_s: float = 2.0

    @classmethod
    def parse(cls, kind: str, slurm_extra=(), **kw) -> "ExecutorOptions":
        """Options from the command line; ``slurm_extra`` is a list of ``key=value`` strings."""
        if kind not in EXECUTORS:
            raise ConfigError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
        extra = {}
        for item in slurm_extra or ():
            if "=" not in item:
                raise ConfigError(f"--slurm-extra takes key=value, got {item!r}")
            k, v = item.split("=", 1)
            extra[k.strip()] = v.strip()
        return cls(kind=kind, slurm_extra=extra, **{k: v for k, v in kw.items() if v is not None})

    def executor(self, folder: Path):
        ex = submitit.AutoExecutor(folder=folder, cluster="local" if self.kind == "local" else "slurm")
        params = dict(timeout_min=self.timeout_min, cpus_per_task=self.cpus_per_task, name="mcdi-bench")
        if self.gpus_per_node:
            params["gpus_per_node"] = self.gpus_per_node
        if self.mem_gb:
            params["mem_gb"] = self.mem_gb
        if self.kind == "slurm":
            params["slurm_array_parallelism"] = self.array_parallelism
            if self.partition:
                params["slurm_partition"] = self.partition
            params["slurm_additional_parameters"] = {"requeue": True, **self.slurm_extra}
        ex.update_parameters(**params)
        return ex


class CellsJob(submitit.helpers.Checkpointable):
    """One array task: run a group of cells in order (each writes its record). On preemption or
    a time limit submitit requeues it with the same arguments; the meta-training resumes.

    Example:
        >>> job = CellsJob()
        >>> job.checkpoint(["cells"], "data", "cache", "results", "cpu", False).args   # what a requeue reruns
        (['cells'], 'data', 'cache', 'results', 'cpu', False)
    """

    def __call__(self, cells, data_root, cache_dir, results_dir, device, force, compiled=False):
        datasets: dict = {}                    # threads: run_cell uses $MCDI_THREADS (default 1)
        os.environ["MCDI_COMPILE"] = "1" if compiled else "0"   # --compile, whatever the node's environment
        return [(str(c), run_cell(c, data_root, cache_dir, results_dir, device, force, False, datasets)["acc"])
                for c in cells]


def state_path(results_dir, table: str, profile: str) -> Path:
    """The sweep's state file: every submission's job ids and cells of ``table`` under ``profile``.

    Example:
        >>> state_path("results", "table3", "cpu").as_posix()
        'results/sweeps/table3_cpu.json'
    """
    return Path(results_dir) / "sweeps" / f"{table}_{profile}.json"


def _load_state(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"submissions": []}


def _queued(jobs) -> set:
    """Ids of the tasks SLURM still has in its queue (array tasks expanded)."""
    arrays = sorted({j.job_id.split("_")[0] for j in jobs})
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)], capture_output=True, text=True)
    return set(out.stdout.split()) if out.returncode == 0 else set()


_NOT_STARTED = ("UNKNOWN", "PENDING", "REQUEUED", "CONFIGURING")   # out of the queue in one of these: never ran


def _wait(jobs, poll_s: float, slurm: bool = False) -> list:
    """Results or exceptions of submitit jobs, in order (polling, so sacct-based states are seen).
    A SLURM array task cancelled while pending never gets an accounting record of its own, so
    submitit would wait for it forever, reporting it UNKNOWN - or PENDING, the state it last read
    for the array's pending range ``<id>_[1-3]`` before the cancel: a task out of the queue whose
    state is one of these for three polls in a row counts as cancelled."""
    out = [None] * len(jobs)
    left = set(range(len(jobs)))
    gone = dict.fromkeys(range(len(jobs)), 0)
    while left:
        queued = _queued([jobs[i] for i in left]) if slurm else set()
        for i in sorted(left):
            if jobs[i].done():
                try:
                    out[i] = jobs[i].result()
                except Exception as exc:        # noqa: BLE001 - a failed/cancelled task is reported, not raised
                    out[i] = exc
                left.discard(i)
            elif slurm and jobs[i].job_id not in queued and jobs[i].state.split()[0] in _NOT_STARTED:
                gone[i] += 1
                if gone[i] >= 3:
                    out[i] = RuntimeError(f"task {jobs[i].job_id} left the queue without running (cancelled)")
                    left.discard(i)
            else:
                gone[i] = 0
        if left:
            time.sleep(poll_s)
    return out


def submit_grid(cells: list, data_root, cache_dir, results_dir, device: str, force: bool, opts: ExecutorOptions,
                table: str, profile: str) -> dict:
    """Run ``cells`` as job arrays; returns ``{"done", "missing_data", "failed", "submitted"}``
    (``failed``: ``[(cells, error)]`` for tasks that ended without their records).

    Example:
        >>> import tempfile
        >>> from benchmark.cells import Cell
        >>> res = tempfile.mkdtemp(); c = Cell("demo", "reptile", "synthetic", 5, 1, 0, "smoke")
        >>> write_json_atomic({"cell": c.to_json(), "acc": 91.5}, c.record_path(res))
        >>> out = submit_grid([c], None, None, res, "cpu", False, ExecutorOptions.parse("local"), "demo", "smoke")
        >>> out["submitted"], [r["acc"] for r in out["done"]]                # finished: not resubmitted
        (0, [91.5])
    """
    todo, missing = split_available(cells, data_root)
    pending = [c for c in todo if force or not c.record_path(results_dir).exists()]
    groups: dict = {}
    for c in pending:
        groups.setdefault(_training_group(c), []).append(c)
    groups = list(groups.values())
    failed = []
    if groups:
        sub_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        folder = Path(results_dir) / "sweeps" / "submitit" / sub_id          # fresh per submission
        ex = opts.executor(folder)
        bodies = {(c.dataset, c.seed, c.profile, c.backbone, c.options): c for c in pending if _uses_body(c)}
        if bodies:                                                         # shared bodies first, once each
            args = [(c, data_root, cache_dir, device) for c in bodies.values()]
            jobs = ex.map_array(_body_job, args)
            for a, r in zip(args, _wait(jobs, opts.poll_s, opts.kind == "slurm")):
                if isinstance(r, Exception):
                    raise RuntimeError(f"pretraining the body for {a[0]} failed: {r}") from r
        n = len(groups)
        jobs = ex.map_array(CellsJob(), groups, [data_root] * n, [cache_dir] * n, [results_dir] * n,
                            [device] * n, [force] * n, [compile_sampler()] * n)
        spath = state_path(results_dir, table, profile)
        state = _load_state(spath)
        state["submissions"].append({"id": sub_id, "executor": opts.kind, "folder": str(folder),
                                     "jobs": {j.job_id: [str(c) for c in g] for j, g in zip(jobs, groups)},
                                     "cells": {str(c): j.job_id for j, g in zip(jobs, groups) for c in g}})
        write_json_atomic(state, spath)
        print(f"submitted {n} task(s) ({len(pending)} cells) as {opts.kind} job array(s); status: "
              f"--status; submitit logs in {folder}", flush=True)
        for g, r in zip(groups, _wait(jobs, opts.poll_s, opts.kind == "slurm")):
            if isinstance(r, Exception) or any(not c.record_path(results_dir).exists() for c in g):
                failed.append(([str(c) for c in g], str(r).splitlines()[0] if isinstance(r, Exception) else "no record"))
    for g, err in failed:
        log.warning("task of %s ended without its records: %s (rerun the same command to resubmit it)",
                    ", ".join(g), err)
    done = [load_record(c.record_path(results_dir)) for c in todo if c.record_path(results_dir).exists()]
    return {"done": done, "missing_data": missing, "failed": failed, "submitted": len(groups)}


SLURM_STATES = {"PENDING": "pending", "REQUEUED": "pending", "CONFIGURING": "pending", "RESIZING": "pending",
                "RUNNING": "running", "COMPLETING": "running", "SUSPENDED": "running"}


def sweep_status(cells: list, results_dir, table: str, profile: str) -> list:
    """``[(cell, status, job_id)]``: done (record written), pending, running, failed (the job
    ended without the record: cancelled, failed, timed out) or not submitted; a cell that a process
    on this machine is computing now (an inline run, ``--jobs N``: it holds the cell's lock) is
    ``running (lock held)``; one not submitted whose computation has a record under another table or
    row (:func:`~benchmark.runner.same_cell_elsewhere`) is ``copy ready``: the next run copies it.

    Example:
        >>> import tempfile
        >>> from benchmark.cells import Cell
        >>> sweep_status([Cell("table3", "reptile", "omniglot", 5, 1, 0, "cpu")], tempfile.mkdtemp(), "table3", "cpu")
        [('table3/cpu/reptile/omniglot (5,1) seed 0', 'not submitted', '')]
    """
    state = _load_state(state_path(results_dir, table, profile))
    where = {}
    for sub in state["submissions"]:                                       # the latest submission wins
        for cell, job_id in sub["cells"].items():
            where[cell] = (sub, job_id)
    rows = []
    for c in cells:
        if c.record_path(results_dir).exists():
            rows.append((str(c), "done", where.get(str(c), (None, ""))[1]))
            continue
        if cell_running_here(c, results_dir):
            rows.append((str(c), "running (lock held)", where.get(str(c), (None, ""))[1]))
            continue
        if str(c) not in where:                              # a twin's record: the next run copies it
            rows.append((str(c), "copy ready" if same_cell_elsewhere(c, results_dir) else "not submitted", ""))
            continue
        sub, job_id = where[str(c)]
        if sub["executor"] != "slurm":
            rows.append((str(c), "submitted (local executor: see its logs)", job_id))
            continue
        job = submitit.SlurmJob(folder=sub["folder"], job_id=job_id)
        st = job.state.split()[0].rstrip("+")
        if st == "UNKNOWN":                                   # no accounting record: queued, or cancelled unstarted
            st = "PENDING" if job_id in _queued([job]) else "CANCELLED"
        rows.append((str(c), SLURM_STATES.get(st, "failed"), job_id))
    return rows


def print_status(rows: list) -> None:
    """Print the counts of :func:`sweep_status`'s rows by status, then one line per cell.

    Example:
        >>> print_status([("table3/cpu/reptile/omniglot (5,1) seed 0", "done", "4211_0"),
        ...               ("table3/cpu/reptile/omniglot (5,1) seed 1", "pending", "4211_1")])
        done: 1  pending: 1
          done           4211_0       table3/cpu/reptile/omniglot (5,1) seed 0
          pending        4211_1       table3/cpu/reptile/omniglot (5,1) seed 1
    """
    from collections import Counter
    counts = Counter(s.split()[0] for _, s, _ in rows)
    print("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    for cell, status, job in rows:
        print(f"  {status:14s} {job:12s} {cell}")

