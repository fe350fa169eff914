"""The deterministic inference chain of Mc-Di (Appendix D.1 without the sigma_z noise;
the paper omits it "for stable weight generation"):

    x_{t+1} = ( x_t - (1 - alpha_t) / sqrt(1 - abar_t) * eps_phi(x_t, t, Emb) ) / sqrt(alpha_t),

from ``x_0 ~ N(0, I)`` for t = 0..T-1. ``step()`` is one transition (diffusers-style);
``sample()`` runs the chain and can return every state (for the theorem diagnostic).

Fewer steps at inference (Figure 6, right: "diffusion steps vs. MSE"): ``sample(..., steps=S)``
runs the chain on S of the T steps, evenly spaced boundaries ``b_j = round(j*T/S)``, each jump
b_j -> b_{j+1} the same transition with alpha_t replaced by the product of the alphas it skips
(the respacing of Nichol & Dhariwal 2021); with S = T it is the chain above, step for step.

Example:
    >>> from methods.diffusion.schedule import linear_alphas
    >>> a = linear_alphas(4)
    >>> x = sample(lambda x, t: torch.zeros_like(x), torch.zeros(1, 3), a)
    >>> x.shape
    torch.Size([1, 3])
"""
from __future__ import annotations

import torch

from .schedule import alpha_bar


def _transition(a_t: float, ab_t: float) -> tuple:
    """``(c1, c2)`` of the transition above, ``x_{t+1} = (x_t - c1 * eps) / c2``."""
    return (1 - a_t) / (1 - ab_t) ** 0.5, a_t ** 0.5


def step(x_t: torch.Tensor, eps_pred: torch.Tensor, t: int, alphas: torch.Tensor,
         abar: torch.Tensor | None = None) -> torch.Tensor:
    """One deterministic transition x_t -> x_{t+1}.

    Example:
        >>> step(torch.ones(2), torch.zeros(2), 0, torch.tensor([0.25, 1.0]))   # eps = 0: x / sqrt(alpha_0)
        tensor([2., 2.])
    """
    abar = alpha_bar(alphas) if abar is None else abar
    c1, c2 = _transition(float(alphas[t]), float(abar[t]))
    return (x_t - c1 * eps_pred) / c2


def respaced(T: int, steps: int) -> list:
    """Boundaries ``[b_0 = 0, ..., b_S = T]`` of an S-step chain over T trained steps.

    Example:
        >>> respaced(20, 4)
        [0, 5, 10, 15, 20]
        >>> respaced(20, 3)
        [0, 7, 13, 20]
    """
    if not 1 <= steps <= T:
        raise ValueError(f"inference steps must be between 1 and the trained steps T={T}, got {steps}")
    return [int(round(j * T / steps)) for j in range(steps + 1)]


def chain_coefficients(alphas: torch.Tensor) -> list:
    """``[(c1_t, c2_t)]`` with ``x_{t+1} = (x_t - c1_t * eps) / c2_t``: :func:`step`'s constants as
    Python floats, so that a chain written with them (:func:`run_chain`) holds no tensor-to-number
    conversion and compiles as one graph.

    Example:
        >>> from methods.diffusion.schedule import linear_alphas
        >>> len(chain_coefficients(linear_alphas(4)))
        4
    """
    return [_transition(float(a), float(ab)) for a, ab in zip(alphas, alpha_bar(alphas))]


def run_chain(eps_at, x0: torch.Tensor, coefficients: list) -> torch.Tensor:
    """x_T of the chain above from ``x0``, with ``eps_at(x, t)`` taking the step as a Python int:
    :func:`sample` with all T steps, the same arithmetic, in a form ``torch.compile`` takes whole
    (the T denoiser calls and updates of one generation fused into one compiled function).

    Example:
        >>> from methods.diffusion.schedule import linear_alphas
        >>> a = linear_alphas(4)
        >>> run_chain(lambda x, t: torch.zeros_like(x), torch.ones(1, 3), chain_coefficients(a)).shape
        torch.Size([1, 3])
    """
    x = x0
    for t, (c1, c2) in enumerate(coefficients):
        x = (x - c1 * eps_at(x, t)) / c2
    return x


def compiled(fn):
    """``fn`` under ``torch.compile`` for inference on a CPU: static shapes (a new shape compiles
    anew) and inductor's C++ wrapper, which calls the compiled kernels from C++ rather than Python -
    for a chain of small kernels that wrapper is most of the gain (reproduce/perf.py, (a)).

    Example (compiles on its first call, seconds to minutes; needs a C++ compiler):
        >>> from methods.diffusion.schedule import linear_alphas
        >>> coefs = chain_coefficients(linear_alphas(4))
        >>> fast = compiled(lambda x: run_chain(lambda y, t: 0.1 * y, x, coefs))
        >>> fast(torch.ones(1, 3)).shape  # doctest: +SKIP
        torch.Size([1, 3])
    """
    return torch.compile(fn, dynamic=False, options={"cpp_wrapper": True})


@torch.no_grad()
def sample(model, x0: torch.Tensor, alphas: torch.Tensor, return_chain: bool = False, steps: int | None = None):
    """Run the chain from ``x0`` (noise); ``model(x, t_tensor)`` predicts eps.
    Returns x_T, or ``[x_0, ..., x_T]`` with ``return_chain``. ``steps``: run S < T jumps
    (:func:`respaced`; the chain then holds S + 1 states).

    Example:
        >>> from methods.diffusion.schedule import linear_alphas
        >>> zero = lambda x, t: torch.zeros_like(x)
        >>> len(sample(zero, torch.ones(1, 3), linear_alphas(20), return_chain=True))
        21
        >>> len(sample(zero, torch.ones(1, 3), linear_alphas(20), return_chain=True, steps=5))
        6
    """
    T = len(alphas)
    if steps is None or steps == T:
        bounds = list(range(T + 1))
    else:
        bounds = respaced(T, steps)
        alphas = torch.stack([alphas[a:b].prod() for a, b in zip(bounds[:-1], bounds[1:])])  # skipped products
    abar = alpha_bar(alphas)                     # abar over the respaced chain = the trained abar at b_j
    x, chain = x0, [x0]
    for j, t in enumerate(bounds[:-1]):
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        x = step(x, model(x, tt), j, alphas, abar)
        if return_chain:
            chain.append(x)
    return chain if return_chain else x
