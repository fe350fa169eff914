"""The deterministic inference chain of Mc-Di (Appendix D.1 without the sigma_z noise;
the paper omits it "for stable weight generation"):

    x_{t+1} = ( x_t - (1 - alpha_t) / sqrt(1 - abar_t) * eps_phi(x_t, t, Emb) ) / sqrt(alpha_t),

from ``x_0 ~ N(0, I)`` for t = 0..T-1. ``step()`` is one transition (diffusers-style);
``sample()`` runs the chain and can return every state (for the theorem diagnostic).

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


def step(x_t: torch.Tensor, eps_pred: torch.Tensor, t: int, alphas: torch.Tensor,
         abar: torch.Tensor | None = None) -> torch.Tensor:
    """One deterministic transition x_t -> x_{t+1}."""
    abar = alpha_bar(alphas) if abar is None else abar
    a_t, ab_t = float(alphas[t]), float(abar[t])
    return (x_t - (1 - a_t) / (1 - ab_t) ** 0.5 * eps_pred) / a_t ** 0.5


@torch.no_grad()
def sample(model, x0: torch.Tensor, alphas: torch.Tensor, return_chain: bool = False):
    """Run the chain from ``x0`` (noise); ``model(x, t_tensor)`` predicts eps.
    Returns x_T, or ``[x_0, ..., x_T]`` with ``return_chain``."""
    abar = alpha_bar(alphas)
    x, chain = x0, [x0]
    for t in range(len(alphas)):
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        x = step(x, model(x, tt), t, alphas, abar)
        if return_chain:
            chain.append(x)
    return chain if return_chain else x
