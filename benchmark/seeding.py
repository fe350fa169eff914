"""Deterministic seeds: every random choice of a cell derives from its seed.

Example:
    >>> derive_seed(0, "episode", 3) == derive_seed(0, "episode", 3)
    True
"""
from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def derive_seed(seed: int, *parts) -> int:
    """A 63-bit seed from ``seed`` and labels; stable across processes (no ``hash()``)."""
    h = hashlib.sha256(repr((int(seed),) + tuple(parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") & 0x7FFFFFFFFFFFFFFF


def generator(seed: int, *parts) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded by :func:`derive_seed`."""
    return torch.Generator().manual_seed(derive_seed(seed, *parts))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch global RNGs (for code that does not take a generator)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
