"""``ref-target-lora``: the LoRA a perfect Table 5 generator would produce (a reference row, not a
method of the papers).

Mc-Di and Mv-Di learn to generate theta_M - the LoRA matrices and head at the end of Algorithm 1's
fine-tuning of a task (Adam at ``prep_lr`` from the shared start, stopped at the training loss's
plateau, at most ``prep_max_steps``) - from ``cond_examples`` labelled examples per class. This row
runs exactly that fine-tuning on the evaluation task's own conditioning examples and scores the
result on the dev set: the accuracy of the generators' targets, i.e. the ceiling of a generator that
reproduced its targets perfectly at this budget (the text counterpart of ``ref-target-head``). Its
latency is that fine-tuning's.

Example:
    python reproduce/table5.py --profile cpu --methods ref-target-lora
"""
from __future__ import annotations

import time

from benchmark.seeding import derive_seed
from benchmark.text.finetune import finetune

from .lora_diffusion import LoRADiffusion


class TargetLoRAReference(LoRADiffusion):
    """``ref-target-lora``: Algorithm 1's LoRA fine-tuning run on the evaluation task itself.

    Example:
        >>> from methods import get_method, is_reference
        >>> get_method("ref-target-lora") is TargetLoRAReference, is_reference("ref-target-lora")
        (True, True)
        >>> TargetLoRAReference.TASK_INDEPENDENT_TRAINING, TargetLoRAReference.TEST_TIME_HP
        (False, ())
    """

    name = "ref-target-lora"
    REFERENCE = True
    paper = "reference: Algorithm 1's LoRA fine-tuning (the generators' target) on the evaluation task"
    SOURCE = "Mc-Di Algorithm 1 on LoRA with the settings of mc-di-lora's meta-training targets"
    TASK_INDEPENDENT_TRAINING = False
    TEST_TIME_HP = ()

    def meta_train(self) -> None:
        """Nothing is learned before the task (no generator)."""

    def readings(self) -> dict:
        hp = self.hp
        return {"hyper_parameters_from": self.SOURCE, "init": hp["init"],
                "target_recipe": {k: hp[k] for k in ("r", "alpha", "prep_lr", "prep_min_steps", "prep_max_steps",
                                                     "prep_patience", "prep_tol")}}

    def adapt(self, task):
        t0 = time.perf_counter()
        model, params = self.lora_model(derive_seed(self.ctx.seed, "lora-A"))      # the generators' start
        cfg, plateau = self.prep_config()
        out = finetune(model.base_model, [p for _, p in params], task.batches("cond"), None, cfg,
                       derive_seed(self.ctx.seed, "ref-target-lora", self.ctx.cell.dataset), plateau=plateau)
        info = {"steps": out["steps"], "target_s": round(time.perf_counter() - t0, 4),
                "trainable_parameters": sum(p.numel() for _, p in params)}
        return model, info

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
