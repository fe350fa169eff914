"""The two training loops every learnt generator shares, each with its own small config:

- :func:`reptile_train` (Mc-Di Algorithm 2, lines 3-10): each iteration B copies of phi take K
  batched inner Adam steps on their own items (one vmapped computation), and phi moves towards
  their mean - by Adam on the pseudo-gradient ``-(mean phi_i - phi)`` (``outer="adam"``) or by the
  literal ``phi += zeta * mean(phi_i - phi)`` (``outer="sgd"``);
- :func:`plain_train`: single-level training, ``steps`` Adam steps of phi per iteration on the
  mean loss over the iteration's items (OCD, Meta-Diff, D2NWG, ICIS, GHN3, Meta-Hypernetwork).

Both run on :func:`_loop`, which owns what they share: resuming from a progress store (the
state every ``store.every`` iterations; the skipped draws are replayed so the numbers equal an
uninterrupted run's), logging, model selection (:class:`benchmark.selection.Selector`) and
finite checks (a diverging run stops, naming the loop and the iteration).

``draw(it)`` returns ``(batch_fn, tags)``: ``batch_fn(s)`` holds the items' data for step s
(leading dimension = items), ``loss_fn(params, *item)`` is one item's loss.

Example:
    >>> net = torch.nn.Linear(3, 1)
    >>> x, y = torch.randn(4, 8, 3), torch.randn(4, 8, 1)
    >>> loss = lambda p, xx, yy: ((torch.func.functional_call(net, p, (xx,)) - yy) ** 2).mean()
    >>> _ = plain_train(net, loss, lambda it: ((lambda s: (x, y)), None), PlainConfig(iters=3))
    >>> _ = reptile_train(net, loss, lambda it: ((lambda s: (x, y)), None), ReptileConfig(iters=3, meta_batch=4))
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.func import vmap
from tqdm.auto import tqdm

from .inner_loop import batched_adam, check_finite, stack_params


@dataclass
class ReptileConfig:
    """The settings of :func:`reptile_train` (Mc-Di Algorithm 2's loop).

    Example:
        >>> cfg = ReptileConfig(iters=10, outer="sgd")
        >>> cfg.iters, cfg.meta_batch, cfg.inner_steps, cfg.outer
        (10, 8, 3, 'sgd')
    """

    iters: int = 300
    meta_batch: int = 8             # B: copies of phi per iteration
    inner_steps: int = 3            # K: inner Adam steps of each copy
    inner_lr: float = 0.005         # eta
    outer: str = "adam"             # "adam": Adam (lr zeta) on -(mean phi_i - phi); "sgd": phi += zeta * mean(...)
    outer_lr: float = 0.001         # zeta
    log_every: int = 10


@dataclass
class PlainConfig:
    """The settings of :func:`plain_train` (single-level Adam).

    Example:
        >>> PlainConfig(iters=50, lr=3e-3)
        PlainConfig(iters=50, steps=1, lr=0.003, clip=0.0, log_every=10)
    """

    iters: int = 300
    steps: int = 1                  # Adam steps of phi per iteration, on the iteration's items
    lr: float = 1e-3
    clip: float = 0.0               # clip the gradient's global norm to this (0: off)
    log_every: int = 10


def _loop(net, phi: dict, opt, draw, iters: int, update, progress: bool, desc: str, log, log_every: int,
          select, store) -> list:
    rows, start = [], 0
    saved = store.load(desc) if store is not None else None     # a requeued / killed run continues
    if saved is not None:
        with torch.no_grad():
            for k, v in phi.items():
                v.copy_(saved["phi"][k])
        if opt is not None:
            opt.load_state_dict(saved["outer"])
        rows, start = saved["rows"], saved["it"]
        if select is not None and saved.get("select") is not None:
            select.load(saved["select"])
        for it in range(start):                                  # replay the skipped draws: same stream
            draw(it)
    for it in tqdm(range(start, iters), desc=desc, disable=not progress, leave=False, initial=start, total=iters):
        if store is not None and it > start and it % store.every == 0:
            store.save(desc, {"it": it, "rows": rows, "phi": {k: v.detach().clone() for k, v in phi.items()},
                              "outer": opt.state_dict() if opt is not None else None,
                              "select": select.state() if select is not None else None})
        if select is not None and select.due(it, iters):
            net.load_state_dict({k: v.detach() for k, v in phi.items()})
            select.score(it)
        if select is not None and select.exhausted(it):        # a compute budget (budget_cpu_s) is spent
            iters = it
            break
        batch_fn, tags = draw(it)
        if log is not None and it % log_every == 0:
            with torch.no_grad():
                rows += log(it, {k: v.detach() for k, v in phi.items()}, batch_fn, tags)
        update(batch_fn)
        check_finite(phi, desc, it + 1)
    check_finite(phi, desc, iters)
    net.load_state_dict({k: v.detach() for k, v in phi.items()})
    if select is not None:
        select.score(iters)
    return rows


def reptile_train(net, loss_fn, draw, cfg: ReptileConfig, progress: bool = False, desc: str = "meta-train",
                  log=None, select=None, store=None, copies_loss=None) -> list:
    """REPTILE over ``net``'s parameters (in place); returns the rows ``log`` produced.
    ``copies_loss``: the inner loops' summed loss over all copies in one pass
    (:func:`~methods.inner_loop.batched_adam`), where the network has one.

    Example:
        >>> net, x, y = torch.nn.Linear(3, 1), torch.randn(4, 8, 3), torch.randn(4, 8, 1)
        >>> loss = lambda p, xx, yy: ((torch.func.functional_call(net, p, (xx,)) - yy) ** 2).mean()
        >>> log = lambda it, phi, batch_fn, tags: [it]                  # a row every log_every iterations
        >>> cfg = ReptileConfig(iters=3, meta_batch=4, log_every=2)
        >>> reptile_train(net, loss, lambda it: ((lambda s: (x, y)), None), cfg, log=log)
        [0, 2]
    """
    if cfg.outer not in ("adam", "sgd"):
        raise ValueError(f"outer must be 'adam' or 'sgd', got {cfg.outer!r}")
    phi = {name: p.detach().clone() for name, p in net.named_parameters()}
    opt = torch.optim.Adam(phi.values(), lr=cfg.outer_lr) if cfg.outer == "adam" else None

    def update(batch_fn):
        phis = batched_adam(loss_fn, stack_params(phi, cfg.meta_batch), batch_fn, cfg.inner_steps,
                            cfg.inner_lr, copies_loss=copies_loss)                       # lines 4-7
        with torch.no_grad():                                                            # line 10
            for n, v in phi.items():
                delta = phis[n].mean(0) - v
                if opt is None:
                    v += cfg.outer_lr * delta
                else:
                    v.grad = -delta
            if opt is not None:
                opt.step()

    return _loop(net, phi, opt, draw, cfg.iters, update, progress, desc, log, cfg.log_every, select, store)


def plain_train(net, loss_fn, draw, cfg: PlainConfig, progress: bool = False, desc: str = "train",
                log=None, select=None, store=None) -> list:
    """Single-level Adam training of ``net`` (in place); returns the rows ``log`` produced.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net, x, y = torch.nn.Linear(3, 1), torch.randn(1, 16, 3), torch.randn(1, 16, 1)
        >>> loss = lambda p, xx, yy: ((torch.func.functional_call(net, p, (xx,)) - yy) ** 2).mean()
        >>> before = loss(dict(net.named_parameters()), x[0], y[0]).item()
        >>> plain_train(net, loss, lambda it: ((lambda s: (x, y)), None), PlainConfig(iters=50, lr=0.05))
        []
        >>> loss(dict(net.named_parameters()), x[0], y[0]).item() < before
        True
    """
    phi = {name: p.detach().clone().requires_grad_(True) for name, p in net.named_parameters()}
    opt = torch.optim.Adam(phi.values(), lr=cfg.lr)

    def update(batch_fn):
        for s in range(cfg.steps):
            opt.zero_grad()
            vmap(lambda *item: loss_fn(phi, *item))(*batch_fn(s)).mean().backward()
            if cfg.clip > 0:
                torch.nn.utils.clip_grad_norm_(list(phi.values()), cfg.clip)
            opt.step()

    return _loop(net, phi, opt, draw, cfg.iters, update, progress, desc, log, cfg.log_every, select, store)
