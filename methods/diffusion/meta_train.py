"""Algorithm 2 (Mc-Di): REPTILE meta-training of the denoiser over (task, local target) pairs.

:func:`meta_loop` is the outer loop every meta-trained generator shares (the diffusion
methods, LLO-VAE, ...); :func:`reptile_denoiser` supplies the diffusion draws.

Each meta-iteration draws B pairs (task j, target i) (line 3), adapts B copies of phi
with K inner Adam steps on L^i (lines 4-7, run as one vmapped computation), and
moves phi towards the copies (line 10). The objective is a switch: ``"local"``
(Eq. 3, target i reached at step s_i) or ``"vanilla"`` (Eq. 1, every target at T).

Example:
    >>> from methods.diffusion.denoiser import UNet1D
    >>> from methods.diffusion.schedule import linear_alphas
    >>> net = UNet1D(12, 4, channels=8, cond_dim=16)
    >>> curves = reptile_denoiser(net, torch.randn(10, 3, 12), torch.randn(10, 4), torch.tensor([6, 13, 20]),
    ...                           linear_alphas(20), MetaConfig(iters=2), torch.Generator().manual_seed(0))
    >>> len(curves) > 0
    True
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from benchmark.progress import load_progress, save_every, save_progress

from ..inner_loop import batched_adam, check_finite, stack_params
from .losses import coefficients, denoising_loss


@dataclass
class MetaConfig:
    objective: str = "local"        # "local" (Eq. 3) or "vanilla" (Eq. 1)
    weighting: str = "paper"
    iters: int = 300
    meta_batch: int = 8             # B
    inner_steps: int = 3            # K
    inner_lr: float = 0.005         # eta
    outer: str = "adam"             # "adam": Adam on -(mean phi_i - phi); "sgd": phi += zeta * mean(phi_i - phi);
                                    # "plain": no meta-learning, K Adam steps (lr zeta) of phi on the mean loss
    outer_lr: float = 0.001         # zeta
    draws: int = 8                  # (t, eps) draws per inner step and copy
    log_every: int = 10
    clip: float = 0.0               # "plain": clip the gradient's global norm to this (0: off)


def meta_loop(net, loss_fn, draw, cfg: MetaConfig, progress: bool = False, desc: str = "meta-train",
              log=None, select=None) -> list:
    """Train ``net`` in place. Each iteration ``draw(it)`` returns ``(batch_fn, tags)``, where
    ``batch_fn(s)`` holds the B items' data for inner step s (leading dimension B), and
    ``loss_fn(params, *item)`` is one item's loss. ``cfg.outer`` "adam"/"sgd": REPTILE
    (Algorithm 2 lines 4-10: B copies of phi, K batched inner Adam steps each, phi moved
    towards their mean); "plain": single-level training, K Adam steps of phi on the mean
    loss over the B items. ``log(it, phi, batch_fn, tags)``, called every ``log_every``
    iterations before the update, returns rows appended to the returned list. ``select`` (a
    :class:`benchmark.selection.Selector`) scores the model at its checkpoints (``net`` is loaded
    with the current parameters first). Every loss and every parameter must stay finite: a
    diverging run stops with an error naming the loop and the iteration."""
    if cfg.outer not in ("adam", "sgd", "plain"):
        raise ValueError(f"outer must be 'adam', 'sgd' or 'plain', got {cfg.outer!r}")
    phi = {name: p.detach().clone().requires_grad_(cfg.outer == "plain") for name, p in net.named_parameters()}
    outer = torch.optim.Adam(phi.values(), lr=cfg.outer_lr) if cfg.outer in ("adam", "plain") else None
    rows, start = [], 0
    saved = load_progress(desc)                      # a requeued / killed run continues where it stopped
    if saved is not None:
        with torch.no_grad():
            for k, v in phi.items():
                v.copy_(saved["phi"][k])
        if outer is not None:
            outer.load_state_dict(saved["outer"])
        rows, start = saved["rows"], saved["it"]
        if select is not None and saved.get("select") is not None:
            select.load(saved["select"])
        for it in range(start):                      # replay the skipped draws: same random stream
            draw(it)
    every = save_every()
    for it in tqdm(range(start, cfg.iters), desc=desc, disable=not progress, leave=False, initial=start,
                   total=cfg.iters):
        if it > start and it % every == 0:
            save_progress(desc, {"it": it, "rows": rows, "phi": {k: v.detach().clone() for k, v in phi.items()},
                                 "outer": outer.state_dict() if outer is not None else None,
                                 "select": select.state() if select is not None else None})
        if select is not None and select.due(it, cfg.iters):
            net.load_state_dict({k: v.detach() for k, v in phi.items()})
            select.score(it)
        batch_fn, tags = draw(it)
        if log is not None and it % cfg.log_every == 0:
            with torch.no_grad():
                rows += log(it, {k: v.detach() for k, v in phi.items()}, batch_fn, tags)
        if cfg.outer == "plain":
            for s in range(cfg.inner_steps):
                outer.zero_grad()
                vmap(lambda *item: loss_fn(phi, *item))(*batch_fn(s)).mean().backward()
                if cfg.clip > 0:
                    torch.nn.utils.clip_grad_norm_(list(phi.values()), cfg.clip)
                outer.step()
            check_finite(phi, desc, it + 1)
            continue
        phis = batched_adam(loss_fn, stack_params(phi, cfg.meta_batch), batch_fn, cfg.inner_steps,
                            cfg.inner_lr)                                                # lines 4-7
        with torch.no_grad():                                                            # line 10
            for n, v in phi.items():
                delta = phis[n].mean(0) - v
                if outer is None:
                    v += cfg.outer_lr * delta
                else:
                    v.grad = -delta
            if outer is not None:
                outer.step()
        check_finite(phi, desc, it + 1)
    check_finite(phi, desc, cfg.iters)
    net.load_state_dict({k: v.detach() for k, v in phi.items()})
    if select is not None:
        select.score(cfg.iters)
    return rows


def reptile_denoiser(net, targets: torch.Tensor, emb: torch.Tensor, s_of: torch.Tensor, alphas: torch.Tensor,
                     cfg: MetaConfig, g: torch.Generator, progress: bool = False, desc: str = "meta-train",
                     s_lo: torch.Tensor | None = None, time_map: torch.Tensor | None = None, select=None) -> list:
    """Meta-train ``net`` in place on ``targets`` ``[E, k, P]`` (normalised), embeddings ``emb``
    ``[E, e]`` and the step ``s_of[i]`` at which target i is to be reached; t is drawn uniformly
    in ``[s_lo[i], s_of[i])`` (``s_lo`` = 0: Mc-Di's prefix; the previous target: Lt-Di's segment).
    ``time_map[t]`` is what the network is told the step is (default t itself).
    Returns the curves ``[(iteration, i (1-based), L^i of phi)]`` logged every ``log_every``."""
    device = targets.device
    E, k, P = targets.shape
    s_lo = torch.zeros_like(s_of) if s_lo is None else s_lo
    tmap = (torch.arange(len(alphas)) if time_map is None else time_map).to(device)
    B, K, D = cfg.meta_batch, cfg.inner_steps, cfg.draws

    def loss_fn(p, theta, e, t, eps, a, b, c, d):
        model = lambda x, tt: functional_call(net, p, (x, tmap[tt], e.unsqueeze(0).expand(len(tt), -1)))
        return denoising_loss(model, theta.expand(len(t), -1), eps, t, (a, b, c, d))

    def draw(it):
        j = torch.randint(0, E, (B,), generator=g)                       # line 3: task j, target i
        i = torch.randint(0, k, (B,), generator=g)
        theta, e, s_i, lo = targets[j, i], emb[j], s_of[i], s_lo[i]
        t = lo.view(1, B, 1) + (torch.rand(K, B, D, generator=g) * (s_i - lo).view(1, B, 1)).long()  # [lo, s_i)
        eps = torch.randn(K, B, D, P, generator=g).to(device)
        coef = [tuple(c.view(B, D).float().to(device)
                      for c in coefficients(cfg.objective, alphas, t[s].reshape(-1), s_i.repeat_interleave(D),
                                            cfg.weighting)) for s in range(K)]
        return (lambda s: (theta, e, t[s].to(device), eps[s]) + coef[s]), i

    def log(it, phi, batch_fn, i):                                       # Figure 5: L^i of phi
        return [(it, int(i[b]) + 1, loss_fn(phi, *[x[b] for x in batch_fn(0)]).item()) for b in range(B)]

    return meta_loop(net, loss_fn, draw, cfg, progress, desc, log, select)
