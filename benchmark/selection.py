"""One model-selection rule for every method: pick the training checkpoint by accuracy on
validation-class episodes.

Every method's training loop calls its :class:`Selector` at ``checkpoints`` evenly spaced
iterations (the first, every ``iters // checkpoints``, and the last); each call scores the
current model by its mean accuracy on the same ``val_episodes`` episodes of the meta-val
classes (never the test classes) and keeps a copy of the best state. After training the
runner restores the best one, and the record holds the whole curve (``selection``), so no
method is judged on an unlucky last iterate and a diverging or oscillating training is
visible. ``selection="last"`` (``--set selection=last``) turns the rule off.

Example:
    >>> sel = Selector.__new__(Selector)
    >>> sel.checkpoints = 4
    >>> [it for it in range(13) if sel.due(it, 12)]
    [0, 3, 6, 9, 12]
"""
from __future__ import annotations

import copy

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


class Selector:
    """Scores ``method`` on validation episodes during its training and keeps the best state."""

    def __init__(self, method, checkpoints: int, episodes: int):
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

    @classmethod
    def for_method(cls, method) -> "Selector | None":
        """The selector the cell's settings ask for (None with ``selection="last"``)."""
        s = method.ctx.settings
        rule = s.get("selection", "last")
        if rule not in RULES:
            raise ConfigError(f"selection must be one of {', '.join(RULES)}, got {rule!r}")
        if rule == "last":
            return None
        return cls(method, int(s["val_checkpoints"]), int(s["val_episodes"]))

    def due(self, it: int, iters: int) -> bool:
        """Whether iteration ``it`` (0..iters; ``iters`` = after the last update) is scored."""
        every = max(1, iters // self.checkpoints)
        return it == iters or it % every == 0

    @torch.no_grad()
    def score(self, it: int) -> float:
        """Score the method's current state (its loop has synced it) and keep it if best."""
        if self.curve and self.curve[-1][0] == it:
            return self.curve[-1][1]
        ctx = self.method.ctx
        shared = id(ctx.__dict__.get("body"))
        ctx._features = {k: v for k, v in ctx._features.items() if k[1] == shared}   # a body in training changed
        acc = float(self.method.episode_accuracies("val", self.episodes).double().mean()) * 100
        if acc != acc:
            raise FloatingPointError(f"{self.method.name}: non-finite validation accuracy at iteration {it}")
        self.curve.append([it, round(acc, 4)])
        if self.best_acc is None or acc > self.best_acc:
            self.best_acc, self.best_it, self.best_state = acc, it, _cpu(self.method.state_dict())
        return acc

    def finish(self) -> None:
        """Restore the best state (after the method's training returned); the training's logs
        (``TRAINING_LOGS``, e.g. Mc-Di's per-target loss curves for Figure 5) are kept whole."""
        if self.best_state is not None:
            logs = {k: getattr(self.method, k) for k in getattr(self.method, "TRAINING_LOGS", ()) if
                    hasattr(self.method, k)}
            self.method.load_state_dict(self.best_state)
            for k, v in logs.items():
                setattr(self.method, k, v)

    def summary(self) -> dict:
        return {"rule": "val", "checkpoints": self.checkpoints, "episodes": len(self.episodes),
                "curve": self.curve, "best_it": self.best_it,
                "best_val_acc": None if self.best_acc is None else round(self.best_acc, 4)}

    # progress files (resumable loops) carry the selector's state too
    def state(self) -> dict:
        return {"curve": self.curve, "best_acc": self.best_acc, "best_it": self.best_it,
                "best_state": self.best_state}

    def load(self, state: dict) -> None:
        self.curve, self.best_acc = state["curve"], state["best_acc"]
        self.best_it, self.best_state = state["best_it"], state["best_state"]
