"""The interface every method implements.

A method is constructed on a :class:`~benchmark.context.Context` (dataset, cached
body, profile, seed, device) and then:

- ``meta_train()``: learns on the meta-train split only;
- ``adapt(support_x, support_y)``: produces the adapted model for one new task
  (generation, a closed-form rule or gradient fine-tuning) - this is what the
  latency measures;
- ``predict(adapted, query_x)``: logits for query images;
- ``episode_accuracies(split, episodes)``: accuracy per episode; the default
  loops over adapt/predict, methods may override it with a batched version that
  gives the same numbers.

Hyper-parameters: ``DEFAULTS[profile]`` (optionally refined per dataset by
``DATASET_DEFAULTS[dataset][profile]``), overridden by the cell's options.
"""
from __future__ import annotations

from typing import Any

import torch

from benchmark.config import ConfigError


class WayMismatchError(ValueError):
    """An episode's number of classes differs from the way a fixed-way method was trained for.

    Example:
        >>> issubclass(WayMismatchError, ValueError)
        True
    """


class Method:
    """The base class of every registered method (the interface above); ``hp`` holds the cell's
    resolved hyper-parameters (:meth:`hyper_parameters`).

    Example:
        >>> class M(Method): name, DEFAULTS = "m", {"cpu": {"lr": 0.1, "steps": 5}}
        >>> M.hyper_parameters("cpu", "omniglot", {"steps": 10})
        {'lr': 0.1, 'steps': 10}
        >>> M.hyper_parameters("cpu", "omniglot", {"step": 10})
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: m: unknown option(s) ['step']; known: ['lr', 'steps']
    """

    name: str = ""
    paper: str = ""
    DEFAULTS: dict = {}             # profile -> hyper-parameters
    DATASET_DEFAULTS: dict = {}     # dataset -> profile -> hyper-parameters
    WAY_DEFAULTS: dict = {}         # way -> profile -> hyper-parameters (a method whose paper tunes per way)
    SHOT_INDEPENDENT_TRAINING = False  # True: meta_train() does not depend on the test shot
    TASK_INDEPENDENT_TRAINING = False  # True: meta_train() reads nothing of the cell's dataset (Table 5's
    #                                    generators learn from the source tasks only)
    TEST_TIME_HP: tuple = ()           # hyper-parameters read only after meta-training: one meta-training
    #                                    serves every value (e.g. Mc-Di [+ft]'s fine-tuning after generation)
    USES_BODY = False                  # True: uses the shared pretrained body (ctx.body)
    selector = None                    # benchmark.selection.Selector, set by the runner before meta_train()
    ANY_WAY = False                    # True: adapts to an episode of any way; False: only the trained way
    REFERENCE = False                  # True: a reference row (not a method of the papers)
    MODALITY = "images"                # "images": few-shot episodes; "text": a GLUE task (Table 5)

    @classmethod
    def uses_body_with(cls, options: dict) -> bool:
        """Whether a cell with these method options needs the shared pretrained body."""
        return cls.USES_BODY

    @property
    def uses_body(self) -> bool:
        return type(self).uses_body_with(self.hp)

    def check_way(self, way: int) -> None:
        """Refuse an episode whose way differs from the one the method was meta-trained for (unless
        the method handles any way), with one message naming both.

        Example:
            >>> class M(Method): DEFAULTS = {"smoke": {}}
            >>> from types import SimpleNamespace as NS
            >>> m = M(NS(profile="smoke", cell=NS(dataset="d", way=5)))
            >>> m.check_way(20)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            methods.base.WayMismatchError: : meta-trained for 5-way tasks, but this episode has 20 classes; ...
        """
        trained = self.ctx.cell.way
        if not self.ANY_WAY and way != trained:
            raise WayMismatchError(f"{self.name}: meta-trained for {trained}-way tasks, but this episode has {way} "
                                   f"classes; export a checkpoint trained with --way {way}")

    def __init__(self, ctx, **options):
        self.ctx = ctx
        self.hp = self.hyper_parameters(ctx.profile, ctx.cell.dataset, options, ctx.cell.way)
        self.validate()

    @classmethod
    def hyper_parameters(cls, profile: str, dataset: str, options: dict, way: int = 5) -> dict:
        """``DEFAULTS[profile]``, refined by ``WAY_DEFAULTS[way][profile]`` and then
        ``DATASET_DEFAULTS[dataset][profile]``, overridden by ``options`` (an unknown option is a
        :class:`ConfigError`)."""
        hp = dict(cls.DEFAULTS.get(profile, {}))
        hp.update(cls.WAY_DEFAULTS.get(way, {}).get(profile, {}))
        source = transfer_source(profile, dataset)
        if source:                                  # a transfer target meta-trains on its source (Table 2)
            hp.update(cls.DATASET_DEFAULTS.get(source, {}).get(profile, {}))
            hp.update(cls.DATASET_DEFAULTS.get("transfer", {}).get(profile, {}))
        hp.update(cls.DATASET_DEFAULTS.get(dataset, {}).get(profile, {}))
        unknown = set(options) - set(hp)
        if unknown:
            raise ConfigError(f"{cls.name}: unknown option(s) {sorted(unknown)}; known: {sorted(hp)}")
        hp.update(options)
        return hp

    def validate(self) -> None:
        """Raise :class:`ConfigError` on inconsistent hyper-parameters (before any work)."""

    @classmethod
    def same_computation(cls, hp: dict) -> tuple | None:
        """``(method, hparams)`` of another registered row that computes exactly what this row computes
        with ``hp`` - the same code, random draws and numbers, only the row's name (and labels) differ - or
        None. The runner then copies that row's finished record (``computed_as`` names it) instead of
        computing the cell again (:func:`benchmark.runner.same_cell_elsewhere`); a test must show the two
        give the same record.

        Example:
            >>> Method.same_computation({"lr": 0.1}) is None
            True
        """
        return None

    # -- the interface ------------------------------------------------------
    def meta_train(self) -> None:
        raise NotImplementedError

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor) -> Any:
        raise NotImplementedError

    def predict(self, adapted: Any, query_x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def episode_accuracies(self, split: str, episodes: list) -> torch.Tensor:
        accs = []
        for ep in episodes:
            adapted = self.adapt(self.ctx.images(split, ep.support), ep.support_labels.to(self.ctx.device))
            logits = self.predict(adapted, self.ctx.images(split, ep.query))
            check_logits(logits, self.name)
            accs.append(accuracies(logits.unsqueeze(0), [ep])[0])
        return torch.stack(accs)

    # -- checkpointing --------------------------------------------------------
    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError


def transfer_source(profile: str, dataset: str) -> str | None:
    """The profile's meta-training source of a transfer target (Table 2), else None: a transfer
    cell's method takes the source's dataset defaults, then its ``DATASET_DEFAULTS["transfer"]``.

    Example:
        >>> transfer_source("cpu", "cifar10"), transfer_source("cpu", "omniglot")
        ('mini-imagenet', None)
    """
    from benchmark.config import PROFILES, profile_settings
    if profile not in PROFILES:
        return None
    return profile_settings(profile, dataset).get("transfer_source")


def accuracies(logits: torch.Tensor, episodes: list) -> torch.Tensor:
    """Accuracy of each episode from its query ``logits`` ``[E, n, way]``: the argmax against the
    query labels, or for a label-free (cluster) episode after the best one-to-one matching of
    clusters to classes (:func:`benchmark.data.matched_accuracy`).

    Example:
        >>> from benchmark.data import Episode
        >>> ep = Episode(torch.arange(2), torch.arange(4), torch.arange(2), 2, 1)
        >>> accuracies(torch.tensor([[[1., 0], [0, 1], [0, 1], [0, 1]]]), [ep]).tolist()
        [0.75]
    """
    pred = logits.argmax(-1).cpu()
    qy = torch.stack([e.query_labels for e in episodes])
    if not episodes[0].matched:
        return (pred == qy).float().mean(1)
    from benchmark.data import matched_accuracy
    return torch.tensor([matched_accuracy(p, y, e.way) for p, y, e in zip(pred, qy, episodes)])


def chunks(episodes: list, chunk: int):
    """``episodes`` in consecutive batches of at most ``chunk`` episodes, fewer when an episode has
    more than 75 queries (5-way x 15) so that a batch holds at most ``chunk`` x 75 query samples (a
    transfer target's episodes query the whole test set).

    Example:
        >>> from benchmark.data import Episode
        >>> eps = [Episode(torch.arange(2), torch.arange(750), torch.arange(2), 2, 1)] * 5
        >>> [len(b) for b in chunks(eps, 20)]
        [2, 2, 1]
    """
    n = max(1, min(chunk, chunk * 75 // max(1, len(episodes[0].query)))) if episodes else chunk
    for i in range(0, len(episodes), n):
        yield episodes[i:i + n]


def check_logits(logits: torch.Tensor, name: str, setting: str = "learning rate") -> None:
    """A diverged model's NaN logits must not become a chance-level accuracy (argmax of NaN is 0).

    Example:
        >>> check_logits(torch.zeros(3, 5), "demo")                 # finite: nothing happens
        >>> check_logits(torch.tensor([[0.5, float("nan")]]), "demo")
        Traceback (most recent call last):
        ...
        FloatingPointError: demo: non-finite logits in evaluation; the model diverged (lower its learning rate)...
    """
    if not torch.isfinite(logits).all():
        raise FloatingPointError(f"{name}: non-finite logits in evaluation; the model diverged (lower its "
                                 f"{setting}); nothing recorded")


def class_means(feats: torch.Tensor, labels: torch.Tensor, way: int) -> torch.Tensor:
    """Per-class mean of ``feats`` ``[E, n, d]`` with ``labels`` ``[E, n]`` -> ``[E, way, d]``
    (the task embedding ``Emb(T)``: support features class by class).

    Example:
        >>> feats = torch.tensor([[[1., 0], [3., 0], [0., 2]]])     # E = 1 task, n = 3 samples, d = 2
        >>> class_means(feats, torch.tensor([[0, 0, 1]]), way=2).tolist()
        [[[2.0, 0.0], [0.0, 2.0]]]
    """
    onehot = torch.nn.functional.one_hot(labels, way).to(feats.dtype)          # [E, n, way]
    return onehot.transpose(1, 2) @ feats / onehot.sum(1).clamp_min(1).unsqueeze(-1)


class FeatureMethod(Method):
    """A method that adapts only a head on features of a frozen body.

    Subclasses implement ``adapt_features(sf, sy, way)`` and ``predict_features(head, qf)``
    on batched features (leading episode dimension E). Accuracy over many episodes is
    computed from the split's features, computed once; ``adapt`` (timed for latency)
    runs the body on the raw support images.

    Example:
        >>> from methods import get_method
        >>> [n for n in ("ghn3", "icis", "ref-centroid", "reptile") if issubclass(get_method(n), FeatureMethod)]
        ['ghn3', 'icis', 'ref-centroid']
    """

    USES_BODY = True

    def eval_body(self) -> torch.nn.Module:
        return self.ctx.body

    def adapt_features(self, sf: torch.Tensor, sy: torch.Tensor, way: int) -> Any:
        raise NotImplementedError

    def predict_features(self, head: Any, qf: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def adapt(self, support_x, support_y):
        body = self.eval_body().eval()
        way = int(support_y.max()) + 1
        self.check_way(way)
        return self.adapt_features(body(support_x).unsqueeze(0), support_y.unsqueeze(0), way)

    @torch.no_grad()
    def predict(self, head, query_x):
        return self.predict_features(head, self.eval_body().eval()(query_x).unsqueeze(0))[0]

    @torch.no_grad()
    def episode_accuracies(self, split, episodes, chunk: int = 200):
        feats = self.ctx.features(split, self.eval_body())
        accs = []
        for eps in chunks(episodes, chunk):
            sf = torch.stack([feats[e.support] for e in eps]).to(self.ctx.device)
            qf = torch.stack([feats[e.query] for e in eps]).to(self.ctx.device)
            sy = torch.stack([e.support_labels for e in eps]).to(self.ctx.device)
            logits = self.predict_features(self.adapt_features(sf, sy, eps[0].way), qf)
            check_logits(logits, self.name)
            accs.append(accuracies(logits, eps))
        return torch.cat(accs)


class StandardisedFeatures:
    """Mixin: features standardised per dimension with the meta-train split's mean and std
    (``f_mean``, ``f_std``, fitted by :meth:`_fit_std`).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> s = StandardisedFeatures(); s.ctx = NS(device="cpu")
        >>> s._fit_std(torch.tensor([[1., 10.], [3., 30.]])).tolist()
        [[-0.7071..., -0.7071...], [0.7071..., 0.7071...]]
    """

    def _fit_std(self, feats: torch.Tensor) -> torch.Tensor:
        """Fit on the meta-train features ``feats`` and return them standardised, on the device."""
        self.f_mean, self.f_std = feats.mean(0), feats.std(0).clamp_min(1e-6)
        return self._std(feats).to(self.ctx.device)

    def _std(self, f: torch.Tensor) -> torch.Tensor:
        return (f - self.f_mean.to(f.device)) / self.f_std.to(f.device)
