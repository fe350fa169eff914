"""Algorithm 2 (Mc-Di): meta-training of the denoiser over (task, local target) pairs.

:func:`reptile_denoiser` supplies the diffusion draws - each meta-iteration draws B pairs
(task j, target i) (line 3) and, for each inner step, D (t, eps) draws - and hands them to the
shared trainers (:mod:`methods.trainers`): REPTILE (lines 4-10) for Mc-Di and its ablations,
or single-level Adam (``outer="plain"``) for OCD, Meta-Diff and D2NWG's latent diffusion. The
objective is a switch: ``"local"`` (Eq. 3, target i reached at step s_i) or ``"vanilla"``
(Eq. 1, every target at T), with the ``weighting`` reading of :func:`~.losses.coefficients`.

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
from torch.func import functional_call

from ..trainers import PlainConfig, ReptileConfig, plain_train, reptile_train
from .denoiser import UNet1D, copies_per_pass
from .losses import coefficients, denoising_loss, denoising_loss_copies


@dataclass
class MetaConfig:
    """Algorithm 2's settings: the objective switch, the loop's sizes and learning rates, and the
    outer update (REPTILE with Adam or SGD, or ``"plain"`` single-level Adam).

    Example:
        >>> MetaConfig().trainer()[0].__name__, MetaConfig(outer="plain").trainer()[0].__name__
        ('reptile_train', 'plain_train')
    """
    objective: str = "local"        # "local" (Eq. 3) or "vanilla" (Eq. 1)
    weighting: str = "paper"        # see losses.coefficients
    iters: int = 300
    meta_batch: int = 8             # B: (task, target) pairs per iteration
    inner_steps: int = 3            # K: inner Adam steps (REPTILE), or Adam steps per iteration ("plain")
    inner_lr: float = 0.005         # eta (REPTILE)
    outer: str = "adam"             # "adam" / "sgd": REPTILE's outer update; "plain": no meta-learning
    outer_lr: float = 0.001         # zeta (REPTILE), or the Adam lr of "plain"
    draws: int = 8                  # (t, eps) draws per inner step and pair
    log_every: int = 10
    copies: bool = True             # REPTILE's B inner loops through UNet1D.forward_copies (False: vmap)

    def trainer(self) -> tuple:
        """(train function, its config) for ``outer``."""
        if self.outer == "plain":
            return plain_train, PlainConfig(self.iters, self.inner_steps, self.outer_lr, 0.0, self.log_every)
        return reptile_train, ReptileConfig(self.iters, self.meta_batch, self.inner_steps, self.inner_lr,
                                            self.outer, self.outer_lr, self.log_every)


def denoiser_losses(net, tmap: torch.Tensor, copies: bool = True, per_pass: int | None = -1) -> tuple:
    """The inner loops' losses on one (task, target) pair's draws ``(theta [P], emb [e], t [D],
    eps [D, P], a, b, c, d [D])``: ``(per-copy loss for vmap, loss of all B copies at once or None)``
    - the second (stacked inputs, :func:`~.losses.denoising_loss_copies`) where ``copies`` and the
    network is a plain :class:`~.denoiser.UNet1D`, in passes of ``per_pass`` copies (default
    :func:`~.denoiser.copies_per_pass`: all of them but for a long head on a CPU; None: one pass).
    ``tmap[t]``: the step the network is told.

    Example:
        >>> net = UNet1D(12, 4, channels=8, cond_dim=16)
        >>> per_copy, all_copies = denoiser_losses(net, torch.arange(20))
        >>> callable(per_copy), callable(all_copies), denoiser_losses(net, torch.arange(20), copies=False)[1]
        (True, True, None)
    """
    def loss_fn(p, theta, e, t, eps, a, b, c, d):
        model = lambda x, tt: functional_call(net, p, (x, tmap[tt], e.unsqueeze(0).expand(len(tt), -1)))
        return denoising_loss(model, theta.expand(len(t), -1), eps, t, (a, b, c, d))

    if not (copies and isinstance(net, UNet1D) and net.takes_copies()):
        return loss_fn, None

    def one_pass(p, theta, e, t, eps, a, b, c, d):
        model = lambda x, tt: net.forward_copies(p, x, tmap[tt], e.unsqueeze(1).expand(-1, tt.shape[1], -1))
        return denoising_loss_copies(model, theta, eps, t, (a, b, c, d))

    def copies_loss(p, theta, *data):
        G = copies_per_pass(net.padded, data[1].shape[1], theta.device) if per_pass == -1 else per_pass
        if G is None or G >= len(theta):
            return one_pass(p, theta, *data)
        return sum(one_pass({k: v[lo:lo + G] for k, v in p.items()}, theta[lo:lo + G], *(x[lo:lo + G] for x in data))
                   for lo in range(0, len(theta), G))
    return loss_fn, copies_loss


def reptile_denoiser(net, targets: torch.Tensor, emb: torch.Tensor, s_of: torch.Tensor, alphas: torch.Tensor,
                     cfg: MetaConfig, g: torch.Generator, progress: bool = False, desc: str = "meta-train",
                     s_lo: torch.Tensor | None = None, time_map: torch.Tensor | None = None, select=None,
                     store=None) -> list:
    """Meta-train ``net`` in place on ``targets`` ``[E, k, P]`` (normalised), embeddings ``emb``
    ``[E, e]`` and the step ``s_of[i]`` at which target i is to be reached; t is drawn uniformly
    in ``[s_lo[i], s_of[i])`` (``s_lo`` = 0: Mc-Di's prefix; the previous target: Lt-Di's segment).
    ``time_map[t]`` is what the network is told the step is (default t itself).
    Returns the curves ``[(iteration, i (1-based), L^i of phi)]`` logged every ``log_every``.

    Example:
        >>> from methods.diffusion.schedule import linear_alphas
        >>> net = UNet1D(12, 4, channels=8, cond_dim=16)
        >>> curves = reptile_denoiser(net, torch.randn(10, 3, 12), torch.randn(10, 4), torch.tensor([6, 13, 20]),
        ...                           linear_alphas(20), MetaConfig(iters=2, log_every=1),
        ...                           torch.Generator().manual_seed(0))
        >>> it, i, loss = curves[0]
        >>> it, 1 <= i <= 3, loss > 0
        (0, True, True)
    """
    device = targets.device
    E, k, P = targets.shape
    s_lo = torch.zeros_like(s_of) if s_lo is None else s_lo
    tmap = (torch.arange(len(alphas)) if time_map is None else time_map).to(device)
    B, K, D = cfg.meta_batch, cfg.inner_steps, cfg.draws

    loss_fn, copies_loss = denoiser_losses(net, tmap, cfg.copies and cfg.outer != "plain")

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

    train, tcfg = cfg.trainer()
    extra = {"copies_loss": copies_loss} if copies_loss is not None else {}
    return train(net, loss_fn, draw, tcfg, progress, desc, log, select, store, **extra)
