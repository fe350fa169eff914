"""Batched inner loops shared by every REPTILE-style method (REPTILE itself and,
in Mc-Di's Algorithm 2, the denoiser's inner loop): B independent copies of the
parameters each take ``steps`` optimiser steps on their own data, computed as
one vmapped computation (``torch.func.vmap(torch.func.grad(loss))``) rather than
B sequential copies. A single copy (B = 1: one task's test-time adaptation, the step a latency
column times) takes a plain autograd pass instead, 1.4-1.7x faster than vmap over a batch of one
(reproduce/perf.py, (a)); its gradients agree with the vmapped ones to float rounding.

Example:
    >>> loss = lambda p, x, y: ((x @ p["w"] - y) ** 2).mean()
    >>> p = {"w": torch.zeros(4, 3, 1)}                     # B = 4 copies
    >>> x, y = torch.randn(4, 8, 3), torch.randn(4, 8, 1)
    >>> out = batched_adam(loss, p, lambda s: (x, y), steps=2, lr=0.1)
    >>> out["w"].shape
    torch.Size([4, 3, 1])
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch.func import grad, vmap


def batched_adam(loss_fn: Callable, params: dict, batch_fn: Callable[[int], tuple], steps: int, lr: float,
                 betas=(0.9, 0.999), eps: float = 1e-8, copies_loss: Callable | None = None) -> dict:
    """Run Adam on B stacked parameter sets; ``batch_fn(step)`` returns the step's data
    (tensors with a leading B dimension). ``loss_fn(params, *data)`` is per-copy.
    ``copies_loss(stacked params, *data)``, where given, computes the sum of all B > 1 copies'
    losses in one pass (a network written for it, e.g. ``UNet1D.forward_copies``): its gradient is
    taken instead of vmap's. One copy always takes a plain autograd pass of ``loss_fn``. The update
    is ``torch.optim.Adam``'s, applied with multi-tensor (``_foreach``) ops.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> loss = lambda p, x, y: ((x @ p["w"] - y) ** 2).mean()
        >>> p, x, y = {"w": torch.zeros(2, 3, 1)}, torch.randn(2, 8, 3), torch.randn(2, 8, 1)
        >>> fast = batched_adam(loss, p, lambda s: (x, y), steps=3, lr=0.1)
        >>> slow = sequential_adam(loss, p, lambda s: (x, y), steps=3, lr=0.1)
        >>> bool(torch.allclose(fast["w"], slow["w"], atol=1e-6))
        True
    """
    keys = list(params)
    if next(iter(params.values())).shape[0] == 1:
        grad_fn = _one_copy_grad(loss_fn)
    elif copies_loss is not None:
        grad_fn = _summed_grad(copies_loss)
    else:
        grad_fn = vmap(grad(loss_fn))
    p = [params[k].detach().clone() for k in keys]
    m = [torch.zeros_like(v) for v in p]
    v2 = [torch.zeros_like(v) for v in p]
    b1, b2 = betas
    for s in range(1, steps + 1):
        g = grad_fn(dict(zip(keys, p)), *batch_fn(s - 1))
        g = [g[k] for k in keys]
        torch._foreach_mul_(m, b1)
        torch._foreach_add_(m, g, alpha=1 - b1)
        torch._foreach_mul_(v2, b2)
        torch._foreach_addcmul_(v2, g, g, value=1 - b2)
        denom = torch._foreach_sqrt(v2)
        torch._foreach_div_(denom, math.sqrt(1 - b2 ** s))
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(p, m, denom, value=-lr / (1 - b1 ** s))
    return dict(zip(keys, p))


def _one_copy_grad(loss_fn: Callable) -> Callable:
    """``vmap(grad(loss_fn))`` for a batch of one copy, as one plain autograd pass."""
    return _summed_grad(lambda p, *data: loss_fn({k: v[0] for k, v in p.items()}, *(d[0] for d in data)))


def _summed_grad(copies_loss: Callable) -> Callable:
    """Per-copy gradients as the gradient of the copies' summed loss (the copies share nothing)."""
    def grad_fn(params: dict, *data):
        with torch.enable_grad():
            p = {k: v.detach().requires_grad_(True) for k, v in params.items()}
            g = torch.autograd.grad(copies_loss(p, *data), list(p.values()), allow_unused=True)
        return {k: torch.zeros_like(p[k]) if gk is None else gk for k, gk in zip(p, g)}
    return grad_fn


def sequential_adam(loss_fn: Callable, params: dict, batch_fn: Callable[[int], tuple], steps: int, lr: float,
                    betas=(0.9, 0.999), eps: float = 1e-8) -> dict:
    """Reference: the same as :func:`batched_adam`, one copy at a time with ``torch.optim.Adam``.

    Example:
        >>> loss = lambda p, x: ((p["w"] - x) ** 2).sum()
        >>> out = sequential_adam(loss, {"w": torch.zeros(2, 3)}, lambda s: (torch.ones(2, 3),), steps=1, lr=0.1)
        >>> out["w"].shape, round(out["w"].min().item(), 4)          # Adam's first step moves each weight by lr
        (torch.Size([2, 3]), 0.1)
    """
    B = next(iter(params.values())).shape[0]
    outs = []
    for b in range(B):
        p = {k: v[b].detach().clone().requires_grad_(True) for k, v in params.items()}
        opt = torch.optim.Adam(p.values(), lr=lr, betas=betas, eps=eps)
        for s in range(steps):
            data = tuple(d[b] for d in batch_fn(s))
            opt.zero_grad()
            loss_fn(p, *data).backward()
            opt.step()
        outs.append({k: v.detach() for k, v in p.items()})
    return {k: torch.stack([o[k] for o in outs]) for k in params}


def check_finite(params: dict, loop: str, it: int, setting: str = "learning rate") -> None:
    """Stop a training whose parameters became NaN/inf, naming the loop, the iteration and the
    setting to lower (a diverged model must never be cached or evaluated as if it were one).

    Example:
        >>> check_finite({"w": torch.tensor([float("nan")])}, "demo", 3)
        Traceback (most recent call last):
        ...
        FloatingPointError: demo: parameters w became non-finite by iteration 3; the training diverged (lower its learning rate)
    """
    bad = [k for k, v in params.items() if not torch.isfinite(v).all()]
    if bad:
        raise FloatingPointError(f"{loop}: parameters {', '.join(bad[:3])} became non-finite by iteration {it}; "
                                 f"the training diverged (lower its {setting})")


def stack_params(params: dict, B: int) -> dict:
    """B copies of a parameter dict along a new leading dimension.

    Example:
        >>> p = {"w": torch.ones(3, 2)}
        >>> s = stack_params(p, B=4)
        >>> s["w"][0] += 1                                   # the copies are independent of p and of each other
        >>> s["w"].shape, p["w"].sum().item(), s["w"][1].sum().item()
        (torch.Size([4, 3, 2]), 6.0, 6.0)
    """
    return {k: v.detach().unsqueeze(0).expand(B, *v.shape).clone() for k, v in params.items()}


def cyclic_minibatches(n: int, batch: int, steps: int, B: int, g: torch.Generator) -> torch.Tensor:
    """``[steps, B, batch]`` indices: each copy walks through its own random permutations
    of ``range(n)`` without replacement, re-shuffling at each pass (REPTILE's inner batching).

    Example:
        >>> idx = cyclic_minibatches(n=6, batch=4, steps=3, B=2, g=torch.Generator().manual_seed(0))
        >>> idx.shape
        torch.Size([3, 2, 4])
        >>> sorted(idx[:, 0].flatten()[:6].tolist())        # copy 0's first pass: every index once
        [0, 1, 2, 3, 4, 5]
    """
    batch = min(batch, n)
    passes = -(-steps * batch // n)
    perms = torch.argsort(torch.rand(B, passes, n, generator=g), dim=-1).reshape(B, passes * n)
    return perms[:, : steps * batch].reshape(B, steps, batch).transpose(0, 1)
