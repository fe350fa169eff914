"""What a method sees of a cell: the dataset splits, the cached body, features,
episode samplers, the profile's settings, the seed and the device.

Example:
    >>> from benchmark.cells import Cell
    >>> ctx = Context.build(Cell("t", "reptile", "synthetic", 5, 1, 0, "smoke"), data_root=None, cache_dir=None)
    >>> ctx.train_sampler(query=2).episode(0).support.shape
    torch.Size([5])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from .body import compute_features, get_body
from .cells import Cell
from .config import check_settings, profile_settings
from .data import ClusterEpisodeSampler, EpisodeSampler, load_for_settings, queries_per_class
from .seeding import derive_seed
from .timing import stage


def _cell_field(name: str) -> property:
    return property(lambda self: getattr(self.cell, name), doc=f"``self.cell.{name}``")


class CellFields:
    """Shorthands for the fields of ``self.cell`` (image and text contexts alike).

    Example:
        >>> class Demo(CellFields):
        ...     cell = Cell("table3", "reptile", "omniglot", 5, 1, 3, "cpu")
        >>> Demo().way, Demo().shot, Demo().seed, Demo().profile
        (5, 1, 3, 'cpu')
    """

    way = _cell_field("way")
    shot = _cell_field("shot")
    seed = _cell_field("seed")
    profile = _cell_field("profile")


@dataclass
class Context(CellFields):
    """What a method sees of an image cell (module docstring); made by :meth:`Context.build`.

    Example:
        >>> ctx = Context.build(Cell("t", "reptile", "synthetic", 5, 1, 0, "smoke"), data_root=None, cache_dir=None)
        >>> ctx.images("train", torch.arange(3)).shape, ctx.settings["query"]
        (torch.Size([3, 1, 16, 16]), 15)
        >>> ctx.test_sampler().episode(0).query.shape                    # 5 ways x 15 queries
        torch.Size([75])
    """

    cell: Cell
    dataset: object                 # FewShotDataset
    settings: dict
    device: torch.device
    cache_dir: Path | None
    progress: bool = False
    _features: dict = field(default_factory=dict)
    store: object = None            # benchmark.progress.ProgressStore while the runner meta-trains

    @classmethod
    def build(cls, cell: Cell, data_root, cache_dir, device="cpu", progress=False, dataset=None) -> "Context":
        settings = profile_settings(cell.profile, cell.dataset)
        settings.update(cell.settings_overrides())
        check_settings(settings)
        if dataset is None:
            dataset = load_for_settings(cell.dataset, data_root, settings, cache_dir)
        return cls(cell, dataset, settings, torch.device(device), Path(cache_dir) if cache_dir else None, progress)


    def split(self, name: str):
        return self.dataset.splits[name]

    def images(self, split: str, idx: torch.Tensor) -> torch.Tensor:
        """Normalised float images of ``split`` at ``idx`` (on the context's device)."""
        return self.dataset.normalize(self.split(split).images[idx]).to(self.device)

    def train_sampler(self, way: int | None = None, shot: int | None = None, query: int | None = None,
                      split: str = "train", tag: str = "meta-train") -> EpisodeSampler:
        """Sampler of meta-training episodes (seeded by the cell seed and ``tag``)."""
        return EpisodeSampler(self.split(split).labels, way or self.way, shot or self.shot,
                              self.settings["query"] if query is None else query,
                              derive_seed(self.seed, tag, self.cell.dataset))

    def test_sampler(self):
        """Sampler of meta-test episodes: ``settings["test_query"]`` queries per class where set (0: the
        whole test set, a transfer target's), else ``query``; a transfer target under the reading
        ``transfer_labels=none`` draws label-free cluster episodes (:class:`ClusterEpisodeSampler`)."""
        s, labels = self.settings, self.split("test").labels
        seed = derive_seed(self.seed, "meta-test", self.cell.dataset)
        if s.get("transfer_labels") == "none":
            return ClusterEpisodeSampler(self.features("test"), labels, self.way, self.shot, seed)
        return EpisodeSampler(labels, self.way, self.shot, queries_per_class(s, labels, self.shot), seed)

    # -- the shared, cached body ------------------------------------------
    @cached_property
    def body(self) -> torch.nn.Module:
        s = self.settings
        return get_body(self.dataset, self.cell.backbone, s["body_width"], s["image_size"], s["body_epochs"],
                        s["body_batch"], s["body_lr"], self.seed, self.cache_dir, self.device, self.progress)

    def features(self, split: str, body: torch.nn.Module | None = None) -> torch.Tensor:
        """Features of every image of ``split`` under ``body`` (default: the shared body), memoised."""
        body = body if body is not None else self.body
        key = (split, id(body))
        if key not in self._features:
            with stage("features"):
                self._features[key] = compute_features(body, self.dataset, self.split(split).images,
                                                       device=self.device)
        return self._features[key]
