"""One fine-tuning loop for every gradient row of Table 5 (and for the LoRA trajectories the
generators learn from), with one convergence rule.

Convergence ("accuracy upon convergence and the latency required to achieve it", Mc-Di 4.2.4):
every ``eval_every`` steps the model is scored on a held-out slice of the task's *training*
data; training stops after ``patience`` evaluations without improvement (or at ``max_steps``);
the state with the best held-out accuracy is kept, and the latency is the wall time from the
start of fine-tuning to the evaluation that found it (the evaluations up to then included).

Example:
    >>> import torch
    >>> net = torch.nn.Linear(4, 2)
    >>> x = torch.randn(64, 4); y = (x[:, 0] > 0).long()
    >>> data = Batches(x=x, mask=None, y=y)
    >>> out = finetune(lambda h, m: net(h), list(net.parameters()), data, data,
    ...                FinetuneConfig(lr=0.1, batch=16, max_steps=40, eval_every=10, patience=2), seed=0)
    >>> out["best_acc"] > 50
    True
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from ..optim import checked_step


@dataclass
class FinetuneConfig:
    lr: float
    batch: int = 16
    max_steps: int = 500
    eval_every: int = 25
    patience: int = 4
    warmup: float = 0.06            # fraction of max_steps with a linear warm-up, then linear decay to 0
    weight_decay: float = 0.0
    decay: bool = True              # linear decay (False: constant after warm-up)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Batches:
    """Tensors of one data set: bottom hidden states (or inputs) ``x``, 0/1 ``mask`` (or None), labels ``y``."""
    x: torch.Tensor
    mask: torch.Tensor | None
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx) -> tuple:
        return self.x[idx], (None if self.mask is None else self.mask[idx]), self.y[idx]


def lr_factor(step: int, cfg: FinetuneConfig) -> float:
    """Linear warm-up over ``warmup * max_steps`` steps, then linear decay to 0 at ``max_steps``."""
    warm = max(1, int(round(cfg.warmup * cfg.max_steps)))
    if step < warm:
        return (step + 1) / warm
    if not cfg.decay:
        return 1.0
    return max(0.0, (cfg.max_steps - step) / max(1, cfg.max_steps - warm))


@torch.no_grad()
def predict(model, data: Batches, chunk: int = 128) -> torch.Tensor:
    """Logits of ``model(x, mask)`` over ``data`` in eval mode (restores the mode)."""
    was = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    out = []
    for i in range(0, len(data), chunk):
        x, m, _ = data.take(slice(i, i + chunk))
        out.append(model(x, m))
    if was:
        model.train()
    logits = torch.cat(out)
    if not torch.isfinite(logits).all():
        raise FloatingPointError("non-finite logits: the fine-tuning diverged (lower its learning rate); "
                                 "nothing recorded")
    return logits


def accuracy(model, data: Batches) -> float:
    return (predict(model, data).argmax(-1) == data.y).float().mean().item() * 100


def finetune(model, params, train: Batches, heldout: Batches, cfg: FinetuneConfig, seed: int,
             param_groups: list | None = None, after_step=None, loss_fn=None, snapshot=None,
             progress: bool = False, desc: str = "fine-tune", plateau: tuple | None = None) -> dict:
    """Fine-tune ``params`` (or AdamW ``param_groups``) of ``model(x, mask) -> logits`` on ``train``
    with the convergence rule above; the best state is loaded back into the parameters.

    ``after_step(step)`` runs after every optimiser step (AdaLoRA's rank update); ``loss_fn(x, mask, y)``
    -> (training loss, plain cross-entropy) replaces the cross-entropy of ``model(x, mask)`` (AdaLoRA:
    its forward adds the orthogonality term; the curve logs the plain cross-entropy);
    ``snapshot()`` -> a flat tensor recorded after every step (trajectories). ``heldout=None`` with
    ``plateau=(min_steps, patience, tol)``: Algorithm 1's rule instead - stop at the first plateau of the
    training loss (:func:`plateau_step`), keep the last state (``M`` = steps). Returns ``best_acc``,
    ``best_step``, ``steps``, ``time_to_best_s``, ``total_s``, ``curve`` [(step, held-out acc, CE)],
    and ``snapshots`` ``[steps+1, P]`` when asked."""
    from tqdm.auto import tqdm
    params = list(params)
    groups = param_groups or [{"params": params, "lr": cfg.lr}]
    for gr in groups:
        gr.setdefault("lr", cfg.lr)
        gr["base_lr"] = gr["lr"]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)                                  # dropout
    n = len(train)
    order, pos = torch.randperm(n, generator=g), 0
    best = {"acc": -1.0, "step": 0, "state": None, "time": 0.0}
    curve, shots, since, ce_sum, ce_n, losses = [], [], 0, 0.0, 0, []
    if snapshot is not None:
        shots.append(snapshot())
    if hasattr(model, "train"):
        model.train()
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, desc=desc, disable=not progress, leave=False)
    step = 0
    for step in range(1, cfg.max_steps + 1):
        if pos + cfg.batch > n:
            order, pos = torch.randperm(n, generator=g), 0
        idx = order[pos:pos + min(cfg.batch, n)]
        pos += cfg.batch
        x, m, y = train.take(idx)
        for gr in opt.param_groups:
            gr["lr"] = gr["base_lr"] * lr_factor(step - 1, cfg)
        if loss_fn is None:
            loss = ce = F.cross_entropy(model(x, m), y)
        else:
            loss, ce = loss_fn(x, m, y)
        checked_step(opt, loss, lambda: f"{desc}: non-finite loss at step {step} (lower the learning rate "
                                        f"lr={cfg.lr}); nothing recorded")
        if after_step is not None:
            after_step(step)
        ce_sum, ce_n = ce_sum + ce.item(), ce_n + 1
        losses.append(ce.item())
        if snapshot is not None:
            shots.append(snapshot())
        bar.update(1)
        if heldout is None:                                  # Algorithm 1: the training loss's plateau
            lo, pat, tol = plateau
            start = max(abs(losses[0]), 1e-12)
            if step > max(lo, pat) and (losses[-1 - pat] - losses[-1]) / start < tol:
                break
            continue
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            acc = accuracy(model, heldout)
            curve.append((step, round(acc, 4), round(ce_sum / ce_n, 5)))
            ce_sum, ce_n = 0.0, 0
            if acc > best["acc"]:
                best = {"acc": acc, "step": step, "time": time.perf_counter() - t0,
                        "state": [p.detach().clone() for p in params]}
                since = 0
            else:
                since += 1
                if since >= cfg.patience:
                    break
    bar.close()
    total = time.perf_counter() - t0
    if heldout is None:
        best = {"acc": float("nan"), "step": step, "time": total, "state": [p.detach().clone() for p in params]}
    with torch.no_grad():
        for p, b in zip(params, best["state"]):
            p.copy_(b)
    if hasattr(model, "eval"):
        model.eval()
    out = {"best_acc": round(best["acc"], 4), "best_step": best["step"], "steps": step,
           "time_to_best_s": round(best["time"], 4), "total_s": round(total, 4), "curve": curve,
           "losses": [round(v, 5) for v in losses]}
    if snapshot is not None:
        out["snapshots"] = torch.stack(shots)
    return out


def plateau_step(losses: list, min_steps: int, patience: int, tol: float) -> int:
    """Algorithm 1's early stopping on a training-loss curve (``losses[s]`` after s steps): the first
    step s >= ``min_steps`` at which the loss fell by less than ``tol`` (relative to the starting loss)
    over the last ``patience`` steps, else the last step.

    Example:
        >>> plateau_step([1.0, 0.5, 0.3, 0.29, 0.289, 0.2889], min_steps=2, patience=2, tol=0.05)
        4
    """
    start = max(abs(losses[0]), 1e-12)
    for s in range(max(min_steps, patience), len(losses)):
        if (losses[s - patience] - losses[s]) / start < tol:
            return s
    return len(losses) - 1

