"""Heads (the generated part): a linear probe or a 2-layer MLP, in functional form.

Head parameters are a dict of tensors with an optional leading batch dimension
(one head per task), so thousands of heads run as one batched matmul.

Example:
    >>> p = init_head("linear", feat_dim=8, way=5, generator=torch.Generator().manual_seed(0))
    >>> head_forward("linear", p, torch.zeros(3, 8)).shape
    torch.Size([3, 5])
"""
from __future__ import annotations

import math

import torch

HEADS = ("linear", "mlp")


def head_shapes(kind: str, feat_dim: int, way: int, hidden: int = 64) -> dict:
    """Parameter shapes of a ``kind`` head (:data:`HEADS`) on ``feat_dim`` features for ``way`` classes.

    Example:
        >>> head_shapes("linear", 8, 5)
        {'w': (5, 8), 'b': (5,)}
        >>> head_shapes("mlp", 8, 5, hidden=16)
        {'w1': (16, 8), 'b1': (16,), 'w2': (5, 16), 'b2': (5,)}
    """
    if kind == "linear":
        return {"w": (way, feat_dim), "b": (way,)}
    if kind == "mlp":
        return {"w1": (hidden, feat_dim), "b1": (hidden,), "w2": (way, hidden), "b2": (way,)}
    raise KeyError(f"unknown head {kind!r}; choose one of {HEADS}")


def init_head(kind: str, feat_dim: int, way: int, generator: torch.Generator | None = None,
              batch: tuple = (), hidden: int = 64, std: float | None = None) -> dict:
    """Gaussian initialisation ``theta_0`` (std 1/sqrt(fan_in) unless given); biases zero.

    Example:
        >>> p = init_head("mlp", feat_dim=8, way=5, generator=torch.Generator().manual_seed(0), batch=(3,), hidden=16)
        >>> {k: tuple(v.shape) for k, v in p.items()}, bool((p["b2"] == 0).all())
        ({'w1': (3, 16, 8), 'b1': (3, 16), 'w2': (3, 5, 16), 'b2': (3, 5)}, True)
    """
    out = {}
    for name, shape in head_shapes(kind, feat_dim, way, hidden).items():
        if name.startswith("b"):
            out[name] = torch.zeros(*batch, *shape)
        else:
            s = std if std is not None else 1.0 / math.sqrt(shape[1])
            out[name] = torch.randn(*batch, *shape, generator=generator) * s
    return out


def head_forward(kind: str, params: dict, x: torch.Tensor) -> torch.Tensor:
    """Logits of ``x`` (``[..., n, d]``) under ``params`` (leading dims broadcast).

    Example:
        >>> p = init_head("linear", 8, 5, torch.Generator().manual_seed(0), batch=(4,))      # 4 tasks' heads
        >>> head_forward("linear", p, torch.randn(4, 15, 8)).shape                            # 15 queries each
        torch.Size([4, 15, 5])
    """
    if kind == "linear":
        return x @ params["w"].transpose(-1, -2) + params["b"].unsqueeze(-2)
    h = torch.relu(x @ params["w1"].transpose(-1, -2) + params["b1"].unsqueeze(-2))
    return h @ params["w2"].transpose(-1, -2) + params["b2"].unsqueeze(-2)
