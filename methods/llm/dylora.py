"""DyLoRA (Valipour et al., EACL 2023; the Mc-Di paper cites it as [54]): LoRA trained for every
rank at once. peft has no DyLoRA (its issue #289 was closed unimplemented), so this is a small
wrapper: each target ``nn.Linear`` gets ``A`` ``[r_max, in]`` and ``B`` ``[out, r_max]``; every
training step samples one rank ``b`` uniformly from ``1..r_max`` (shared by all modules) and the
update is truncated to it,

    h = W x + (alpha / b) * B[:, :b] A[:b] x,

and, in the paper's default ("frozen") mode, only the b-th row of A and column of B receive a
gradient (the lower ranks stay as trained). Evaluation uses ``r_max`` (or any rank set).

Example:
    >>> base = torch.nn.Linear(6, 4)
    >>> m = DyLoRALinear(base, r_max=3, alpha=3.0, seed=0)
    >>> with torch.no_grad(): _ = m.lora_B.normal_()
    >>> m.rank = 2
    >>> x = torch.randn(5, 6)
    >>> manual = base(x) + 1.5 * x @ m.lora_A[:2].T @ m.lora_B[:, :2].T
    >>> bool(torch.allclose(m(x), manual, atol=1e-6))
    True
"""
from __future__ import annotations

import math

import torch
from torch import nn


class DyLoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus DyLoRA's rank-``r_max`` update, truncated to the current ``rank`` b.

    Example:
        >>> m = DyLoRALinear(torch.nn.Linear(6, 4), r_max=3, alpha=3.0, seed=0)
        >>> m.rank = 2
        >>> [tuple(t.shape) for t in m.truncated()]                     # A[:b], B[:, :b]
        [(2, 6), (4, 2)]
        >>> m(torch.randn(5, 6)).sum().backward()
        >>> m.lora_B.grad.abs().sum(0).gt(0).tolist()                  # frozen mode: only column b-1 learns
        [False, True, False]
    """

    def __init__(self, base: nn.Linear, r_max: int, alpha: float, seed: int, frozen: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        self.base, self.r_max, self.alpha, self.frozen = base, r_max, alpha, frozen
        for p in base.parameters():
            p.requires_grad_(False)
        g = torch.Generator().manual_seed(seed)
        bound = 1 / math.sqrt(base.in_features)             # LoRA's init: A uniform (kaiming), B zero
        self.lora_A = nn.Parameter((torch.rand(r_max, base.in_features, generator=g) * 2 - 1) * bound)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r_max))
        self.dropout = nn.Dropout(dropout)
        self.rank = r_max

    def truncated(self) -> tuple:
        """``(A[:b], B[:, :b])``; in frozen mode rows/columns below b carry no gradient."""
        b = self.rank
        A, B = self.lora_A[:b], self.lora_B[:, :b]
        if self.frozen and self.training and b > 1:
            A = torch.cat([A[: b - 1].detach(), A[b - 1:]], 0)
            B = torch.cat([B[:, : b - 1].detach(), B[:, b - 1:]], 1)
        return A, B

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        A, B = self.truncated()
        return self.base(x) + (self.dropout(x) @ A.T @ B.T) * (self.alpha / self.rank)


def apply_dylora(model: nn.Module, targets, r_max: int, alpha: float, seed: int, frozen: bool = True,
                 dropout: float = 0.0) -> list:
    """Replace every ``nn.Linear`` whose name ends with one of ``targets`` by a :class:`DyLoRALinear`
    (in place); returns the new modules. Everything else is left as it is (trainable or not).

    Example:
        >>> model = nn.ModuleDict({"query": nn.Linear(4, 4), "key": nn.Linear(4, 4)})
        >>> mods = apply_dylora(model, ["query"], r_max=2, alpha=2.0, seed=0)
        >>> len(mods), type(model["query"]).__name__, type(model["key"]).__name__
        (1, 'DyLoRALinear', 'Linear')
        >>> apply_dylora(model, ["value"], r_max=2, alpha=2.0, seed=0)
        Traceback (most recent call last):
        ...
        ValueError: DyLoRA: no nn.Linear named ['value'] in the model
    """
    found = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear) and child_name in targets:
                wrapped = DyLoRALinear(child, r_max, alpha, seed + len(found), frozen, dropout)
                setattr(module, child_name, wrapped)
                found.append(wrapped)
    if not found:
        raise ValueError(f"DyLoRA: no nn.Linear named {sorted(targets)} in the model")
    return found


def set_rank(modules: list, b: int) -> None:
    """Set the rank b (``1..r_max``) that every module in ``modules`` uses from now on.

    Example:
        >>> mods = [DyLoRALinear(nn.Linear(4, 2), r_max=4, alpha=4.0, seed=0)]
        >>> set_rank(mods, 2)
        >>> mods[0].rank, mods[0](torch.zeros(1, 4)).shape
        (2, torch.Size([1, 2]))
        >>> set_rank(mods, 5)
        Traceback (most recent call last):
        ...
        ValueError: DyLoRA rank 5 outside 1..4
    """
    for m in modules:
        if not 1 <= b <= m.r_max:
            raise ValueError(f"DyLoRA rank {b} outside 1..{m.r_max}")
        m.rank = b
