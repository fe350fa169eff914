"""Where a cell's wall time goes: body pretraining, feature extraction, weight preparation
(Algorithm 1), meta-training and evaluation. Each stage is timed exclusively (a stage nested in
another - Algorithm 1 inside a method's meta-training - is not counted twice); a body, features
or prepared weights loaded from the cache are not a stage (the load time stays in the enclosing
one, or in none). The runner records the totals in every record
(``stages_s``) and ``reproduce/perf.py --table`` sums them over a whole table.

Example:
    >>> with cell_timer() as t:
    ...     with stage("meta_train"):
    ...         with stage("weight_prep"):
    ...             pass
    >>> sorted(t)
    ['meta_train', 'weight_prep']
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

STAGES = ("body", "features", "weight_prep", "meta_train", "evaluate")
_local = threading.local()


@contextmanager
def cell_timer():
    """Collect the stages run inside the block into the dict it yields (seconds, exclusive).

    Example:
        >>> with cell_timer() as totals:
        ...     with stage("evaluate"):
        ...         pass
        ...     with stage("evaluate"):                 # a stage run twice: one total
        ...         pass
        >>> list(totals), totals["evaluate"] >= 0.0
        (['evaluate'], True)
    """
    outer = getattr(_local, "state", None)
    _local.state = {"totals": {}, "stack": []}
    try:
        yield _local.state["totals"]
    finally:
        _local.state = outer


@contextmanager
def stage(name: str):
    """Time the block as ``name`` (a no-op outside :func:`cell_timer`).

    Example:
        >>> with stage("body"):                         # outside cell_timer(): nothing is recorded
        ...     pass
        >>> with cell_timer() as totals:
        ...     with stage("features"):
        ...         pass
        >>> sorted(totals)
        ['features']
    """
    state = getattr(_local, "state", None)
    if state is None:
        yield
        return
    frame = [time.perf_counter(), 0.0]                 # start, seconds spent in nested stages
    state["stack"].append(frame)
    try:
        yield
    finally:
        state["stack"].pop()
        spent = time.perf_counter() - frame[0]
        state["totals"][name] = state["totals"].get(name, 0.0) + spent - frame[1]
        if state["stack"]:
            state["stack"][-1][1] += spent
