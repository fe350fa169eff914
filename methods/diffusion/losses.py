"""Training objectives of the diffusion weight generators, one short function each.

All take the denoiser's prediction ``eps_pred = eps_phi(x_t, t, Emb)`` through a
callable so that the noising (which depends on the loss) stays here.

Example:
    >>> from methods.diffusion.schedule import linear_alphas
    >>> a = linear_alphas(6); theta = torch.randn(2, 5)
    >>> t = torch.tensor([0, 1]); eps = torch.randn(2, 5)
    >>> model = lambda x, t: torch.zeros_like(x)
    >>> bool(torch.isclose(local_consistency_loss(model, theta, t, eps, a, s_i=6, weighting="unweighted"),
    ...                    vanilla_loss(model, theta, t, eps, a)))
    True
    >>> t = torch.tensor([2, 3])     # Lt-Di: only the segment [s_prev, s_i) = [2, 4)
    >>> bool(torch.isclose(trajectory_loss(model, theta, t, eps, a, s_i=4, s_prev=2),
    ...                    local_consistency_loss(model, theta, t, eps, a, s_i=4)))
    True
"""
from __future__ import annotations

import torch

from .schedule import alpha_bar, alpha_bar_local


def denoising_loss(model, theta, eps, t, coef):
    """The common form of every objective here: ``x_t = a theta + b eps`` and
    ``|| c eps_phi(x_t, t) - e eps ||^2`` summed over weights, averaged over draws, with
    per-draw coefficients ``coef = (a, b, c, e)`` from :func:`coefficients`.

    Example:
        >>> from methods.diffusion.schedule import linear_alphas
        >>> a, t = linear_alphas(6), torch.tensor([0, 3])
        >>> theta, eps = torch.ones(2, 5), torch.full((2, 5), 0.5)
        >>> float(denoising_loss(lambda x, t: eps, theta, eps, t, coefficients("vanilla", a, t)))   # exact noise
        0.0
        >>> float(denoising_loss(lambda x, t: 0 * x, theta, eps, t, coefficients("vanilla", a, t)))  # sum of eps^2
        1.25
    """
    a, b, c, e = (v.view(-1, *([1] * (theta.dim() - 1))).to(theta.dtype) for v in coef)
    x_t = a * theta + b * eps
    return ((c * model(x_t, t) - e * eps) ** 2).flatten(1).sum(1).mean()


def denoising_loss_copies(model, theta, eps, t, coef):
    """:func:`denoising_loss` of B independent copies at once, summed over the copies (so its
    gradient with respect to copy b's parameters is copy b's own): ``theta`` ``[B, P]``, ``eps``
    ``[B, D, P]``, ``t`` and each coefficient ``[B, D]``; ``model(x [B, D, P], t [B, D])``.

    Example:
        >>> from methods.diffusion.schedule import linear_alphas
        >>> g = torch.Generator().manual_seed(0)
        >>> theta, eps = torch.randn(3, 5, generator=g), torch.randn(3, 4, 5, generator=g)
        >>> t = torch.tensor([[0, 1, 2, 5]] * 3)
        >>> coef = coefficients("vanilla", linear_alphas(6), t)
        >>> zero = lambda x, t: 0 * x
        >>> each = sum(denoising_loss(zero, theta[b].expand(4, 5), eps[b], t[b], [c[b] for c in coef])
        ...            for b in range(3))
        >>> bool(torch.isclose(denoising_loss_copies(zero, theta, eps, t, coef), each))
        True
    """
    a, b, c, e = (v.unsqueeze(-1).to(theta.dtype) for v in coef)
    x_t = a * theta.unsqueeze(1) + b * eps
    return ((c * model(x_t, t) - e * eps) ** 2).sum(-1).mean(-1).sum()


WEIGHTINGS = ("paper", "unweighted", "weighted-all")


def coefficients(kind: str, alphas: torch.Tensor, t: torch.Tensor, s_i: torch.Tensor | int | None = None,
                 weighting: str = "paper") -> tuple:
    """Per-draw ``(a, b, c, e)`` of :func:`denoising_loss` for ``kind`` "vanilla" (Eq. 1) or
    "local" (Eq. 3, target reached at step ``s_i``, which may differ per draw).

    ``weighting`` (docs/readings.md, "loss weighting"): ``"paper"`` - Eq. 3 as written for "local",
    Eq. 1 for "vanilla" (Proposition 1: for k = 1 the coefficients "can be simplified");
    ``"unweighted"`` - Eq. 3 divided by (1 - abar^i_t), which is Eq. 1 for k = 1, so every
    objective has Eq. 1's per-step weight; ``"weighted-all"`` - Eq. 3's per-step factor
    (1 - abar_t) on the vanilla objective too (what this harness did before the option existed).

    Example:
        >>> from methods.diffusion.schedule import linear_alphas
        >>> a, t = linear_alphas(6), torch.tensor([0, 5])
        >>> [[round(float(v), 4) for v in x] for x in coefficients("vanilla", a, t)]       # Eq. 1
        [[0.5909, 0.995], [0.8067, 0.1], [1.0, 1.0], [1.0, 1.0]]
        >>> local = coefficients("local", a, t, s_i=6, weighting="unweighted")        # k = 1: Eq. 1 again
        >>> all(torch.allclose(u, v) for u, v in zip(local, coefficients("vanilla", a, t)))
        True
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    T = len(alphas)
    ab = alpha_bar(alphas)[t]
    if kind == "vanilla" and weighting == "weighted-all":
        kind, s_i = "local", T                            # Eq. 3 with the target at the chain's end
    if kind == "vanilla":
        one = torch.ones_like(ab)
        return ab.sqrt(), (1 - ab).sqrt(), one, one       # Eq. 1
    if kind != "local":
        raise ValueError(f"unknown objective {kind!r}")
    s_i = torch.as_tensor(s_i).expand_as(t)
    if (t >= s_i).any() or (s_i > T).any():
        raise ValueError("local consistency loss needs t < s_i <= T")
    table = alpha_bar_table(alphas)                       # [T+1, T+1]: table[s, t] = abar^{(s)}_t
    ab_i = table[s_i, t]
    if weighting == "unweighted":
        return ab_i.sqrt(), (1 - ab_i).sqrt(), torch.ones_like(ab), ((1 - ab) / (1 - ab_i)).sqrt()
    return ab_i.sqrt(), (1 - ab_i).sqrt(), (1 - ab_i).sqrt(), (1 - ab).sqrt()    # Eq. 3


def alpha_bar_table(alphas: torch.Tensor) -> torch.Tensor:
    """``table[s, t] = prod_{j=t}^{s-1} alphas[j]`` (1 for t >= s): abar^i_t for s = s_i.

    Example:
        >>> from methods.diffusion.schedule import alpha_bar, alpha_bar_local, linear_alphas
        >>> a = linear_alphas(3); table = alpha_bar_table(a)
        >>> table.shape, torch.equal(table[3], alpha_bar(a)), torch.equal(table[2, :3], alpha_bar_local(a, 2))
        (torch.Size([4, 4]), True, True)
    """
    T = len(alphas)
    table = torch.ones(T + 1, T + 1, dtype=alphas.dtype)
    for s in range(1, T + 1):
        table[s, : s + 1] = alpha_bar_local(alphas, s)
    return table


def vanilla_loss(model, theta: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, alphas: torch.Tensor):
    """Eq. 1: ``|| eps_phi(x_t, t) - eps ||^2`` with ``x_t = sqrt(abar_t) theta + sqrt(1-abar_t) eps``,
    t in [0, T). Mv-Di's objective (== local consistency with k = 1) and, on local targets, Tw-Di's.

    Example:
        >>> from methods.diffusion.schedule import linear_alphas
        >>> eps = torch.full((2, 5), 0.5)
        >>> float(vanilla_loss(lambda x, t: 0 * x, torch.ones(2, 5), torch.tensor([0, 3]), eps, linear_alphas(6)))
        1.25
    """
    return denoising_loss(model, theta, eps, t, coefficients("vanilla", alphas, t))


def local_consistency_loss(model, theta_i: torch.Tensor, t: torch.Tensor, eps: torch.Tensor,
                           alphas: torch.Tensor, s_i: int, weighting: str = "paper"):
    """Eq. 3, the local consistency loss L^i for the target ``theta_i`` = theta_{i*d}, reached at
    step ``s_i`` = i*T/k, with t in [0, s_i):

        x_t = sqrt(abar^i_t) theta_i + sqrt(1 - abar^i_t) eps
        L^i = || sqrt(1 - abar^i_t) eps_phi(x_t, t) - sqrt(1 - abar_t) eps ||^2      ("paper")

    ``weighting="unweighted"`` divides each term by (1 - abar^i_t) (the per-t weight that
    Appendix B's "can be simplified" drops): same minimiser per t, and exactly Eq. 1 for k = 1.

    Example:
        >>> from methods.diffusion.schedule import linear_alphas
        >>> theta, eps = torch.ones(2, 5), torch.full((2, 5), 0.5)
        >>> local_consistency_loss(lambda x, t: 0 * x, theta, torch.tensor([0, 4]), eps, linear_alphas(6), s_i=4)
        Traceback (most recent call last):
        ...
        ValueError: local consistency loss needs t < s_i <= T
    """
    return denoising_loss(model, theta_i, eps, t, coefficients("local", alphas, t, s_i, weighting))


def trajectory_loss(model, theta_i: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, alphas: torch.Tensor,
                    s_i: int, s_prev: int, weighting: str = "paper"):
    """Lt-Di's trajectory loss (Lt-Di Eq. 2), term L_i, written in Mc-Di's reversed indexing.

    Lt-Di (standard indexing, x_0 the weights) puts trajectory point theta_i at chain position
    k = r(i) = i*T/m and trains it only on the segment above it, ``1{t in (k, r(i+1)]}``,
    with the same per-term form as Eq. 3. Reversed (step s = T - position), theta_i is reached
    at step ``s_i`` and its noise levels are t in [s_prev, s_i), ``s_prev`` being the step of the
    next trajectory point towards the noise (0 for the first). So L_i is Eq. 3's L^i with t
    restricted to that one segment (Mc-Di lets t run over the whole prefix [0, s_i)).

    Example:
        >>> from methods.diffusion.schedule import linear_alphas
        >>> theta, eps = torch.ones(2, 5), torch.full((2, 5), 0.5)
        >>> trajectory_loss(lambda x, t: 0 * x, theta, torch.tensor([0, 3]), eps, linear_alphas(6), s_i=4, s_prev=2)
        Traceback (most recent call last):
        ...
        ValueError: trajectory loss needs s_prev=2 <= t < s_i=4
    """
    t = torch.as_tensor(t)
    if (t < s_prev).any() or (t >= s_i).any():
        raise ValueError(f"trajectory loss needs s_prev={s_prev} <= t < s_i={s_i}")
    return local_consistency_loss(model, theta_i, t, eps, alphas, s_i, weighting)
