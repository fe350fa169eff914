"""Seeded N-way K-shot Q-query episode sampling over one split's classes.

An episode is index tensors into an :class:`~benchmark.data.base.ImageSplit`:
``support`` ``[way*shot]`` and ``query`` ``[way*query]``, ordered class by class,
with episode labels ``0..way-1`` in the order the classes were drawn. Episode
``i`` of a sampler depends only on (seed, i), so any subset can be regenerated.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import ConfigError
from ..seeding import derive_seed


@dataclass(frozen=True)
class Episode:
    support: torch.Tensor       # [way*shot] indices into the split
    query: torch.Tensor         # [way*query]
    classes: torch.Tensor       # [way] split class ids, in label order
    way: int
    shot: int

    @property
    def support_labels(self) -> torch.Tensor:
        return torch.arange(self.way).repeat_interleave(self.shot)

    @property
    def query_labels(self) -> torch.Tensor:
        return torch.arange(self.way).repeat_interleave(len(self.query) // self.way)


class EpisodeSampler:
    """Sample episodes from ``labels`` (the split's label tensor).

    Example:
        >>> s = EpisodeSampler(torch.arange(10).repeat_interleave(20), way=5, shot=1, query=15, seed=0)
        >>> ep = s.episode(0)
        >>> ep.support.shape, ep.query.shape, ep.support_labels.tolist()
        (torch.Size([5]), torch.Size([75]), [0, 1, 2, 3, 4])
    """

    def __init__(self, labels: torch.Tensor, way: int, shot: int, query: int, seed: int):
        if way < 1 or shot < 1 or query < 0:
            raise ConfigError(f"invalid episode shape way={way} shot={shot} query={query}: way and shot must be "
                              f">= 1, query >= 0")
        self.way, self.shot, self.query, self.seed = way, shot, query, seed
        labels = torch.as_tensor(labels)
        order = torch.argsort(labels, stable=True)
        counts = torch.bincount(labels)
        self.classes = torch.nonzero(counts >= shot + query).flatten()
        if len(self.classes) < way:
            raise ConfigError(f"only {len(self.classes)} classes of this split have >= {shot + query} images; "
                              f"a {way}-way {shot}-shot {query}-query episode needs {way}: lower the way, the "
                              f"shot or --set query=")
        starts = torch.cumsum(counts, 0) - counts
        self._order, self._starts, self._counts = order, starts, counts

    def episode(self, i: int) -> Episode:
        g = torch.Generator().manual_seed(derive_seed(self.seed, "episode", i))
        cls = self.classes[torch.randperm(len(self.classes), generator=g)[: self.way]]
        n = self.shot + self.query
        picks = []
        for c in cls.tolist():
            within = torch.randperm(int(self._counts[c]), generator=g)[:n]
            picks.append(self._order[self._starts[c] + within])
        picks = torch.stack(picks)                 # [way, shot+query]
        return Episode(picks[:, : self.shot].reshape(-1), picks[:, self.shot:].reshape(-1), cls,
                       self.way, self.shot)

    def episodes(self, n: int, start: int = 0) -> list:
        """Episodes ``start .. start+n-1``."""
        return [self.episode(i) for i in range(start, start + n)]
