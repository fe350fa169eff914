"""One way to write a file: to a temp file beside it, then an atomic rename, so a killed run
leaves no half file. The temp file is created private (``mkstemp``), so before the rename it
gets the mode a plain ``open()`` would give (0666 less the umask): records, tables, caches and
checkpoints in a shared results or cache folder stay readable by colleagues.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a" / "x.txt"
    >>> atomic_write(p, lambda tmp: pathlib.Path(tmp).write_text("hi"))
    >>> p.read_text()
    'hi'
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path | str, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` and rename the result onto ``path`` (parents created).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "x.txt"
        >>> atomic_write(path, lambda tmp: 1 / 0)               # a write that fails half-way
        Traceback (most recent call last):
        ...
        ZeroDivisionError: division by zero
        >>> path.exists(), list(path.parent.iterdir())          # neither the file nor a temp file is left
        (False, [])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(text: str, path: Path | str) -> None:
    """Write ``text`` to ``path`` with :func:`atomic_write`.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "notes" / "a.txt"
        >>> write_text_atomic("done\\n", path)
        >>> path.read_text()
        'done\\n'
    """
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json_atomic(obj, path: Path | str) -> None:
    """Write ``obj`` to ``path`` as JSON (indented, keys sorted, a final newline) with :func:`atomic_write`.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "r.json"
        >>> write_json_atomic({"b": 1, "a": 2}, path)
        >>> path.read_text()
        '{\\n "a": 2,\\n "b": 1\\n}\\n'
    """
    write_text_atomic(json.dumps(obj, indent=1, sort_keys=True) + "\n", path)


def atomic_torch_save(obj, path: Path | str) -> None:
    """``torch.save(obj, path)`` through :func:`atomic_write`.

    Example:
        >>> import tempfile, torch
        >>> path = Path(tempfile.mkdtemp()) / "t.pt"
        >>> atomic_torch_save({"w": torch.arange(3)}, path)
        >>> torch.load(path)["w"].tolist()
        [0, 1, 2]
    """
    import torch
    atomic_write(path, lambda tmp: torch.save(obj, tmp))
