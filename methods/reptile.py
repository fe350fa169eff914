"""REPTILE (Nichol, Achiam & Schulman 2018, "On First-Order Meta-Learning Algorithms").

First-order meta-learning of the *full* downstream network (Conv4/ResNet-12 body +
linear head), trained from scratch on the meta-train classes:

    for each meta-iteration: sample B tasks; for each, phi_i <- K steps of Adam
    (beta1 = 0) on minibatches of the task; phi <- phi + eps * mean_i(phi_i - phi),
    eps annealed linearly from ``outer_lr`` to 0.

Test: start from phi, ``eval_steps`` Adam steps on the support set, predict the
query set. BN uses batch statistics (the transductive setting of the paper's
main results). The B inner loops (and the test-time adaptations of many
episodes) run batched (:mod:`methods.inner_loop`): with a Conv4 body in one pass over
the copies (:meth:`~benchmark.models.backbones.Conv4.forward_copies`), other bodies
with ``torch.func.vmap``.

Paper settings (transductive, Nichol et al. Appendix A): Omniglot - Adam lr 1e-3,
inner batch 10, 5 inner iterations, 10 training shots, meta-batch 5, 100K
iterations, outer step 1.0 -> 0, 50 eval iterations with batch 5 (1-shot) /
10 (5-shot); mini-ImageNet - the same with 8 inner iterations and 15 training shots.
On the timm bodies (Tables 6-7) the network's stochastic depth (Swin-T's default drop-path rate 0.1) is
off: the paper does not say, the adapted copies run vmapped, and a random forward would make the query
predictions random (BN uses batch statistics, so the network stays in training mode).
The ``cpu`` profile keeps everything but the iteration counts (100 meta-iterations
instead of 100K; 5 test-time steps instead of 50, i.e. as many as in training on Omniglot) and
the network width and image size (the table's shared settings), which it reduces
to fit a whole table on two CPU cores.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from benchmark.config import ConfigError
from benchmark.models.backbones import Conv4, build_backbone
from benchmark.seeding import generator

from .base import Method, accuracies, check_logits, chunks
from .inner_loop import batched_adam, check_finite, cyclic_minibatches, stack_params

# A vmapped pass over B copies of the network holds, per copy, its weights, gradients, Adam moments and
# vmap's intermediates: about 8 floats a weight (32 bytes). Copies that would exceed this budget are adapted
# in several passes (a Swin-T, 28M weights: 4 a pass; a Conv4-64, 113k: always one). The minibatch indices
# are drawn for all copies first, so the split sees the same tasks and draws; it changes the numbers only by
# float rounding (which Adam's first step, lr * sign(g), amplifies where a gradient is ~0), and not at all
# on a Conv4 or ResNet-12 body, which always takes one pass (tests/test_methods.py).
COPY_BUDGET_BYTES = 4 << 30
BYTES_PER_WEIGHT = 32


class Reptile(Method):
    """REPTILE as a registered method: the whole network meta-learnt (from scratch by default), Adam at test time.

    Example:
        >>> from methods import get_method
        >>> get_method("reptile") is Reptile, Reptile.DEFAULTS["cpu"]["meta_iters"]
        (True, 100)
        >>> Reptile.hyper_parameters("cpu", "mini-imagenet", {})["inner_steps"]        # the paper's 8 there
        8
        >>> Reptile.uses_body_with({}), Reptile.uses_body_with({"init_body": "pretrained"})
        (False, True)
    """

    name = "reptile"
    paper = "Nichol, Achiam & Schulman 2018, On First-Order Meta-Learning Algorithms"
    DEFAULTS = {
        "smoke": dict(meta_iters=40, meta_batch=5, inner_steps=5, inner_batch=10, inner_lr=1e-3,
                      train_shots=5, outer_lr=1.0, eval_steps=10, eval_batch=10, eval_chunk=100, init_body="scratch"),
        "cpu": dict(meta_iters=100, meta_batch=5, inner_steps=5, inner_batch=10, inner_lr=1e-3,
                    train_shots=10, outer_lr=1.0, eval_steps=5, eval_batch=10, eval_chunk=100, init_body="scratch"),
        "paper": dict(meta_iters=100_000, meta_batch=5, inner_steps=5, inner_batch=10, inner_lr=1e-3,
                      train_shots=10, outer_lr=1.0, eval_steps=50, eval_batch=10, eval_chunk=50, init_body="scratch"),
    }
    # 20-way: the REPTILE authors' own 20-way Omniglot settings (their run_omniglot.sh: inner batch 20, 10 inner
    # iterations, learning rate 0.0005, eval batch 10, 200k meta-iterations). The cpu profile's 5 test-time steps
    # (the paper: 50) would let a 20-way 5-shot task see half its 100 support images once; 20 steps of 10 pass
    # over them twice, as the cpu profile's 5 steps of 10 do over a 5-way 5-shot task's 25
    WAY_DEFAULTS = {20: {
        "smoke": dict(inner_batch=20, inner_steps=10, inner_lr=5e-4),
        "cpu": dict(inner_batch=20, inner_steps=10, inner_lr=5e-4, eval_steps=20),
        "paper": dict(inner_batch=20, inner_steps=10, inner_lr=5e-4, meta_iters=200_000),
    }}
    DATASET_DEFAULTS = {
        "mini-imagenet": {"paper": dict(inner_steps=8, train_shots=15), "cpu": dict(inner_steps=8, train_shots=15)},
        "tiered-imagenet": {"paper": dict(inner_steps=8, train_shots=15), "cpu": dict(inner_steps=8, train_shots=15)},
    }
    BETAS = (0.0, 0.999)
    # meta-training uses `train_shots` examples per class whatever the test shot, so the
    # meta-trained network is the same for (5,1) and (5,5) and is cached once for both
    SHOT_INDEPENDENT_TRAINING = True

    @classmethod
    def uses_body_with(cls, options: dict) -> bool:
        return options.get("init_body", "scratch") == "pretrained"

    def validate(self):
        if self.hp["init_body"] not in ("scratch", "pretrained"):
            raise ConfigError(f"reptile: init_body must be 'scratch' (the paper's protocol) or 'pretrained' "
                              f"(start from the shared body every other row uses), got {self.hp['init_body']!r}")
        for k in ("meta_iters", "meta_batch", "inner_steps", "inner_batch", "train_shots", "eval_steps"):
            if int(self.hp[k]) < 1:
                raise ConfigError(f"reptile: {k} must be >= 1, got {self.hp[k]}")

    # -- network ----------------------------------------------------------------
    def _build(self, from_body: bool = False) -> None:
        """The network; ``from_body``: its body starts from the shared pretrained body."""
        ctx = self.ctx
        size = ctx.settings["image_size"]
        body = build_backbone(ctx.cell.backbone, ctx.dataset.channels, ctx.settings["body_width"],
                              track_running_stats=False, image_size=size)
        for m in body.modules():    # stochastic depth (Swin-T's timm default, 0.1) off: the adapted copies
            if type(m).__name__ == "DropPath":      # run vmapped, and the query predictions must not be random
                m.drop_prob = 0.0
        with torch.no_grad():
            dim = body(torch.zeros(2, ctx.dataset.channels, size, size)).shape[1]
        if from_body:                                  # the shared body, as every other row gets it
            missing, _ = body.load_state_dict(ctx.body.state_dict(), strict=False)   # BN running stats are unused
            if missing:
                raise ConfigError(f"reptile: the shared body lacks {missing[:3]}")
        self.net = nn.Sequential(body, nn.Linear(dim, ctx.way)).to(ctx.device)

    def _loss(self, params, x, y):
        return F.cross_entropy(functional_call(self.net, params, (x,)), y)

    def _adapt_batch(self, params: dict, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int,
                     g: torch.Generator | None = None, idx: torch.Tensor | None = None) -> dict:
        """Adapt B copies of ``params`` (unbatched) to B tasks (``x`` ``[B, n, C, H, W]``, ``y`` ``[B, n]``)
        in one pass, on minibatch indices ``idx`` ``[steps, B, bs]`` (drawn from ``g`` if not given)."""
        B, n = y.shape
        if idx is None:
            idx = cyclic_minibatches(n, batch, steps, B, g).to(x.device)  # [steps, B, bs]
        rows = torch.arange(B, device=x.device).unsqueeze(1)

        def batch_fn(s):
            return x[rows, idx[s]], y[rows, idx[s]]

        copies = self._copies_loss if self._has_copies() else None
        return batched_adam(self._loss, stack_params(params, B), batch_fn, steps, self.hp["inner_lr"], self.BETAS,
                            copies_loss=copies)

    def copies_per_pass(self) -> int:
        """How many copies of the network one vmapped pass adapts (``COPY_BUDGET_BYTES``).

        Example:
            >>> r = Reptile.__new__(Reptile); r.net = nn.Linear(1024, 1024, bias=False)   # 32 MiB a copy
            >>> r.copies_per_pass()
            128
        """
        weights = sum(p.numel() for p in self.net.parameters())
        return max(1, COPY_BUDGET_BYTES // (BYTES_PER_WEIGHT * weights))

    def _adapt_in_passes(self, params: dict, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int,
                         g: torch.Generator):
        """Yield ``(rows, adapted copies)`` for B tasks, at most :meth:`copies_per_pass` copies at a time; the
        minibatch indices of all B are drawn first, so the split draws what one pass would."""
        B, n = y.shape
        idx = cyclic_minibatches(n, batch, steps, B, g).to(x.device)
        per = self.copies_per_pass()
        for s in range(0, B, per):
            rows = slice(s, s + per)
            yield rows, self._adapt_batch(params, x[rows], y[rows], steps, batch, idx=idx[:, rows])

    def _has_copies(self) -> bool:
        return isinstance(self.net[0], Conv4)

    def _copies_loss(self, params, x, y):
        """The summed loss of B copies in one pass (:meth:`Conv4.forward_copies`; 1.5x faster than
        vmap with its gradient, the same to float rounding): ``x`` ``[B, n, C, H, W]``, ``y`` ``[B, n]``."""
        feats = self.net[0].forward_copies({k[2:]: v for k, v in params.items() if k.startswith("0.")}, x)
        logits = torch.baddbmm(params["1.bias"].unsqueeze(1), feats, params["1.weight"].transpose(1, 2))
        B, n = y.shape
        return F.cross_entropy(logits.reshape(B * n, -1), y.reshape(-1), reduction="none").view(B, n).mean(1).sum()

    # -- the interface -------------------------------------------------------------
    def meta_train(self) -> None:
        ctx, hp = self.ctx, self.hp
        torch.manual_seed(ctx.seed)
        self._build(from_body=hp["init_body"] == "pretrained")
        self.phi = {k: v.detach().clone() for k, v in self.net.named_parameters()}
        sampler = ctx.train_sampler(shot=hp["train_shots"], query=0)
        g = generator(ctx.seed, "reptile-inner")
        B, iters = hp["meta_batch"], hp["meta_iters"]
        for it in tqdm(range(iters), desc="reptile meta-train", disable=not ctx.progress, leave=False):
            if self.selector is not None and self.selector.due(it, iters):
                self.selector.score(it)
            if self.selector is not None and self.selector.exhausted(it):   # budget_cpu_s spent
                iters = it
                break
            eps = sampler.episodes(B, start=it * B)
            x = torch.stack([ctx.images("train", e.support) for e in eps])
            y = torch.stack([e.support_labels for e in eps]).to(ctx.device)
            new = [a for _, a in self._adapt_in_passes(self.phi, x, y, hp["inner_steps"], hp["inner_batch"], g)]
            step = hp["outer_lr"] * (1 - it / iters)                        # linear annealing to 0
            self.phi = {k: v + step * (torch.cat([a[k] for a in new]).mean(0) - v) for k, v in self.phi.items()}
            check_finite(self.phi, "reptile meta-train", it, "inner_lr")
        if self.selector is not None:
            self.selector.score(iters)

    def _eval_batch(self, shot: int) -> int:
        # the authors' eval batch, never more than the support set (5-way 1-shot: all 5 images, as theirs)
        return min(self.hp["eval_batch"], self.ctx.way * shot)

    def adapt(self, support_x, support_y):
        self.check_way(int(support_y.max()) + 1)
        g = generator(self.ctx.seed, "reptile-adapt")
        shot = len(support_y) // max(1, int(support_y.max()) + 1)
        return self._adapt_batch(self.phi, support_x.unsqueeze(0), support_y.unsqueeze(0),
                                 self.hp["eval_steps"], self._eval_batch(shot), g)

    @torch.no_grad()
    def predict(self, adapted, query_x):
        return vmap(lambda p, x: functional_call(self.net, p, (x,)))(adapted, query_x.unsqueeze(0))[0]

    def episode_accuracies(self, split, episodes):
        ctx, chunk = self.ctx, self.hp["eval_chunk"]
        g = generator(ctx.seed, "reptile-eval")
        accs = []
        for eps in chunks(episodes, chunk):
            sx = torch.stack([ctx.images(split, e.support) for e in eps])
            sy = torch.stack([e.support_labels for e in eps]).to(ctx.device)
            qx = torch.stack([ctx.images(split, e.query) for e in eps])
            parts = []
            for rows, adapted in self._adapt_in_passes(self.phi, sx, sy, self.hp["eval_steps"],
                                                       self._eval_batch(eps[0].shot), g):
                with torch.no_grad():
                    parts.append(vmap(lambda p, x: functional_call(self.net, p, (x,)))(adapted, qx[rows]))
            logits = torch.cat(parts)
            check_logits(logits, self.name, "inner_lr")
            accs.append(accuracies(logits, eps))
        return torch.cat(accs)

    def state_dict(self):
        return {"phi": {k: v.cpu() for k, v in self.phi.items()}}

    def load_state_dict(self, state):
        self._build()
        self.phi = {k: v.to(self.ctx.device) for k, v in state["phi"].items()}
