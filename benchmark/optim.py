"""One guarded optimiser step, shared by every plain training loop (body pretraining, Meta-Baseline's
meta stage, Table 5's fine-tuning): a non-finite loss is one clear error, never a silent NaN model.

Example:
    >>> w = torch.nn.Parameter(torch.ones(2)); opt = torch.optim.SGD([w], lr=0.1)
    >>> checked_step(opt, (w ** 2).sum(), lambda: "diverged")
    >>> w.tolist()
    [0.800000011920929, 0.800000011920929]
"""
from __future__ import annotations

import torch


def checked_step(opt: torch.optim.Optimizer, loss: torch.Tensor, message) -> None:
    """``zero_grad``, ``backward``, ``step``; raises ``FloatingPointError(message())`` first if ``loss``
    is NaN/inf (``message`` is a callable so the text is built only on failure).

    Example:
        >>> w = torch.nn.Parameter(torch.ones(2)); opt = torch.optim.SGD([w], lr=0.1)
        >>> checked_step(opt, (w * float("nan")).sum(), lambda: "the demo training diverged")
        Traceback (most recent call last):
        ...
        FloatingPointError: the demo training diverged
        >>> w.tolist()                                               # not stepped
        [1.0, 1.0]
    """
    if not torch.isfinite(loss):
        raise FloatingPointError(message())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
