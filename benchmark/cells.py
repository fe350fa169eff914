"""A cell: one (table, method, dataset, way, shot, seed, profile) run, and its record path.

Example:
    >>> c = Cell("table3", "reptile", "omniglot", 5, 1, 0, "cpu")
    >>> c.record_path("results").as_posix()
    'results/runs/table3/cpu/reptile/omniglot_5w1s_seed0.json'
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import SETTING_RULES

# options whose keys are pipeline settings (profile_settings) rather than method hyper-parameters
PIPELINE_KEYS = set(SETTING_RULES)


@dataclass(frozen=True)
class Cell:
    """One run of a table's grid (module docstring); ``options`` are hyper-parameter and pipeline-setting
    overrides (:func:`make_options`).

    Example:
        >>> c = Cell("table3", "mc-di", "omniglot", 5, 1, 0, "cpu", options=make_options(query=5, lr=0.1))
        >>> str(c)
        'table3/cpu/mc-di/omniglot (5,1) seed 0'
        >>> c.settings_overrides(), c.method_options()
        ({'query': 5}, {'lr': 0.1})
        >>> Cell.from_json(c.to_json()) == c
        True
    """

    table: str
    method: str
    dataset: str
    way: int
    shot: int
    seed: int
    profile: str
    backbone: str = "conv4"
    options: tuple = field(default=())      # sorted (key, value) pairs: hyper-parameter overrides
    variant: str = ""                       # row label suffix when options differ (e.g. an ablation)

    @property
    def setting(self) -> str:
        return f"({self.way},{self.shot})"

    @property
    def row(self) -> str:
        return self.method + (f"[{self.variant}]" if self.variant else "")

    def options_dict(self) -> dict:
        return dict(self.options)

    def method_options(self) -> dict:
        return {k: v for k, v in self.options if k not in PIPELINE_KEYS}

    def settings_overrides(self) -> dict:
        return {k: v for k, v in self.options if k in PIPELINE_KEYS}

    def record_path(self, results_dir: Path | str) -> Path:
        name = f"{self.dataset}_{self.way}w{self.shot}s_seed{self.seed}"
        if self.backbone != "conv4":
            name += f"_{self.backbone}"
        return Path(results_dir) / "runs" / self.table / self.profile / self.row / f"{name}.json"

    def to_json(self) -> dict:
        d = asdict(self)
        d["options"] = self.options_dict()
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Cell":
        d = dict(d)
        d["options"] = tuple(sorted((d.get("options") or {}).items()))
        return cls(**d)

    def __str__(self) -> str:
        """The cell's name in logs, ``--status`` and a sweep's state: unique within a grid, so a body other
        than the default Conv4 (Tables 6-7) is part of it.

        Example:
            >>> str(Cell("table6", "mc-di", "omniglot", 5, 1, 0, "cpu", backbone="swin"))
            'table6/cpu/mc-di/omniglot (5,1) seed 0 swin'
        """
        body = "" if self.backbone == "conv4" else f" {self.backbone}"
        return f"{self.table}/{self.profile}/{self.row}/{self.dataset} {self.setting} seed {self.seed}{body}"


def make_options(**kw) -> tuple:
    """Hashable, order-independent options for :class:`Cell`.

    Example:
        >>> make_options(shot=1, lr=0.1)
        (('lr', 0.1), ('shot', 1))
        >>> make_options(lr=0.1, shot=1) == make_options(shot=1, lr=0.1)
        True
    """
    return tuple(sorted(kw.items()))


class CorruptRecordError(ValueError):
    """A record file that cannot be read (truncated, edited by hand, not JSON).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.json"; _ = p.write_text('{"cell": {}}')
        >>> try:
        ...     load_record(p)
        ... except ValueError as exc:                           # a CorruptRecordError is a ValueError
        ...     print(type(exc).__name__, "(no cell or accuracy)" in str(exc))
        CorruptRecordError True
    """


def load_record(path: Path) -> dict:
    """One cell record; a truncated or corrupt file is one clear error naming it.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.json"; _ = p.write_text('{"acc": 9')
        >>> load_record(p)                      # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        benchmark.cells.CorruptRecordError: ...r.json is not a readable record (...); delete it and run its cell again
    """
    try:
        with open(path) as fh:
            rec = json.load(fh)
        if not isinstance(rec, dict) or "cell" not in rec or "acc" not in rec:
            raise ValueError("no cell or accuracy")
        return rec
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise CorruptRecordError(f"{path} is not a readable record ({exc}); delete it and run its cell again") \
            from None
