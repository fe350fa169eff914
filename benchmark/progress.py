"""Resumable training loops. While a cell meta-trains, its long loops save their state every
``every`` iterations under one file prefix (set by the runner around ``meta_train()``); a
rerun of the cell - after a kill, a SLURM preemption or ``scontrol requeue`` - continues from
the last saved iteration instead of starting over, and gives the same numbers as an
uninterrupted run (the loop restores its parameters and optimiser state and replays the
random draws it skipped).

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with resumable(d / "cell", every=2):
    ...     save_progress("train", {"it": 4})
    ...     load_progress("train")["it"]
    4
    >>> load_progress("train") is None          # outside a resumable block nothing is saved or loaded
    True
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import torch

from .data.base import atomic_torch_save

_PREFIX: ContextVar = ContextVar("mcdi_progress_prefix", default=None)
_EVERY: ContextVar = ContextVar("mcdi_progress_every", default=25)
_RESUMED: ContextVar = ContextVar("mcdi_progress_resumed", default=None)


@contextmanager
def resumable(prefix: Path | None, every: int = 25):
    """Within the block, loops save/load their progress as ``<prefix>.<loop>.progress.pt``;
    the files are removed when the block finishes without an error."""
    tokens = (_PREFIX.set(prefix), _EVERY.set(every), _RESUMED.set({}))
    try:
        yield
    finally:
        _PREFIX.reset(tokens[0])
        _EVERY.reset(tokens[1])
        _RESUMED.reset(tokens[2])
    if prefix is not None:                    # reached only on success: clean up
        for p in Path(prefix).parent.glob(Path(prefix).name + ".*.progress.pt"):
            p.unlink(missing_ok=True)


def _path(loop: str) -> Path | None:
    prefix = _PREFIX.get()
    if prefix is None:
        return None
    return Path(f"{prefix}.{re.sub(r'[^A-Za-z0-9_-]+', '_', loop)}.progress.pt")


def save_every() -> int:
    return _EVERY.get()


def save_progress(loop: str, state: dict) -> None:
    """Atomically save ``state`` (must hold ``it``, the next iteration to run) for ``loop``."""
    path = _path(loop)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(state, path)


def load_progress(loop: str) -> dict | None:
    """The last saved state of ``loop`` in this block, or None; remembers where it resumed."""
    path = _path(loop)
    if path is None or not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    resumed = _RESUMED.get()
    if resumed is not None:
        resumed[loop] = int(state["it"])
    return state


def resumed_at() -> dict:
    """``{loop: iteration}`` for the loops of the current block that resumed from saved progress."""
    return dict(_RESUMED.get() or {})
