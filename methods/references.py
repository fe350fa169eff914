"""Reference rows (not methods of the papers; labelled "reference" in the tables).

- ``ref-target-head``: the heads a perfect generator would produce - theta_M of
  Algorithm 1 (Adam + SAM + augmentation, early stopping) run on each *test*
  task's support set, with the same preparation settings as Mc-Di's meta-train
  targets. It is an upper reference for every head generator, and its latency is
  that of gradient training of the head.
- ``ref-centroid``: a cosine nearest-centroid classifier on the same frozen body
  (Meta-Baseline without its meta stage): what the body alone gives.
"""
from __future__ import annotations

import torch

from benchmark.models.heads import head_forward
from benchmark.seeding import derive_seed
from benchmark.weights import PrepConfig, unflatten_head

from .base import FeatureMethod, accuracies, check_logits, chunks, class_means
from .mcdi import WeightDiffusion
from .prepared import support_heads, theta0_seed
from .meta_baseline import cosine_logits


class CentroidReference(FeatureMethod):
    """``ref-centroid``: cosine nearest centroid (tau = 1) on the frozen body's features.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> m = CentroidReference(NS(profile="cpu", cell=NS(dataset="omniglot", way=5)))
        >>> centroids = m.adapt_features(torch.tensor([[[1., 0], [0, 2]]]), torch.tensor([[0, 1]]), way=2)
        >>> m.predict_features(centroids, torch.tensor([[[3., 1], [0, 5]]])).argmax(-1).tolist(), m.REFERENCE
        ([[0, 1]], True)
    """

    name = "ref-centroid"
    REFERENCE = True
    ANY_WAY = True
    paper = "reference: cosine nearest centroid on the frozen body"
    DEFAULTS = {"smoke": {}, "cpu": {}, "paper": {}}

    def meta_train(self) -> None:
        self.ctx.body                                   # the shared body is all it needs

    def adapt_features(self, sf, sy, way):
        return class_means(sf, sy, way)

    def predict_features(self, centroids, qf):
        return cosine_logits(centroids, qf, 1.0)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class TargetHeadReference(FeatureMethod):
    """``ref-target-head``: theta_M of Algorithm 1 on each test task's support set, with Mc-Di's
    preparation settings.

    Example:
        >>> from methods import get_method, is_reference
        >>> get_method("ref-target-head") is TargetHeadReference, is_reference("ref-target-head")
        (True, True)
        >>> TargetHeadReference.DEFAULTS["cpu"]["sam"], TargetHeadReference.DEFAULTS["cpu"]["max_steps"]
        (True, 100)
    """

    name = "ref-target-head"
    REFERENCE = True
    ANY_WAY = True
    paper = "reference: theta_M of Algorithm 1 on the test task's support set"
    DEFAULTS = {p: {k: v for k, v in hp.items() if k in PrepConfig().to_dict()}
                for p, hp in WeightDiffusion.DEFAULTS.items()}

    def meta_train(self) -> None:
        self.ctx.body

    def readings(self) -> dict:
        return {"init": self.hp["init"]}

    def _heads(self, support_images: torch.Tensor, sy: torch.Tensor, way: int) -> dict:
        """``support_images`` ``[E, n, C, H, W]`` (normalised) -> theta_M heads."""
        cfg, seed = PrepConfig(**self.hp), self.ctx.seed
        prep, feats = support_heads(self.ctx, cfg, support_images.flatten(0, 1), sy, way,
                                    derive_seed(seed, "ref-augment"), derive_seed(seed, "ref-prep"), theta0_seed(seed))
        return unflatten_head(prep["trajectory"][:, -1].to(feats.device), cfg.head, feats.shape[-1], way)

    @torch.no_grad()
    def adapt(self, support_x, support_y):
        return self._heads(support_x.unsqueeze(0), support_y.unsqueeze(0), int(support_y.max()) + 1)

    def predict_features(self, head, qf):
        return head_forward(self.hp["head"], head, qf)

    @torch.no_grad()
    def episode_accuracies(self, split, episodes, chunk: int = 200):
        ctx = self.ctx
        feats = ctx.features(split)
        accs = []
        for eps in chunks(episodes, chunk):
            sx = torch.stack([ctx.images(split, e.support) for e in eps])
            sy = torch.stack([e.support_labels for e in eps]).to(ctx.device)
            heads = self._heads(sx, sy, eps[0].way)
            qf = torch.stack([feats[e.query] for e in eps]).to(ctx.device)
            logits = self.predict_features(heads, qf)
            check_logits(logits, self.name)
            accs.append(accuracies(logits, eps))
        return torch.cat(accs)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass
