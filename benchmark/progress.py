"""Resumable training loops. While a cell meta-trains, the runner hands its method a
:class:`ProgressStore` (``ctx.store``); the long loops (:mod:`methods.trainers`) save their state
there every ``every`` iterations under one file prefix, and a rerun of the cell - after a kill, a
SLURM preemption or ``scontrol requeue`` - continues from the last saved iteration instead of
starting over, with the same numbers as an uninterrupted run (the loop restores its parameters
and optimiser state and replays the random draws it skipped).

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with resumable(d / "cell", every=2) as store:
    ...     store.save("train", {"it": 4})
    ...     store.load("train")["it"], store.resumed
    (4, {'train': 4})
    >>> list(d.iterdir())                       # removed once the block finished without an error
    []
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import torch

from .atomic import atomic_torch_save


class ProgressStore:
    """Progress files ``<prefix>.<loop>.progress.pt``; ``resumed`` maps each loop that resumed to the
    iteration it resumed at.

    Example:
        >>> import tempfile
        >>> store = ProgressStore(Path(tempfile.mkdtemp()) / "cell", every=10)
        >>> store.load("meta-train") is None                    # nothing saved yet: start from scratch
        True
        >>> store.save("meta-train", {"it": 10, "params": torch.zeros(2)})
        >>> [p.name for p in store.prefix.parent.iterdir()]
        ['cell.meta-train.progress.pt']
        >>> store.load("meta-train")["it"], store.resumed
        (10, {'meta-train': 10})
        >>> store.clear(); list(store.prefix.parent.iterdir())
        []
    """

    def __init__(self, prefix: Path | str, every: int = 25):
        self.prefix, self.every, self.resumed = Path(prefix), every, {}

    def _path(self, loop: str) -> Path:
        return Path(f"{self.prefix}.{re.sub(r'[^A-Za-z0-9_-]+', '_', loop)}.progress.pt")

    def save(self, loop: str, state: dict) -> None:
        """Atomically save ``state`` (must hold ``it``, the next iteration to run) for ``loop``."""
        atomic_torch_save(state, self._path(loop))

    def load(self, loop: str) -> dict | None:
        """The last saved state of ``loop``, or None; remembers where it resumed."""
        path = self._path(loop)
        if not path.exists():
            return None
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.resumed[loop] = int(state["it"])
        return state

    def clear(self) -> None:
        for p in self.prefix.parent.glob(self.prefix.name + ".*.progress.pt"):
            p.unlink(missing_ok=True)


@contextmanager
def resumable(prefix: Path | str | None, every: int = 25):
    """A :class:`ProgressStore` for the block (None when ``prefix`` is None: nothing is saved); its
    files are removed when the block finishes without an error.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> with resumable(d / "cell") as store:
        ...     store.save("train", {"it": 3})
        ...     raise RuntimeError("killed")
        Traceback (most recent call last):
        ...
        RuntimeError: killed
        >>> [p.name for p in d.iterdir()]                       # kept for the rerun
        ['cell.train.progress.pt']
        >>> with resumable(d / "cell") as store:
        ...     store.load("train")["it"]
        3
        >>> list(d.iterdir())                                   # the rerun finished: cleaned up
        []
        >>> with resumable(None) as store:
        ...     print(store)
        None
    """
    store = ProgressStore(prefix, every) if prefix is not None else None
    yield store
    if store is not None:                     # reached only on success: clean up
        store.clear()
