"""Meta-Hypernetwork (Zhao, Kobayashi, Sacramento & von Oswald 2020, "Meta-Learning via
Hypernetworks"), on the frozen body's features.

A hypernetwork h_psi maps a task embedding z to the weights of the head; z starts from a
meta-learnt z_0 and is adapted to a task by a few gradient steps on the support loss
(the "inner loop acts on the embedding only"), while psi and z_0 are meta-learnt by
backpropagating the query loss through those steps (second order, as in the paper).
Here z holds one code per class (``[way, dz]``, all starting at z_0) and h_psi generates each
class's row of the linear head (weights and bias) from its code, so the head follows the
task's class order; the support loss's gradient breaks the codes' symmetry.

Test time: ``test_steps`` gradient steps on z (the latency includes them), then the head.
Training is single-level over meta-train episodes (Adam on psi, z_0), run by
:func:`~methods.trainers.plain_train` (gradients clipped to norm 1: second-order meta-gradients
through the 5 inner SGD steps on z spike).

Deviations (docs/methods.md): the paper's hypernetwork generates a whole MLP/CNN; here only
the linear head on the shared frozen body (the harness's setting for every generator); the
features are standardised with the meta-train features' mean and std.

Example:
    >>> net = HyperHead(feat_dim=8, way=3, dz=4, hidden=16, steps=2, lr=0.5)
    >>> sf, sy = torch.randn(3, 8), torch.arange(3)
    >>> float(net(sf, sy, torch.randn(6, 8), torch.arange(3).repeat(2)).detach()) > 0
    True
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad

from benchmark.seeding import derive_seed

from .base import FeatureMethod, StandardisedFeatures
from .trainers import PlainConfig, plain_train


class HyperHead(nn.Module):
    """h_psi(z_c) -> (w_c, b_c) for each class code; ``adapt`` runs the inner loop on z.

    Example:
        >>> net = HyperHead(feat_dim=8, way=3, dz=4, hidden=16, steps=2)
        >>> z = net.adapt(torch.randn(6, 8), torch.arange(3).repeat(2))     # one code per class
        >>> z.shape, net.logits(z, torch.randn(4, 8)).shape
        (torch.Size([3, 4]), torch.Size([4, 3]))
    """

    def __init__(self, feat_dim: int, way: int, dz: int = 64, hidden: int = 256, steps: int = 5, lr: float = 0.5):
        super().__init__()
        self.way, self.steps, self.lr = way, steps, lr
        self.z0 = nn.Parameter(torch.zeros(dz))
        self.h = nn.Sequential(nn.Linear(dz, hidden), nn.SiLU(), nn.Linear(hidden, feat_dim + 1))

    def head(self, z: torch.Tensor) -> tuple:
        rows = self.h(z)                                            # [way, d + 1]
        return rows[:, :-1], rows[:, -1]

    def logits(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        w, b = self.head(z)
        return x @ w.T + b

    def adapt(self, sf: torch.Tensor, sy: torch.Tensor, steps: int | None = None, way: int | None = None):
        """The inner loop: SGD on the class codes z (one per class, from z_0) with the support
        cross-entropy; ``way`` defaults to the training way."""
        z = self.z0.expand(self.way if way is None else way, -1)
        support_loss = grad(lambda zz: F.cross_entropy(self.logits(zz, sf), sy))
        for _ in range(self.steps if steps is None else steps):
            z = z - self.lr * support_loss(z)
        return z

    def forward(self, sf, sy, qf, qy):
        """Query loss after the inner loop (what psi and z_0 are trained on)."""
        return F.cross_entropy(self.logits(self.adapt(sf, sy), qf), qy)


class MetaHypernetwork(StandardisedFeatures, FeatureMethod):
    """Meta-Hypernetwork as a registered method: :class:`HyperHead` meta-learnt on the body's features.

    Example:
        >>> from methods import get_method
        >>> get_method("meta-hypernetwork") is MetaHypernetwork, MetaHypernetwork.ANY_WAY
        (True, True)
        >>> MetaHypernetwork.DEFAULTS["cpu"]["inner_steps"], MetaHypernetwork.DEFAULTS["cpu"]["test_steps"]
        (5, 5)
    """

    name = "meta-hypernetwork"
    ANY_WAY = True                     # one code per class, from z_0: any number of classes
    paper = "Zhao et al. 2020, Meta-Learning via Hypernetworks (NeurIPS MetaLearn workshop)"
    _hp = dict(dz=64, hidden=256, inner_steps=5, inner_lr=0.5, test_steps=5, meta_iters=300, meta_batch=4,
               lr=1e-3, clip=1.0)
    DEFAULTS = {"smoke": dict(_hp, meta_iters=60, hidden=64), "cpu": _hp,
                "paper": dict(_hp, meta_iters=40000, meta_batch=8)}

    def _build(self, d: int) -> None:
        torch.manual_seed(derive_seed(self.ctx.seed, "hypernet-init") % 2 ** 31)
        hp = self.hp
        self.net = HyperHead(d, self.ctx.way, hp["dz"], hp["hidden"], hp["inner_steps"], hp["inner_lr"])
        self.net.to(self.ctx.device)

    def meta_train(self) -> None:
        ctx, hp = self.ctx, self.hp
        feats = self._fit_std(ctx.features("train"))
        self._build(feats.shape[1])
        sampler, B = ctx.train_sampler(), hp["meta_batch"]

        def draw(it):
            eps = sampler.episodes(B, start=it * B)
            data = (feats[torch.stack([e.support for e in eps])], torch.stack([e.support_labels for e in eps]),
                    feats[torch.stack([e.query for e in eps])], torch.stack([e.query_labels for e in eps]))
            data = tuple(x.to(ctx.device) for x in data)
            return (lambda s: data), None

        cfg = PlainConfig(iters=hp["meta_iters"], lr=hp["lr"],
                          clip=hp["clip"])          # second-order meta-gradients through 5 SGD steps spike
        plain_train(self.net, lambda p, *ep: functional_call(self.net, p, ep), draw, cfg, ctx.progress,
                    f"{self.name} meta-train", select=self.selector, store=ctx.store)
        self.net.eval()

    def adapt_features(self, sf, sy, way):
        sf = self._std(sf)
        with torch.enable_grad():
            z = torch.stack([self.net.adapt(sf[e], sy[e], self.hp["test_steps"], way) for e in range(len(sf))])
        return z.detach()

    @torch.no_grad()
    def predict_features(self, z, qf):
        qf = self._std(qf)
        return torch.stack([self.net.logits(z[e], qf[e]) for e in range(len(z))])

    def state_dict(self):
        return {"net": self.net.state_dict(), "f_mean": self.f_mean, "f_std": self.f_std}

    def load_state_dict(self, state):
        self.f_mean, self.f_std = state["f_mean"], state["f_std"]
        self._build(len(self.f_mean))
        self.net.load_state_dict(state["net"])
        self.net.eval()
