"""The interface of a Table 5 row (a :class:`~methods.base.Method` on a text cell).

``adapt(task)`` turns a GLUE task (:class:`benchmark.text.context.TextTask`) into an adapted model
- by fine-tuning to convergence or by generating weights - and returns ``(model, info)``;
``predict(model, batches)`` gives dev logits. ``meta_train()`` is empty for single-task rows.
"""
from __future__ import annotations

import torch

from benchmark.seeding import derive_seed
from benchmark.text.finetune import Batches, FinetuneConfig, finetune, predict

from ..base import Method


class TextMethod(Method):
    """The base of every Table 5 row: a :class:`~methods.base.Method` on a (binary) GLUE task.

    Example:
        >>> from methods import get_method
        >>> [n for n in ("lora", "mc-di-lora", "reptile") if issubclass(get_method(n), TextMethod)]
        ['lora', 'mc-di-lora']
        >>> TextMethod.MODALITY, TextMethod.SHOT_INDEPENDENT_TRAINING
        ('text', True)
    """

    MODALITY = "text"
    SHOT_INDEPENDENT_TRAINING = True
    SOURCE = ""                         # where the hyper-parameters come from (recorded)

    def check_way(self, way: int) -> None:
        if way != 2:
            raise ValueError(f"{self.name}: GLUE tasks here are binary")

    def meta_train(self) -> None:
        """Single-task rows learn nothing before the task."""

    def predict(self, model, data: Batches) -> torch.Tensor:
        return predict(model, data)

    def readings(self) -> dict:
        return {"hyper_parameters_from": self.SOURCE}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    # -- shared by the gradient rows and Mc-Di's "+ fine-tune" -------------------------------------
    def ft_config(self) -> FinetuneConfig:
        s, hp = self.ctx.settings, self.hp
        return FinetuneConfig(lr=hp["lr"], batch=s["batch"], max_steps=s["max_steps"], eval_every=s["eval_every"],
                              patience=s["patience"], warmup=hp.get("warmup", 0.06),
                              weight_decay=hp.get("weight_decay", 0.0))

    def run_finetune(self, fwd, params, task, groups=None, after_step=None, loss_fn=None) -> dict:
        """Fine-tune to convergence on the task's training part, scored on its held-out slice."""
        out = finetune(fwd, params, task.batches("train"), task.batches("heldout"), self.ft_config(),
                       derive_seed(self.ctx.seed, "finetune", self.ctx.cell.dataset), groups, after_step, loss_fn,
                       progress=self.ctx.progress, desc=f"{self.name} fine-tune")
        out["after_best_s"] = round(out["total_s"] - out["time_to_best_s"], 4)   # patience: not latency
        out["after_best_cpu_s"] = round(out["total_cpu_s"] - out["time_to_best_cpu_s"], 4)
        out.pop("losses", None)
        return out

    def head_seed(self) -> int:
        return derive_seed(self.ctx.seed, "classifier-init", self.ctx.cell.dataset)
