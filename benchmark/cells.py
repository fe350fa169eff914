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

# options whose keys are pipeline settings (profile_settings) rather than method hyper-parameters
PIPELINE_KEYS = {"image_size", "body_width", "body_epochs", "body_batch", "body_lr", "test_episodes",
                 "latency_episodes", "query", "selection", "val_checkpoints", "val_episodes"}


@dataclass(frozen=True)
class Cell:
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
        return f"{self.table}/{self.profile}/{self.row}/{self.dataset} {self.setting} seed {self.seed}"


def make_options(**kw) -> tuple:
    """Hashable, order-independent options for :class:`Cell`."""
    return tuple(sorted(kw.items()))


def load_record(path: Path) -> dict:
    with open(path) as fh:
        return json.load(fh)
