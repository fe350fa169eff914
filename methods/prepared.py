"""Heads prepared by Algorithm 1 on meta-train tasks: the training data of every
generator that learns from weights (the diffusion methods, OCD, LLO-VAE, D2NWG, ICIS).

The preparation is cached by everything that determines it (dataset, backbone, profile
settings, way, shot, seed, number of tasks, Algorithm 1's settings), so methods with the
same settings share one file.

Example:
    >>> from benchmark.cells import Cell
    >>> from benchmark.context import Context
    >>> ctx = Context.build(Cell("t", "mc-di", "synthetic", 5, 1, 0, "smoke"), data_root=None, cache_dir=None)
    >>> ctx.body = torch.nn.Sequential(torch.nn.AvgPool2d(4), torch.nn.Flatten())   # stand-in body: 16-d features
    >>> class M(PreparedHeads, FeatureMethod):
    ...     DEFAULTS = {"smoke": prep_defaults(tasks=4, max_steps=12)}
    >>> M(ctx).prepared_weights()["trajectory"].shape       # 4 tasks, grid + 1 points, 5 x 16 + 5 weights
    torch.Size([4, 13, 85])
"""
from __future__ import annotations

import json
import time

import torch

from benchmark.data.base import atomic_torch_save
from benchmark.models.heads import head_forward, head_shapes
from benchmark.seeding import derive_seed
from benchmark.timing import stage
from benchmark.weights import PrepConfig, augmented_features, local_targets, prepare_heads, unflatten_head

from .base import FeatureMethod, class_means

PREP_KEYS = set(PrepConfig().to_dict())
MAX_STEPS = 100     # Algorithm 1's cap on M (docs/readings.md, "early stopping")


def theta0_seed(seed: int) -> int:
    """The seed of the shared theta_0 (``init="shared"``): one head per cell seed, the same for the
    meta-train preparation and for the test tasks of the ``ref-target-head`` reference.

    Example:
        >>> theta0_seed(0) == theta0_seed(0), theta0_seed(0) == theta0_seed(1)
        (True, False)
    """
    return derive_seed(seed, "theta0")


def prep_defaults(**kw) -> dict:
    """Algorithm 1's settings of the cpu profile (and ``tasks``, the number of prepared tasks).

    Example:
        >>> hp = prep_defaults(tasks=64, hidden=32)                  # a method adds its own settings
        >>> hp["tasks"], hp["hidden"], hp["lr"], hp["max_steps"]
        (64, 32, 0.005, 100)
    """
    base = dict(head="linear", tasks=256, lr=0.005, rho=0.05, sam=True, augment=True, views=4, noise=0.1,
                rotation=15.0, max_steps=MAX_STEPS, min_steps=12, patience=10, tol=0.001, stop_ref="start", grid=12,
                init="per-task")
    base.update(kw)
    return base


def support_heads(ctx, cfg: PrepConfig, images: torch.Tensor, sy: torch.Tensor, way: int, aug_seed: int,
                  prep_seed: int, init_seed: int | None = None) -> tuple:
    """Algorithm 1 on the support sets of held-out tasks: ``images`` ``[E*n, C, H, W]`` (normalised,
    task by task), labels ``sy`` ``[E, n]`` -> ``(prep, feats)``: :func:`~benchmark.weights.prepare_heads`'s
    output (``trajectory`` ``[E, G+1, P]``, ...) and the support features ``[E, views, n, d]``.
    The meta-train preparation (:meth:`PreparedHeads.prepared_weights`), the reference ``ref-target-head``,
    the Theorem-1 diagnostic and the reconstruction MSE (:meth:`HeadGenerator.heldout_mse`) all prepare
    their heads this way.

    Example:
        >>> from types import SimpleNamespace
        >>> ctx = SimpleNamespace(body=torch.nn.Flatten())                 # body: the pixels, 64-d
        >>> imgs = torch.randn(2 * 5, 1, 8, 8, generator=torch.Generator().manual_seed(0))   # 2 tasks, 5-way 1-shot
        >>> sy = torch.arange(5).repeat(2, 1)
        >>> prep, feats = support_heads(ctx, PrepConfig(max_steps=12), imgs, sy, 5, 1, 2)
        >>> prep["trajectory"].shape, feats.shape                          # 4 views of each support image
        (torch.Size([2, 13, 325]), torch.Size([2, 4, 5, 64]))
    """
    E, n = sy.shape
    feats = augmented_features(ctx.body, images, cfg, aug_seed)                  # [E*n, V, d]
    feats = feats.view(E, n, feats.shape[1], -1).transpose(1, 2).contiguous()
    with torch.enable_grad():
        prep = prepare_heads(feats, sy.to(feats.device), way, cfg, prep_seed, init_seed)
    return prep, feats


class PreparedHeads:
    """Mixin for a :class:`~methods.base.FeatureMethod` whose ``hp`` holds Algorithm 1's settings
    (so a method's own hyper-parameters must not reuse their names: ``lr`` is Algorithm 1's).

    Example:
        >>> m = PreparedHeads(); m.hp = prep_defaults(hidden=64, lr=0.01)
        >>> cfg = m.prep_config()                                    # Algorithm 1's keys only
        >>> type(cfg).__name__, cfg.lr, cfg.max_steps
        ('PrepConfig', 0.01, 100)
    """

    def prep_config(self) -> PrepConfig:
        return PrepConfig(**{k: self.hp[k] for k in PREP_KEYS if k in self.hp})

    def prepared_weights(self) -> dict:
        """Algorithm 1 on ``tasks`` meta-train tasks: ``trajectory`` ``[E, G+1, P]``, ``theta0``,
        ``steps`` (M), ``task_support`` (image indices) and ``emb`` (support class means ``[E, way, d]``)."""
        ctx, cfg = self.ctx, self.prep_config()
        key_blob = json.dumps([ctx.cell.dataset, ctx.cell.backbone, ctx.settings, ctx.way, ctx.shot, ctx.seed,
                               self.hp["tasks"], cfg.to_dict()], sort_keys=True, default=str)
        path = (ctx.cache_dir / "weights" / f"prep-{ctx.cell.dataset}-{ctx.way}w{ctx.shot}s-seed{ctx.seed}-"
                f"{derive_seed(0, key_blob) % 16 ** 10:010x}.pt") if ctx.cache_dir else None
        if getattr(self, "_prep", None) is not None:
            return self._prep
        if path is not None and path.exists():
            self._prep = torch.load(path, weights_only=False)
            return self._prep
        ctx.body                                                                 # pretrained first: not timed
        with stage("weight_prep"):
            return self._prepare_weights(ctx, cfg, path)

    def _prepare_weights(self, ctx, cfg, path) -> dict:
        cpu0 = time.process_time()
        sampler = ctx.train_sampler(query=0, tag="weight-preparation")
        episodes = sampler.episodes(self.hp["tasks"])
        idx = torch.stack([e.support for e in episodes])                        # [E, n]
        labels = torch.stack([e.support_labels for e in episodes])
        prep, feats = support_heads(ctx, cfg, ctx.images("train", idx.reshape(-1)), labels, ctx.way,
                                    derive_seed(ctx.seed, "prep-augment"), derive_seed(ctx.seed, "prep"),
                                    theta0_seed(ctx.seed))
        labels = labels.to(feats.device)
        prep.update(task_support=idx, emb=class_means(feats[:, 0], labels, ctx.way).cpu(), config=cfg.to_dict(),
                    cpu_s=round(time.process_time() - cpu0, 3))                  # Figure 7: SAM's cost
        if not (torch.isfinite(prep["trajectory"]).all() and torch.isfinite(prep["emb"]).all()):
            raise FloatingPointError(f"{self.name}: weight preparation produced non-finite weights "
                                     f"(lower lr={cfg.lr} or rho={cfg.rho})")
        if path is not None:
            atomic_torch_save(prep, path)
        self._prep = prep
        return prep

    def preparation_summary(self) -> dict:
        """What the record says about Algorithm 1's run: theta_0 reading, the M distribution."""
        prep = self.prepared_weights()
        out = {"init": self.hp["init"], "M": prep.get("M_summary") or {}}
        if "cpu_s" in prep:                     # CPU seconds of the run that prepared (and cached) them
            out["cpu_s"] = prep["cpu_s"]
        return out

    def _normalise_fit(self, targets: torch.Tensor, emb: torch.Tensor) -> None:
        """Per-layer mean/std of the target heads; per-dimension mean/std of the embeddings.
        With ``residual`` (OCD) the mean is the base head (the mean theta_M, weight by weight),
        so the diffusion models the weight change from it."""
        ctx = self.ctx
        d = emb.shape[-1]
        base = targets[:, -1].mean(0) if self.hp.get("residual") else None
        centred = targets - base if base is not None else targets
        mean, std, i = [], [], 0
        for shape in head_shapes(self.hp["head"], d, ctx.way).values():
            n = torch.Size(shape).numel()
            block = centred[..., i:i + n]
            mean.append(torch.full((n,), block.mean().item()))
            std.append(torch.full((n,), block.std().clamp_min(1e-8).item()))
            i += n
        self.w_mean, self.w_std = (torch.cat(mean) if base is None else base), torch.cat(std)
        self.e_mean, self.e_std = emb.mean((0, 1)), emb.std((0, 1)).clamp_min(1e-6)

    def _emb(self, protos: torch.Tensor) -> torch.Tensor:
        return ((protos - self.e_mean.to(protos.device)) / self.e_std.to(protos.device)).flatten(1)

    def _denorm(self, x: torch.Tensor, way: int | None = None) -> torch.Tensor:
        """Normalised flat heads -> heads in the original weight scale. ``way`` other than the
        trained way (row-wise generators): the per-layer statistics laid out for that way."""
        mean, std = self.w_mean, self.w_std
        if way is not None and way != self.ctx.way:
            if self.hp.get("residual") or self.hp["head"] != "linear":
                raise ValueError(f"{self.name}: per-weight statistics exist only for the trained way")
            n_w = x.shape[1] - way
            mean = torch.cat([self.w_mean[:1].expand(n_w), self.w_mean[-1:].expand(way)])
            std = torch.cat([self.w_std[:1].expand(n_w), self.w_std[-1:].expand(way)])
        return x * std.to(x.device) + mean.to(x.device)

    def _norm_state(self) -> dict:
        return {k: getattr(self, k) for k in ("w_mean", "w_std", "e_mean", "e_std")}


class HeadGenerator(PreparedHeads, FeatureMethod):
    """A method that generates a task's head from its embedding (support class means) with a
    network ``self.net`` learnt from prepared heads. Subclasses implement ``_build(P, emb_dim)``
    (creates ``self.net``), ``meta_train()`` and ``generate(protos)`` -> de-normalised flat
    heads ``[E, P]``; no gradient steps at test time.

    Example:
        >>> from methods import get_method
        >>> [n for n in ("d2nwg", "ghn3", "icis", "llo-vae", "mc-di") if issubclass(get_method(n), HeadGenerator)]
        ['d2nwg', 'icis', 'llo-vae', 'mc-di']
    """

    def emb_layout(self, P: int, emb_dim: int) -> torch.Tensor | None:
        """Weight position -> embedding entry: for a linear head, w[c, j] <- proto[c, j]
        (biases get none, -1); None (no aligned input) for other heads or when disabled."""
        if not self.hp.get("aligned_emb") or self.hp["head"] != "linear":
            return None
        return torch.cat([torch.arange(emb_dim), torch.full((P - emb_dim,), -1)])

    def _rows(self, flat: torch.Tensor, d: int) -> torch.Tensor:
        """Flat linear heads ``[E, way*d + way]`` -> class rows ``[E, way, d + 1]`` (weights, bias)."""
        way = self.ctx.way
        return torch.cat([flat[:, : way * d].reshape(-1, way, d), flat[:, way * d:].unsqueeze(-1)], -1)

    @staticmethod
    def _flat(rows: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`_rows`."""
        return torch.cat([rows[..., :-1].flatten(1), rows[..., -1]], 1)

    def _theta_M_data(self, rows: bool = False) -> tuple:
        """Training data from the prepared theta_M (normalisation fitted, ``self.net`` built):
        normalised heads ``[E, P]`` and embeddings ``[E, way*d]``, or with ``rows`` the class
        rows ``[E*way, d+1]`` and their class means ``[E*way, d]``, on the device."""
        prep = self.prepared_weights()
        theta_M = local_targets(prep["trajectory"], 1, self.hp["grid"])[:, 0]        # [E, P]
        self._normalise_fit(theta_M.unsqueeze(1), prep["emb"])
        d = prep["emb"].shape[-1]
        self._build(theta_M.shape[-1], d * self.ctx.way)
        x, e = (theta_M - self.w_mean) / self.w_std, self._emb(prep["emb"])
        if rows:
            x, e = self._rows(x, d).flatten(0, 1), e.view(-1, d)
        return x.to(self.ctx.device), e.to(self.ctx.device)

    INFERENCE_STEPS = False     # whether generate() takes ``steps`` (a diffusion chain on fewer steps)

    def _episode_targets(self, split: str, episodes: list) -> torch.Tensor:
        """theta_M of Algorithm 1 (this method's preparation settings) on each episode's support set,
        ``[E, P]`` on the CPU; computed once per (split, episodes)."""
        ctx = self.ctx
        key = (split, len(episodes), tuple(episodes[0].support.tolist()))
        cache = self.__dict__.setdefault("_mse_targets", {})
        if key not in cache:
            images = ctx.images(split, torch.cat([e.support for e in episodes]))
            sy = torch.stack([e.support_labels for e in episodes])
            prep, _ = support_heads(ctx, self.prep_config(), images, sy, episodes[0].way,
                                    derive_seed(ctx.seed, "mse-augment", split), derive_seed(ctx.seed, "mse-prep", split),
                                    theta0_seed(ctx.seed))
            cache[key] = local_targets(prep["trajectory"], 1, self.hp["grid"])[:, 0].cpu()
        return cache[key]

    @torch.no_grad()
    def heldout_mse(self, split: str, episodes: list, steps=(), chunk: int = 200) -> dict:
        """Reconstruction MSE (Figures 4 and 6): the mean squared distance, per weight in the original
        scale, between the head generated from each episode's support set and the theta_M that
        Algorithm 1 reaches on that same support set, averaged over the episodes. ``steps``: the same
        for chains run on S of their T steps (``INFERENCE_STEPS`` methods), as ``mse_by_steps``.

        Example:
            >>> method.heldout_mse("test", episodes[:100], steps=(5, 10))     # doctest: +SKIP
            {'mse': 0.021, 'mse_episodes': 100, 'mse_by_steps': {'5': 0.03, '10': 0.024}}
        """
        ctx = self.ctx
        theta_M = self._episode_targets(split, episodes)
        feats = ctx.features(split, self.eval_body())
        sq: dict = {S: [] for S in (None, *steps)}
        for lo in range(0, len(episodes), chunk):
            eps = episodes[lo:lo + chunk]
            sf = torch.stack([feats[e.support] for e in eps]).to(ctx.device)
            sy = torch.stack([e.support_labels for e in eps]).to(ctx.device)
            protos = class_means(sf, sy, eps[0].way)
            for S in sq:
                flat = self.generate(protos) if S is None else self.generate(protos, steps=S)
                sq[S].append(((flat.cpu().double() - theta_M[lo:lo + len(eps)].double()) ** 2).mean(1))
        mse = {S: float(torch.cat(v).mean()) for S, v in sq.items()}
        if not all(v == v for v in mse.values()):
            raise FloatingPointError(f"{self.name}: non-finite reconstruction MSE")
        out = {"mse": round(mse[None], 8), "mse_episodes": len(episodes)}
        if steps:
            out["mse_by_steps"] = {str(S): round(mse[S], 8) for S in steps}
        return out

    def adapt_features(self, sf, sy, way):
        flat = self.generate(class_means(sf, sy, way))
        if not torch.isfinite(flat).all():
            raise FloatingPointError(f"{self.name}: generated non-finite weights")
        return unflatten_head(flat, self.hp["head"], sf.shape[-1], way)

    def predict_features(self, head, qf):
        return head_forward(self.hp["head"], head, qf)

    def _extra_state(self) -> dict:
        return {}

    def _load_extra(self, state: dict) -> None:
        pass

    def state_dict(self):
        return {"net": self.net.state_dict(), **self._norm_state(), "P": len(self.w_mean),
                "emb_dim": len(self.e_mean) * self.ctx.way, **self._extra_state()}

    def load_state_dict(self, state):
        self.w_mean, self.w_std, self.e_mean, self.e_std = (state[k] for k in ("w_mean", "w_std", "e_mean", "e_std"))
        self._build(state["P"], state["emb_dim"])                  # after the statistics (Meta-Diff's net uses them)
        self.net.load_state_dict(state["net"])
        self.net.eval()
        self._load_extra(state)
