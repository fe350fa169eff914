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
    """One episode: indices into a split (support, then query, class by class) and its episode labels.

    Example:
        >>> ep = Episode(torch.tensor([3, 7]), torch.tensor([4, 5, 8, 9]), torch.tensor([6, 2]), way=2, shot=1)
        >>> ep.support_labels.tolist(), ep.query_labels.tolist()
        ([0, 1], [0, 0, 1, 1])
    """

    support: torch.Tensor       # [way*shot] indices into the split
    query: torch.Tensor         # [way*query]
    classes: torch.Tensor       # [way] split class ids, in label order
    way: int
    shot: int
    query_y: torch.Tensor | None = None   # explicit query labels (a cluster episode's true classes)
    matched: bool = False       # score after the best one-to-one matching of predicted to true labels

    @property
    def support_labels(self) -> torch.Tensor:
        return torch.arange(self.way).repeat_interleave(self.shot)

    @property
    def query_labels(self) -> torch.Tensor:
        if self.query_y is not None:
            return self.query_y
        return torch.arange(self.way).repeat_interleave(len(self.query) // self.way)


def queries_per_class(settings: dict, labels: torch.Tensor, shot: int) -> int:
    """Queries per class of a meta-test episode: ``settings["test_query"]`` where set, else ``query``;
    0 means every image the smallest class has left after ``shot`` (a transfer target's whole test set).

    Example:
        >>> labels = torch.tensor([0, 0, 0, 1, 1, 1, 1])
        >>> queries_per_class({"query": 15, "test_query": 0}, labels, shot=1)
        2
        >>> queries_per_class({"query": 15}, labels, shot=1)
        15
    """
    query = settings.get("test_query", settings["query"])
    if query > 0:
        return query
    n = int(torch.bincount(torch.as_tensor(labels)).min())
    if n <= shot:
        raise ConfigError(f"test_query=0 (all images): the smallest class has {n} images, none left after "
                          f"{shot} shot(s)")
    return n - shot


def matched_accuracy(pred: torch.Tensor, labels: torch.Tensor, way: int) -> float:
    """Accuracy of ``pred`` (cluster ids) after the one-to-one map of clusters to classes that
    maximises it (the Hungarian algorithm on the confusion matrix; "clustering accuracy").

    Example:
        >>> matched_accuracy(torch.tensor([1, 1, 0, 0]), torch.tensor([0, 0, 1, 0]), 2)
        0.75
    """
    from scipy.optimize import linear_sum_assignment
    conf = torch.zeros(way, way, dtype=torch.float64)
    conf.index_put_((pred.long(), labels.long()), torch.ones(len(pred), dtype=torch.float64), accumulate=True)
    rows, cols = linear_sum_assignment(conf.numpy(), maximize=True)
    return float(conf.numpy()[rows, cols].sum() / max(1, len(pred)))


class ClusterEpisodeSampler:
    """Episodes without labels (Table 2, reading ``transfer_labels=none``): k-means with ``way``
    clusters on the split's features (standardised; k-means++ start, seeded per episode); the
    ``shot`` images nearest each centroid are the support, labelled by their cluster; every other
    image is a query, and accuracy is scored after the best one-to-one matching of clusters to the
    true classes (:func:`matched_accuracy`). No label of the split is used before scoring.

    Example:
        >>> f = torch.cat([torch.randn(20, 4) - 5, torch.randn(20, 4) + 5])
        >>> ep = ClusterEpisodeSampler(f, torch.arange(2).repeat_interleave(20), 2, 3, seed=0).episode(0)
        >>> ep.support.shape, ep.query.shape, ep.matched
        (torch.Size([6]), torch.Size([34]), True)
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, way: int, shot: int, seed: int):
        labels = torch.as_tensor(labels)
        self.check_shape(labels, way, shot)
        f = features.double()
        self.features = ((f - f.mean(0)) / f.std(0).clamp_min(1e-8)).numpy()
        self.labels, self.way, self.shot, self.seed = labels, way, shot, seed

    @staticmethod
    def check_shape(labels: torch.Tensor, way: int, shot: int) -> None:
        """The episode shape the test split allows (checked before any training): way = its classes."""
        n_classes = int(labels.max()) + 1 if len(labels) else 0
        if way != n_classes:
            raise ConfigError(f"transfer_labels=none clusters the whole test set into `way` groups: way must be "
                              f"its number of classes ({n_classes}), got {way}")
        if len(labels) <= way * shot:
            raise ConfigError(f"transfer_labels=none: {len(labels)} images leave no query after {way}x{shot} "
                              f"support images")

    def episode(self, i: int) -> Episode:
        import numpy as np
        from scipy.cluster.vq import kmeans2
        rng = np.random.default_rng(derive_seed(self.seed, "cluster-episode", i))
        centroids, _ = kmeans2(self.features, self.way, iter=20, minit="++", seed=rng)
        dist = torch.cdist(torch.from_numpy(centroids), torch.from_numpy(self.features))     # [way, N]
        taken = torch.zeros(len(self.labels), dtype=torch.bool)
        support = []
        for c in range(self.way):
            order = torch.argsort(dist[c], stable=True)
            picks = order[~taken[order]][: self.shot]
            taken[picks] = True
            support.append(picks)
        query = torch.nonzero(~taken).flatten()
        return Episode(torch.cat(support), query, torch.arange(self.way), self.way, self.shot,
                       query_y=self.labels[query], matched=True)

    def episodes(self, n: int, start: int = 0) -> list:
        return [self.episode(i) for i in range(start, start + n)]


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
