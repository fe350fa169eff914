"""ICIS (Christensen, Mancini, Koepke, Winther & Akata 2023, "Image-free Classifier
Injection for Zero-Shot Classification"), on few-shot tasks.

ICIS's mechanism: a weight generator maps a class's *descriptor* to that class's row of
the classifier, trained (single-level, no images needed) to reproduce the rows of known
classes, with a cosine loss on the predicted rows and an autoencoder-style
reconstruction of the descriptor from the row (weights -> descriptor) that regularises the
mapping; new classes get rows from their descriptors.

Here (the issue's reading for few-shot tasks): the descriptor of a class is its support
features' mean on the frozen body (standardised); the known rows are those of the heads
theta_M prepared by Algorithm 1 on meta-train tasks (row c of a task's head belongs to its
class c); the generator and the reverse map are MLPs applied to each class independently,
trained with Adam on mini-batches of (descriptor, row) pairs with
``(1 - cos) + mse`` on the row and ``(1 - cos)`` on the reconstructed descriptor.

Like the other generators here, the row generator also has the aligned skip
``w_c[j] += gain[j] * desc_c[j]`` (a learnt gain, initialised at 0).

Deviation (docs/methods.md): ICIS's descriptors are attribute vectors or text embeddings of
the class names and its rows come from an ImageNet-pretrained classifier; neither exists for
a few-shot task here, so both come from the task's support set and Algorithm 1.

Example:
    >>> net = RowGenerator(desc_dim=8, row_dim=9, hidden=16)
    >>> net.rows(torch.randn(2, 5, 8)).shape
    torch.Size([2, 5, 9])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from benchmark.seeding import derive_seed, generator

from .trainers import PlainConfig, plain_train
from .prepared import HeadGenerator, prep_defaults


def _mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, o))


class RowGenerator(nn.Module):
    """descriptor -> classifier row (``rows``) and row -> descriptor (``back``).

    Example:
        >>> net = RowGenerator(desc_dim=4, row_dim=5, hidden=8)
        >>> loss = net(torch.randn(10, 4), torch.randn(10, 5))             # 10 (descriptor, row) pairs
        >>> loss.shape, bool(loss > 0), net.gain.abs().sum().item()      # the aligned skip starts at 0
        (torch.Size([]), True, 0.0)
    """

    def __init__(self, desc_dim: int, row_dim: int, hidden: int = 256, recon: float = 1.0):
        super().__init__()
        self.recon = recon
        self.fwd = _mlp(desc_dim, hidden, row_dim)
        self.back = _mlp(row_dim, hidden, desc_dim)
        self.gain = nn.Parameter(torch.zeros(desc_dim))     # the aligned skip: w_c[j] += gain[j] desc_c[j]

    def rows(self, desc: torch.Tensor) -> torch.Tensor:
        out = self.fwd(desc)
        return torch.cat([out[..., :-1] + self.gain * desc, out[..., -1:]], -1)

    def forward(self, desc: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        """The training loss of one batch of (descriptor, row) pairs."""
        pred = self.rows(desc)
        loss = (1 - F.cosine_similarity(pred, row, dim=-1)).mean() + ((pred - row) ** 2).mean()
        return loss + self.recon * (1 - F.cosine_similarity(self.back(pred), desc, dim=-1)).mean()


class ICIS(HeadGenerator):
    """ICIS as a registered head generator: a :class:`RowGenerator` learnt from prepared heads.

    Example:
        >>> from methods import get_method
        >>> get_method("icis") is ICIS, ICIS.ANY_WAY
        (True, True)
        >>> ICIS.DEFAULTS["cpu"]["iters"], ICIS.DEFAULTS["cpu"]["recon"]
        (600, 1.0)
    """

    name = "icis"
    ANY_WAY = True                     # rows generated class by class
    paper = "Christensen et al. 2023, Image-free Classifier Injection for Zero-Shot Classification (ICCV)"
    _hp = prep_defaults(hidden=256, recon=1.0, iters=600, batch=64, train_lr=1e-3)
    DEFAULTS = {"smoke": dict(_hp, tasks=64, iters=150, hidden=64), "cpu": _hp,
                "paper": dict(_hp, tasks=20000, iters=50000, batch=256)}

    def _build(self, P: int, emb_dim: int) -> None:
        torch.manual_seed(derive_seed(self.ctx.seed, "icis-init") % 2 ** 31)
        d = emb_dim // self.ctx.way
        self.net = RowGenerator(d, d + 1, self.hp["hidden"], self.hp["recon"]).to(self.ctx.device)

    def meta_train(self) -> None:
        ctx, hp = self.ctx, self.hp
        rows, desc = self._theta_M_data(rows=True)                               # [E*way, d+1], [E*way, d]
        g = generator(ctx.seed, "icis-train")

        def draw(it):
            j = torch.randint(0, len(rows), (1, hp["batch"]), generator=g)
            return (lambda s: (desc[j], rows[j])), None

        plain_train(self.net, lambda p, x, y: functional_call(self.net, p, (x, y)), draw,
                    PlainConfig(iters=hp["iters"], lr=hp["train_lr"]), ctx.progress, f"{self.name} train",
                    select=self.selector, store=ctx.store)
        self.net.eval()

    @torch.no_grad()
    def generate(self, protos: torch.Tensor) -> torch.Tensor:
        desc = self._emb(protos).view(protos.shape)                                 # [E, way, d]
        return self._denorm(self._flat(self.net.rows(desc)), protos.shape[1])
