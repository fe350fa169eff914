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
    """Hyper-parameters of :func:`finetune`: learning rate and its schedule, batch size, step budget and
    the convergence rule (a held-out evaluation every ``eval_every`` steps, stop after ``patience``).

    Example:
        >>> FinetuneConfig(lr=1e-3, max_steps=100).to_dict()
        {'lr': 0.001, 'batch': 16, 'max_steps': 100, 'eval_every': 25, 'patience': 4, ...}
    """

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
    """Tensors of one data set: bottom hidden states (or inputs) ``x``, 0/1 ``mask`` (or None), labels ``y``.

    Example:
        >>> data = Batches(x=torch.zeros(5, 3), mask=None, y=torch.tensor([0, 1, 0, 1, 1]))
        >>> x, mask, y = data.take([0, 3])
        >>> len(data), x.shape, mask, y.tolist()
        (5, torch.Size([2, 3]), None, [0, 1])
    """
    x: torch.Tensor
    mask: torch.Tensor | None
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx) -> tuple:
        return self.x[idx], (None if self.mask is None else self.mask[idx]), self.y[idx]


def lr_factor(step: int, cfg: FinetuneConfig) -> float:
    """Linear warm-up over ``warmup * max_steps`` steps, then linear decay to 0 at ``max_steps``.

    Example:
        >>> cfg = FinetuneConfig(lr=0.1, max_steps=100, warmup=0.1)
        >>> [round(lr_factor(step, cfg), 2) for step in (0, 9, 10, 55, 99)]
        [0.1, 1.0, 1.0, 0.5, 0.01]
    """
    warm = max(1, int(round(cfg.warmup * cfg.max_steps)))
    if step < warm:
        return (step + 1) / warm
    if not cfg.decay:
        return 1.0
    return max(0.0, (cfg.max_steps - step) / max(1, cfg.max_steps - warm))


@torch.no_grad()
def predict(model, data: Batches, chunk: int = 128) -> torch.Tensor:
    """Logits of ``model(x, mask)`` over ``data`` in eval mode (restores the mode).

    Example:
        >>> net = torch.nn.Linear(3, 2)
        >>> predict(lambda x, mask: net(x), Batches(x=torch.zeros(5, 3), mask=None, y=torch.zeros(5))).shape
        torch.Size([5, 2])
    """
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
    """Accuracy in % of the argmax of :func:`predict`'s logits against ``data.y``.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
        >>> accuracy(lambda x, mask: x, Batches(x=x, mask=None, y=torch.tensor([0, 1, 1, 0])))
        75.0
    """
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
    ``best_step``, ``steps``, ``time_to_best_s``, ``total_s`` (and both in this thread's CPU time,
    ``*_cpu_s``), ``curve`` [(step, held-out acc, CE)],
    and ``snapshots`` ``[steps+1, P]`` when asked.

    Example:
        >>> net = torch.nn.Linear(4, 2)
        >>> x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0)); y = (x[:, 0] > 0).long()
        >>> out = finetune(lambda h, m: net(h), list(net.parameters()), Batches(x, None, y), Batches(x, None, y),
        ...                FinetuneConfig(lr=0.1, batch=8, max_steps=20, eval_every=10), seed=0,
        ...                snapshot=lambda: torch.cat([p.detach().flatten() for p in net.parameters()]))
        >>> out["steps"], [step for step, acc, ce in out["curve"]], out["snapshots"].shape   # P = 4 * 2 + 2
        (20, [10, 20], torch.Size([21, 10]))
    """
    from tqdm.auto import tqdm
    params = list(params)
    groups = param_groups or [{"params": params, "lr": cfg.lr}]
    for gr in groups:
        gr.setdefault("lr", cfg.lr)
        gr["base_lr"] = gr["lr"]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sampler = EpochSampler(len(train), cfg.batch, seed)
    torch.manual_seed(seed)                                  # dropout
    best = {"acc": -1.0, "step": 0, "state": None, "time": 0.0, "cpu": 0.0}
    curve, shots, since, ce_sum, ce_n, losses = [], [], 0, 0.0, 0, []
    if snapshot is not None:
        shots.append(snapshot())
    if hasattr(model, "train"):
        model.train()
    t0, c0 = time.perf_counter(), time.thread_time()        # wall, and this thread's CPU time
    bar = tqdm(total=cfg.max_steps, desc=desc, disable=not progress, leave=False)
    step = 0
    for step in range(1, cfg.max_steps + 1):
        x, m, y = train.take(sampler.next())
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
            if plateaued(losses, plateau):
                break
            continue
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            acc = accuracy(model, heldout)
            curve.append((step, round(acc, 4), round(ce_sum / ce_n, 5)))
            ce_sum, ce_n = 0.0, 0
            if acc > best["acc"]:
                best = {"acc": acc, "step": step, "time": time.perf_counter() - t0,
                        "cpu": time.thread_time() - c0, "state": [p.detach().clone() for p in params]}
                since = 0
            else:
                since += 1
                if since >= cfg.patience:
                    break
    bar.close()
    total, total_cpu = time.perf_counter() - t0, time.thread_time() - c0
    if heldout is None:
        best = {"acc": float("nan"), "step": step, "time": total, "cpu": total_cpu,
                "state": [p.detach().clone() for p in params]}
    with torch.no_grad():
        for p, b in zip(params, best["state"]):
            p.copy_(b)
    if hasattr(model, "eval"):
        model.eval()
    out = {"best_acc": round(best["acc"], 4), "best_step": best["step"], "steps": step,
           "time_to_best_s": round(best["time"], 4), "total_s": round(total, 4),
           "time_to_best_cpu_s": round(best["cpu"], 4), "total_cpu_s": round(total_cpu, 4), "curve": curve,
           "losses": [round(v, 5) for v in losses]}
    if snapshot is not None:
        out["snapshots"] = torch.stack(shots)
    return out


class EpochSampler:
    """Mini-batch indices: a seeded permutation per epoch, ``batch`` at a time (a new epoch when
    fewer than ``batch`` remain; ``min(batch, n)`` when the set is smaller than a batch).

    Example:
        >>> s = EpochSampler(5, 2, seed=0); [len(s.next()) for _ in range(4)]
        [2, 2, 2, 2]
    """

    def __init__(self, n: int, batch: int, seed: int):
        self.n, self.batch, self.g = n, batch, torch.Generator().manual_seed(seed)
        self.order, self.pos = torch.randperm(n, generator=self.g), 0

    def next(self) -> torch.Tensor:
        if self.pos + self.batch > self.n:
            self.order, self.pos = torch.randperm(self.n, generator=self.g), 0
        idx = self.order[self.pos:self.pos + min(self.batch, self.n)]
        self.pos += self.batch
        return idx


def plateaued(losses: list, plateau: tuple) -> bool:
    """Algorithm 1's stopping test after ``len(losses)`` steps (``plateau = (min_steps, patience, tol)``):
    the training loss fell by less than ``tol`` (relative to the first loss) over the last ``patience`` steps.

    Example:
        >>> plateaued([1.0, 0.5, 0.3, 0.29, 0.289], (2, 2, 0.05))
        True
    """
    lo, pat, tol = plateau
    start = max(abs(losses[0]), 1e-12)
    return len(losses) > max(lo, pat) and (losses[-1 - pat] - losses[-1]) / start < tol


def plateau_batched(model, inits: list, trains: list, cfg: FinetuneConfig, seeds: list, plateau: tuple,
                    progress: bool = False, desc: str = "trajectories") -> list:
    """Algorithm 1's plateau-stopped fine-tuning of many tasks at once over one frozen module
    ``model(x, mask) -> logits``: task e trains its own copy ``inits[e]`` (a dict name -> tensor of
    ``model``'s trainable parameters, the others shared) on
    ``trains[e]`` with its own AdamW and mini-batch order (``seeds[e]``), the tasks' forwards batched
    with ``torch.func.vmap`` over ``functional_call``; a task leaves the batch at its plateau.

    The same updates as :func:`finetune` with ``plateau=`` task by task, except dropout's draws
    (``vmap(randomness="different")``): equal to it up to float rounding for a dropout-free model.
    Returns per task ``{"snapshots": [M+1, P], "steps": M, "losses": [...]}`` (P = the flat
    parameters in ``inits[e]``'s order).

    Example:
        >>> class Net(torch.nn.Linear):
        ...     def forward(self, x, mask):
        ...         return super().forward(x)
        >>> net = Net(3, 2)
        >>> data = [Batches(x=torch.randn(8, 3), mask=None, y=torch.arange(8) % 2) for _ in range(2)]
        >>> init = {n: p.detach().clone() for n, p in net.named_parameters()}
        >>> out = plateau_batched(net, [init, init], data,
        ...                       FinetuneConfig(lr=0.1, batch=4, max_steps=5, warmup=0.0, decay=False),
        ...                       seeds=[0, 1], plateau=(2, 2, 0.0))
        >>> [o["snapshots"].shape for o in out]
        [torch.Size([6, 8]), torch.Size([6, 8])]
    """
    from torch.func import functional_call, vmap
    from tqdm.auto import tqdm
    names = list(inits[0])
    leaves = [{n: t.detach().clone().requires_grad_(True) for n, t in init.items()} for init in inits]
    opts = [torch.optim.AdamW(list(lv.values()), lr=cfg.lr, weight_decay=cfg.weight_decay) for lv in leaves]
    samplers = [EpochSampler(len(d), cfg.batch, s) for d, s in zip(trains, seeds)]
    flat = lambda lv: torch.cat([lv[n].detach().flatten() for n in names])
    shots = [[flat(lv)] for lv in leaves]
    losses = [[] for _ in leaves]
    steps = [0] * len(leaves)
    active = list(range(len(leaves)))
    torch.manual_seed(seeds[0])                                  # dropout
    model.train()

    def one(params, x, m, y):
        return F.cross_entropy(functional_call(model, params, (x, m)), y)

    bar = tqdm(total=cfg.max_steps, desc=desc, disable=not progress, leave=False)
    for step in range(1, cfg.max_steps + 1):
        parts = [trains[e].take(samplers[e].next()) for e in active]
        x = torch.stack([p[0] for p in parts])
        m = None if parts[0][1] is None else torch.stack([p[1] for p in parts])
        y = torch.stack([p[2] for p in parts])
        for e in active:
            for gr in opts[e].param_groups:
                gr["lr"] = cfg.lr * lr_factor(step - 1, cfg)
        params = {n: torch.stack([leaves[e][n] for e in active]) for n in names}
        per_task = vmap(one, in_dims=(0, 0, None if m is None else 0, 0), randomness="different")(params, x, m, y)
        if not torch.isfinite(per_task).all():
            bad = [active[i] for i in range(len(active)) if not torch.isfinite(per_task[i])]
            raise FloatingPointError(f"{desc}: non-finite loss at step {step} for task(s) {bad} (lower the "
                                     f"learning rate lr={cfg.lr}); nothing recorded")
        for e in active:
            opts[e].zero_grad(set_to_none=True)
        per_task.sum().backward()                                # tasks' gradients are independent
        for i, e in enumerate(active):
            opts[e].step()
            losses[e].append(per_task[i].item())
            shots[e].append(flat(leaves[e]))
            steps[e] = step
        active = [e for e in active if not plateaued(losses[e], plateau)]
        bar.update(1)
        if not active:
            break
    bar.close()
    return [{"snapshots": torch.stack(shots[e]), "steps": steps[e], "losses": [round(v, 5) for v in losses[e]]}
            for e in range(len(leaves))]


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

