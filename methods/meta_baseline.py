"""Meta-Baseline (Chen, Liu, Xu, Darrell, Wang 2021, "Meta-Baseline: Exploring
Simple Meta-Learning for Few-Shot Learning").

Stage 1 (classifier-baseline): the body is trained as a classifier over all
meta-train classes - this is the harness's shared cached body.
Stage 2 (meta stage): the body is fine-tuned on N-way K-shot episodes of the
meta-train classes with the loss of a cosine nearest-centroid classifier,
``logits = tau * cos(f(q), c_k)`` with a learnable temperature ``tau`` (init 10),
SGD (lr 0.001, momentum 0.9, weight decay 5e-4), 4 tasks per batch.
Test: class centroids of the support features, cosine logits; no gradient steps.

Deviation: the Mc-Di paper writes that Meta-Baseline "exhibit[s] high latency ...
due to the need for gradient computation during fine-tuning"; Meta-Baseline as
published does no test-time fine-tuning, and this implementation follows the
original paper, so its measured latency is that of a forward pass plus centroids.
The meta stage runs ``meta_iters`` batches (paper: ~ 200 epochs x 200 batches on
mini-ImageNet, best epoch by validation; here a fixed count, no model selection).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from benchmark.optim import checked_step

from .base import FeatureMethod, class_means


def cosine_logits(centroids: torch.Tensor, qf: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
    """``tau * cos(q, c)``: ``centroids`` ``[E, way, d]``, ``qf`` ``[E, nq, d]`` -> ``[E, nq, way]``.

    Example:
        >>> centroids = torch.tensor([[[1., 0], [0, 1]]])                 # E = 1, way = 2, d = 2
        >>> cosine_logits(centroids, torch.tensor([[[2., 0], [1, 1]]]), tau=10.0).tolist()
        [[[10.0, 0.0], [7.071..., 7.071...]]]
    """
    return tau * F.normalize(qf, dim=-1) @ F.normalize(centroids, dim=-1).transpose(1, 2)


class MetaBaseline(FeatureMethod):
    """Meta-Baseline as a registered method: the body fine-tuned on episodes, cosine nearest centroid.

    Example:
        >>> from methods import get_method
        >>> get_method("meta-baseline") is MetaBaseline, MetaBaseline.ANY_WAY
        (True, True)
        >>> MetaBaseline.DEFAULTS["cpu"]["tau"], MetaBaseline.DEFAULTS["cpu"]["meta_iters"]
        (10.0, 60)
    """

    name = "meta-baseline"
    ANY_WAY = True                     # class centroids: any number of classes
    paper = "Chen et al. 2021, Meta-Baseline: Exploring Simple Meta-Learning for Few-Shot Learning"
    DEFAULTS = {
        "smoke": dict(meta_iters=10, tasks_per_step=2, lr=1e-3, momentum=0.9, weight_decay=5e-4, tau=10.0),
        "cpu": dict(meta_iters=60, tasks_per_step=4, lr=1e-3, momentum=0.9, weight_decay=5e-4, tau=10.0),
        "paper": dict(meta_iters=40000, tasks_per_step=4, lr=1e-3, momentum=0.9, weight_decay=5e-4, tau=10.0),
    }

    def eval_body(self):
        return self.body

    def meta_train(self) -> None:
        ctx, hp = self.ctx, self.hp
        self.body = copy.deepcopy(ctx.body).train()
        self.tau = torch.nn.Parameter(torch.tensor(float(hp["tau"]), device=ctx.device))
        opt = torch.optim.SGD(list(self.body.parameters()) + [self.tau], lr=hp["lr"], momentum=hp["momentum"],
                              weight_decay=hp["weight_decay"])
        sampler = ctx.train_sampler()
        T = hp["tasks_per_step"]
        iters = hp["meta_iters"]
        for it in tqdm(range(iters), desc="meta-baseline meta stage", disable=not ctx.progress, leave=False):
            if self.selector is not None and self.selector.due(it, iters):
                self.body.eval()
                self.selector.score(it)
                self.body.train()
            if self.selector is not None and self.selector.exhausted(it):   # budget_cpu_s spent
                iters = it
                break
            eps = sampler.episodes(T, start=it * T)
            idx = torch.cat([torch.cat([e.support, e.query]) for e in eps])
            f = self.body(ctx.images("train", idx))
            f = f.view(T, len(f) // T, f.shape[1])
            ns = len(eps[0].support)
            sy = torch.stack([e.support_labels for e in eps]).to(ctx.device)
            qy = torch.cat([e.query_labels for e in eps]).to(ctx.device)
            logits = cosine_logits(class_means(f[:, :ns], sy, ctx.way), f[:, ns:], self.tau)
            loss = F.cross_entropy(logits.reshape(-1, ctx.way), qy)
            checked_step(opt, loss, lambda: f"meta-baseline meta stage: the loss became non-finite at iteration "
                                            f"{it} (lr={hp['lr']}); the training diverged")
        self.body.eval()
        if self.selector is not None:
            self.selector.score(iters)

    def adapt_features(self, sf, sy, way):
        return class_means(sf, sy, way)

    def predict_features(self, centroids, qf):
        return cosine_logits(centroids, qf, self.tau.item())

    def state_dict(self):
        return {"body": self.body.state_dict(), "tau": self.tau.item()}

    def load_state_dict(self, state):
        self.body = copy.deepcopy(self.ctx.body)
        self.body.load_state_dict(state["body"])
        self.body.eval()
        self.tau = torch.nn.Parameter(torch.tensor(state["tau"]))
