"""One model-selection rule for every method: pick the training checkpoint by accuracy on
validation-class episodes.

Every method's training loop calls its :class:`Selector` at ``checkpoints`` evenly spaced
iterations (the first, every ``iters // checkpoints``, and the last); each call scores the
current model by its mean accuracy on the same ``val_episodes`` episodes of the meta-val
classes (never the test classes) and keeps a copy of the best state. After training the
runner restores the best one, and the record holds the whole curve (``selection``), so no
method is judged on an unlucky last iterate and a diverging or oscillating training is
visible. ``selection="last"`` (``--set selection=last``) turns the rule off.

The same calls log the training curve the figures plot (``trace`` in the record): at each
checkpoint, the compute spent so far - process CPU seconds and wall seconds since the method's
training began (weight preparation included), the selector's own scoring excluded - and, with
``mse_episodes`` > 0 for a method that generates heads from prepared weights, the reconstruction
MSE of its heads on those validation episodes (:meth:`methods.prepared.HeadGenerator.heldout_mse`).
``budget_cpu_s`` > 0 stops the training once that much CPU time is spent (Figure 4's "same
compute budget"; CPU time is measured, so a budgeted run is not bit-reproducible: the record says
where it stopped).

Example:
    >>> sel = Selector.__new__(Selector)
    >>> sel.checkpoints = 4
    >>> [it for it in range(13) if sel.due(it, 12)]
    [0, 3, 6, 9, 12]
"""
from __future__ import annotations

import copy
import time

import torch

from .config import ConfigError
from .data import EpisodeSampler
from .seeding import derive_seed

RULES = ("val", "last")


def _cpu(state):
    if isinstance(state, torch.Tensor):
        return state.detach().cpu().clone()
    if isinstance(state, dict):
        return {k: _cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_cpu(v) for v in state)
    return copy.deepcopy(state)


def val_unavailable(labels, way: int, shot: int, query: int) -> str | None:
    """Why the validation split cannot form the cell's episodes (None if it can). A cell whose way
    exceeds the split's classes (mini-ImageNet's 16 validation classes at 20-way) keeps its last
    iterate instead - every method of that cell alike - and its record says so
    (``selection = {"rule": "last", "reason": ...}``; docs/readings.md, "model selection"). A whole
    head generator is trained for one way, so a narrower validation episode is no substitute.

    Example:
        >>> val_unavailable(torch.arange(16).repeat_interleave(600), 20, 1, 15)[:41]
        'validation split: only 16 classes of this'
        >>> val_unavailable(torch.arange(16).repeat_interleave(600), 5, 1, 15) is None
        True
    """
    try:
        EpisodeSampler(labels, way, shot, query, 0)
    except ConfigError as exc:
        return f"validation split: {str(exc).split(': lower')[0]}"
    return None


class Selector:
    """Scores ``method`` on validation episodes during its training and keeps the best state.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> ctx = NS(split=lambda name: NS(labels=torch.arange(10).repeat_interleave(20)), way=5, shot=1, seed=0,
        ...          settings={"query": 15}, cell=NS(dataset="synthetic"), _features={})
        >>> w = torch.zeros(1)                                  # the "model": validation accuracy peaks at w = 2
        >>> method = NS(ctx=ctx, name="demo", state_dict=lambda: {"w": w.clone()},
        ...             load_state_dict=lambda s: w.copy_(s["w"]),
        ...             episode_accuracies=lambda split, eps: torch.full((len(eps),), 0.9 - 0.1 * (w.item() - 2) ** 2))
        >>> sel = Selector(method, checkpoints=4, episodes=10)
        >>> for it in range(5):                                 # the training loop: 4 updates
        ...     if sel.due(it, 4):
        ...         _ = sel.score(it)
        ...     _ = w.add_(1)
        >>> sel.finish()                                        # the best state back
        >>> sel.curve, sel.best_it, w.item()
        ([[0, 50.0], [1, 80.0], [2, 90.0], [3, 80.0], [4, 50.0]], 2, 2.0)
    """

    def __init__(self, method, checkpoints: int, episodes: int, restore: bool = True, budget_cpu_s: float = 0.0,
                 mse_episodes: int = 0):
        ctx = method.ctx
        if checkpoints < 1 or episodes < 1:
            raise ConfigError(f"model selection needs val_checkpoints >= 1 and val_episodes >= 1, "
                              f"got {checkpoints} and {episodes}")
        self.method, self.checkpoints = method, checkpoints
        labels = ctx.split("val").labels
        self.episodes = EpisodeSampler(labels, ctx.way, ctx.shot, ctx.settings["query"],
                                       derive_seed(ctx.seed, "validation", ctx.cell.dataset)).episodes(episodes)
        self.curve: list = []
        self.best_acc, self.best_it, self.best_state = None, None, None
        self.restore, self.budget_cpu_s = restore, float(budget_cpu_s)
        self.mse_episodes = min(int(mse_episodes), len(self.episodes)) if hasattr(method, "heldout_mse") else 0
        self.trace: list = []                 # [{it, val_acc, cpu_s, wall_s, val_mse}] at each checkpoint
        self.stopped_at = None                # the iteration a compute budget stopped the training at
        self._clock_start(0.0, 0.0)

    # -- compute spent by the training: the process's CPU / wall time, minus our own scoring ----------
    def _clock_start(self, cpu_before: float, wall_before: float) -> None:
        self._cpu0, self._wall0 = time.process_time() - cpu_before, time.perf_counter() - wall_before
        self._own_cpu = self._own_wall = 0.0

    def spent(self) -> tuple:
        """(CPU seconds, wall seconds) the training has spent so far."""
        device = torch.device(getattr(self.method.ctx, "device", "cpu"))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.process_time() - self._cpu0 - self._own_cpu,
                time.perf_counter() - self._wall0 - self._own_wall)

    def exhausted(self, it: int) -> bool:
        """Whether the compute budget (``budget_cpu_s``) is spent; remembers ``it`` as the stop."""
        if self.budget_cpu_s > 0 and self.spent()[0] >= self.budget_cpu_s:
            self.stopped_at = it
            return True
        return False

    @classmethod
    def for_method(cls, method) -> "Selector | None":
        """The selector the cell's settings ask for: None with ``selection="last"`` unless a figure's
        curve (``mse_episodes``) or a compute budget (``budget_cpu_s``) needs the checkpoints, in which
        case it scores and logs them but keeps the last iterate."""
        s = method.ctx.settings
        rule = s.get("selection", "last")
        if rule not in RULES:
            raise ConfigError(f"selection must be one of {', '.join(RULES)}, got {rule!r}")
        budget, mse = float(s.get("budget_cpu_s", 0.0)), int(s.get("mse_episodes", 0))
        if rule == "val" and not budget and not mse:
            reason = val_unavailable(method.ctx.split("val").labels, method.ctx.way, method.ctx.shot, s["query"])
            if reason:                         # e.g. 20-way on mini-ImageNet's 16 validation classes
                method.selection = {"rule": "last", "reason": reason}
                return None
        if rule == "last" and not budget and not mse:
            return None
        return cls(method, int(s.get("val_checkpoints", 1)), int(s.get("val_episodes", 1)), restore=rule == "val",
                   budget_cpu_s=budget, mse_episodes=mse)

    def due(self, it: int, iters: int) -> bool:
        """Whether iteration ``it`` (0..iters; ``iters`` = after the last update) is scored."""
        every = max(1, iters // self.checkpoints)
        return it == iters or it % every == 0

    @torch.no_grad()
    def score(self, it: int) -> float:
        """Score the method's current state (its loop has synced it) and keep it if best."""
        if self.curve and self.curve[-1][0] == it:
            return self.curve[-1][1]
        cpu_s, wall_s = self.spent()
        c0, w0 = time.process_time(), time.perf_counter()
        ctx = self.method.ctx
        shared = id(ctx.__dict__.get("body"))
        ctx._features = {k: v for k, v in ctx._features.items() if k[1] == shared}   # a body in training changed
        acc = float(self.method.episode_accuracies("val", self.episodes).double().mean()) * 100
        if acc != acc:
            raise FloatingPointError(f"{self.method.name}: non-finite validation accuracy at iteration {it}")
        self.curve.append([it, round(acc, 4)])
        row = {"it": it, "val_acc": round(acc, 4), "cpu_s": round(cpu_s, 3), "wall_s": round(wall_s, 3)}
        if self.mse_episodes:
            row["val_mse"] = self.method.heldout_mse("val", self.episodes[: self.mse_episodes])["mse"]
        self.trace.append(row)
        if self.best_acc is None or acc > self.best_acc:
            self.best_acc, self.best_it, self.best_state = acc, it, _cpu(self.method.state_dict())
        self._own_cpu += time.process_time() - c0
        self._own_wall += time.perf_counter() - w0
        return acc

    def finish(self) -> None:
        """Restore the best state (after the method's training returned); the training's logs
        (``TRAINING_LOGS``, e.g. Mc-Di's per-target loss curves for Figure 5) are kept whole."""
        if self.best_state is not None and self.restore:
            logs = {k: getattr(self.method, k) for k in getattr(self.method, "TRAINING_LOGS", ()) if
                    hasattr(self.method, k)}
            self.method.load_state_dict(self.best_state)
            for k, v in logs.items():
                setattr(self.method, k, v)

    def summary(self) -> dict:
        out = {"rule": "val" if self.restore else "last", "checkpoints": self.checkpoints,
               "episodes": len(self.episodes), "curve": self.curve, "best_it": self.best_it,
               "best_val_acc": None if self.best_acc is None else round(self.best_acc, 4), "trace": self.trace}
        if self.budget_cpu_s:
            out.update(budget_cpu_s=self.budget_cpu_s, stopped_at=self.stopped_at)
        return out

    # progress files (resumable loops) carry the selector's state too
    def state(self) -> dict:
        cpu_s, wall_s = self.spent()
        return {"curve": self.curve, "best_acc": self.best_acc, "best_it": self.best_it,
                "best_state": self.best_state, "trace": self.trace, "spent": [cpu_s, wall_s]}

    def load(self, state: dict) -> None:
        self.curve, self.best_acc = state["curve"], state["best_acc"]
        self.best_it, self.best_state = state["best_it"], state["best_state"]
        self.trace = state.get("trace", [])
        self._clock_start(*state.get("spent", (0.0, 0.0)))       # a resumed run counts what it had spent
