"""Noise schedules as plain functions (reversed indexing of the Mc-Di paper).

``alphas[t]`` for t = 0..T-1 is *increasing*: step 0 (pure noise) removes the most
noise. The cumulative products are

    abar_t   = prod_{j=t}^{T-1} alpha_j                 (abar_T = 1)      -- Sec. 2.2
    abar^i_t = prod_{j=t}^{s_i - 1} alpha_j, s_i = i*T/k (abar^i_{s_i} = 1) -- Eq. 3

Example:
    >>> a = linear_alphas(4)
    >>> bool((a[1:] > a[:-1]).all())
    True
    >>> float(alpha_bar(a)[-1])
    1.0
"""
from __future__ import annotations

import math

import torch


def linear_alphas(T: int, beta_start: float = 0.01, beta_end: float = 0.3) -> torch.Tensor:
    """DDPM's linear beta schedule from ``beta_start`` to ``beta_end``, alpha = 1 - beta,
    reversed so that alpha increases with t (the default; see docs/readings.md).

    Example:
        >>> [round(float(a), 4) for a in linear_alphas(4)]          # betas 0.01 ... 0.3, reversed
        [0.7, 0.7967, 0.8933, 0.99]
    """
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    return (1.0 - betas).flip(0)


def cosine_alphas(T: int, s: float = 0.008, min_alpha: float = 1e-3) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule, reversed, each alpha clipped to >= ``min_alpha``.

    Example:
        >>> [round(float(a), 4) for a in cosine_alphas(4)]          # the first (noisiest) step clipped
        [0.001, 0.2921, 0.583, 0.847]
    """
    steps = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
    alphas_ddpm = (f[1:] / f[:-1]).clamp(min=min_alpha, max=0.9999)
    return alphas_ddpm.flip(0)


def linear_noise_alphas(T: int, beta_start: float = 0.01, beta_end: float = 0.65) -> torch.Tensor:
    """The linear schedule with a larger last beta, so that every local target's chain starts at
    noise: with T = 20, k = 3, ``abar^i_0`` = 0.0064, 0.00031, 0.00013 for i = 1, 2, 3 (the
    default ``linear`` gives 0.16, 0.046, 0.031), while the smallest alpha stays 0.35 (the
    sampler's first step divides by sqrt(0.35) = 0.59, not by sqrt(1e-3) as a clipped cosine
    does). The default: Eq. 3's x_t at t = 0 is then the sampler's x_0 ~ N(0, I) for every
    target, as Theorem 1's "recover ... from standard Gaussian noise x_0" needs.

    Example:
        >>> a = linear_noise_alphas(20)
        >>> [round(float(alpha_bar_local(a, s)[0]), 4) for s in target_steps(20, 3)]
        [0.0064, 0.0003, 0.0001]
    """
    return linear_alphas(T, beta_start, beta_end)


SCHEDULES = {"linear-noise": linear_noise_alphas, "linear": linear_alphas, "cosine": cosine_alphas}


def make_alphas(name: str, T: int, **kw) -> torch.Tensor:
    """Schedule by name ("linear-noise", "linear" or "cosine").

    Example:
        >>> make_alphas("cosine", 5).shape
        torch.Size([5])
        >>> make_alphas("sigmoid", 5)
        Traceback (most recent call last):
        ...
        ValueError: unknown schedule 'sigmoid'; choose one of ['cosine', 'linear', 'linear-noise']
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}")
    return SCHEDULES[name](T, **kw)


def alpha_bar(alphas: torch.Tensor) -> torch.Tensor:
    """``abar[t] = prod_{j=t}^{T-1} alphas[j]`` for t = 0..T (length T+1, last entry 1).

    Example:
        >>> [round(float(a), 4) for a in alpha_bar(linear_alphas(3))]   # alphas 0.7, 0.845, 0.99
        [0.5856, 0.8366, 0.99, 1.0]
    """
    rev_cumprod = torch.cumprod(alphas.flip(0), 0).flip(0)
    return torch.cat([rev_cumprod, torch.ones(1, dtype=alphas.dtype)])


def target_steps(T: int, k: int, strict: bool = False) -> list:
    """``s_i = floor(i*T/k)`` for i = 1..k, the steps at which the chain should pass the local
    targets (s_k = T). The paper's defaults k = 3, T = 20 make i*T/k fractional, so the
    default reading floors it (6, 13, 20); ``strict=True`` requires k to divide T.

    Example:
        >>> target_steps(20, 3)
        [6, 13, 20]
    """
    if k < 1 or k > T:
        raise ValueError(f"segment number k={k} must be between 1 and the diffusion steps T={T}")
    if strict and T % k:
        raise ValueError(f"diffusion steps T={T} must be divisible by the segment number k={k} "
                         f"(strict_segments); use T={T - T % k} or T={T + k - T % k}")
    return [i * T // k for i in range(1, k + 1)]


def segment_starts(s_of: torch.Tensor) -> torch.Tensor:
    """First step of each target's own segment ``[s_{i-1}, s_i)`` (s_0 = 0): the t range of Lt-Di's
    Eq. 2, where each trajectory point is trained only between the previous point and itself.

    Example:
        >>> segment_starts(torch.tensor(target_steps(20, 3))).tolist()
        [0, 6, 13]
    """
    return torch.cat([s_of.new_zeros(1), s_of[:-1]])


def alpha_bar_local(alphas: torch.Tensor, s_i: int) -> torch.Tensor:
    """``abar^i[t] = prod_{j=t}^{s_i-1} alphas[j]`` for t = 0..s_i (length s_i+1, last entry 1).

    Example:
        >>> [round(float(a), 4) for a in alpha_bar_local(linear_alphas(3), 2)]   # 0.7 * 0.845, 0.845, 1
        [0.5915, 0.845, 1.0]
    """
    return alpha_bar(alphas[:s_i])
