"""The gradient rows of Table 5: single-task fine-tuning of the encoder's top layers and head to
convergence (benchmark/text/finetune.py's rule), each with its published GLUE settings.

Every row fine-tunes the same trainable part (the top ``top_layers`` layers and the head) with
AdamW, a linear warm-up over 6% of ``max_steps`` and linear decay, batch ``batch``. Settings and
their sources (recorded in every record as ``hyper_parameters_from``):

- Full-FT: lr 2e-5 (RoBERTa, Liu et al. 2019, GLUE fine-tuning: lr in {1e-5, 2e-5, 3e-5}, batch
  16/32, 6% warm-up), every top parameter trained.
- LoRA (Hu et al. 2022, Table 9, RoBERTa-base): r = 8, alpha = 8 on the query and value
  projections, lr 4e-4 (MRPC and QNLI), 6% warm-up; the head trained.
- AdaLoRA (Zhang et al. 2023; peft's ``AdaLoraConfig``): init_r 12 -> target_r 8 on query and
  value, orthogonality weight 0.1, beta1 = beta2 = 0.85, lr 1e-3; ``total_step`` = ``max_steps``,
  rank budget pruned between 10% and 70% of it (``tinit``/``tfinal``), ``deltaT`` 10 steps.
  ``update_and_allocate(step)`` is called after every optimiser step (the Trainer does not, which
  would train plain LoRA) and the orthogonality term comes from AdaLoRA's own forward.
- DyLoRA (Valipour et al. 2023): r in 1..8 sampled each step, frozen lower ranks, alpha 8,
  evaluated at r = 8; lr and the rest as LoRA (as DyLoRA's RoBERTa experiments do).
- FourierFT (Gao et al. 2024, official GLUE scripts, RoBERTa-base): n_frequency 1000, scaling 151
  (MRPC) / 29 (QNLI), Fourier lr 0.05 / 0.1, head lr 0.006 / 0.001.

Deviation at the ``cpu`` profile: all-MiniLM-L6-v2 (hidden 384) instead of RoBERTa-base (768), its
top two layers only; the settings above were published for RoBERTa-base and are kept unchanged.
"""
from __future__ import annotations

import torch

from benchmark.seeding import derive_seed, generator

from .base import TextMethod
from .dylora import apply_dylora, set_rank

TARGETS = ["query", "value"]


def _same(**kw) -> dict:
    return {p: dict(kw) for p in ("smoke", "cpu", "paper")}


class GradientFinetune(TextMethod):
    """Build the trainable model from a fresh top, then :meth:`run_finetune`.

    Example:
        >>> from methods import get_method, registered
        >>> [n for n in registered("text") if issubclass(get_method(n), GradientFinetune)]
        ['adalora', 'dylora', 'fourierft', 'full-ft', 'lora']
    """

    def wrap(self, top) -> tuple:
        """``(model, forward(x, mask) -> logits, params, param_groups or None, after_step, loss_fn)``."""
        raise NotImplementedError

    def adapt(self, task):
        top = self.ctx.encoder.new_top(self.head_seed())
        model, fwd, params, groups, after_step, loss_fn = self.wrap(top)
        info = self.run_finetune(fwd, params, task, groups, after_step, loss_fn)
        info["trainable_parameters"] = sum(p.numel() for p in params)
        return model, info

    def predict(self, model, data):
        return super().predict(self._fwd_of(model), data)

    def _fwd_of(self, model):
        return model


class FullFT(GradientFinetune):
    """Full-FT: every parameter of the top (and the head) fine-tuned (RoBERTa's GLUE settings).

    Example:
        >>> from methods import get_method
        >>> get_method("full-ft") is FullFT, FullFT.DEFAULTS["cpu"]
        (True, {'lr': 2e-05})
    """

    name = "full-ft"
    paper = "Full fine-tuning"
    SOURCE = "RoBERTa (Liu et al. 2019) GLUE: lr 2e-5, 6% warm-up, linear decay"
    DEFAULTS = _same(lr=2e-5)

    def wrap(self, top):
        params = [p for p in top.parameters()]
        return top, top, params, None, None, None


def _peft(top, config):
    from peft import get_peft_model
    model = get_peft_model(top, config)
    fwd = model.base_model                         # the tuner's forward (AdaLoRA adds its term there)
    return model, fwd, [p for p in model.parameters() if p.requires_grad]


class LoRA(GradientFinetune):
    """LoRA (peft) on the query and value projections, the head trained (Hu et al.'s GLUE settings).

    Example:
        >>> from methods import get_method
        >>> get_method("lora") is LoRA, LoRA.DEFAULTS["cpu"]
        (True, {'lr': 0.0004, 'r': 8, 'alpha': 8, 'dropout': 0.0})
    """

    name = "lora"
    paper = "LoRA (Hu et al., 2022)"
    SOURCE = "LoRA (Hu et al. 2022) Table 9, RoBERTa-base GLUE: r=8, alpha=8, q/v, lr 4e-4, 6% warm-up"
    DEFAULTS = _same(lr=4e-4, r=8, alpha=8, dropout=0.0)

    def wrap(self, top):
        from peft import LoraConfig
        torch.manual_seed(derive_seed(self.ctx.seed, "lora-init") % 2 ** 31)
        cfg = LoraConfig(r=self.hp["r"], lora_alpha=self.hp["alpha"], lora_dropout=self.hp["dropout"],
                         target_modules=TARGETS, modules_to_save=["classifier"])
        model, fwd, params = _peft(top, cfg)
        return model, fwd, params, None, None, None

    def _fwd_of(self, model):
        return model.base_model


class AdaLoRA(LoRA):
    """AdaLoRA (peft): LoRA whose rank budget is reallocated during training, init_r -> target_r.

    Example:
        >>> from methods import get_method
        >>> get_method("adalora") is AdaLoRA, AdaLoRA.DEFAULTS["cpu"]["init_r"], AdaLoRA.DEFAULTS["cpu"]["target_r"]
        (True, 12, 8)
    """

    name = "adalora"
    paper = "AdaLoRA (Zhang et al., 2023)"
    SOURCE = ("AdaLoRA (Zhang et al. 2023) GLUE: init_r 12, target_r 8, orth. weight 0.1, beta 0.85, lr 1e-3; "
              "tinit/tfinal 10%/70% of total_step, deltaT 10")
    DEFAULTS = _same(lr=1e-3, init_r=12, target_r=8, orth_reg_weight=0.1, beta=0.85, tinit=0.1, tfinal=0.7,
                     deltaT=10, alpha=8, dropout=0.0)

    def wrap(self, top):
        from peft import AdaLoraConfig
        hp, total = self.hp, self.ctx.settings["max_steps"]
        torch.manual_seed(derive_seed(self.ctx.seed, "lora-init") % 2 ** 31)
        tinit, tfinal = int(hp["tinit"] * total), int((1 - hp["tfinal"]) * total)
        cfg = AdaLoraConfig(init_r=hp["init_r"], target_r=hp["target_r"], lora_alpha=hp["alpha"],
                            lora_dropout=hp["dropout"], target_modules=TARGETS, modules_to_save=["classifier"],
                            orth_reg_weight=hp["orth_reg_weight"], beta1=hp["beta"], beta2=hp["beta"],
                            tinit=tinit, tfinal=tfinal, deltaT=hp["deltaT"], total_step=total)
        model, fwd, params = _peft(top, cfg)
        self.rank_updates = 0

        def after_step(step):
            model.base_model.update_and_allocate(step)     # AdaLoRA's rank reallocation
            self.rank_updates += 1

        def loss_fn(x, m, y):
            out = fwd(hidden=x, mask=m, labels=y)          # AdaLoRA's forward adds the orthogonality term
            return out.loss, torch.nn.functional.cross_entropy(out.logits, y)

        return model, fwd, params, None, after_step, loss_fn

    def adapt(self, task):
        model, info = super().adapt(task)
        info["rank_updates"] = self.rank_updates
        return model, info


class DyLoRA(GradientFinetune):
    """DyLoRA (:mod:`.dylora`): a rank sampled each step, frozen lower ranks, evaluated at ``r_max``.

    Example:
        >>> from methods import get_method
        >>> get_method("dylora") is DyLoRA, DyLoRA.DEFAULTS["cpu"]["r_max"], DyLoRA.DEFAULTS["cpu"]["frozen"]
        (True, 8, True)
    """

    name = "dylora"
    paper = "DyLoRA (Valipour et al., 2023)"
    SOURCE = "DyLoRA (Valipour et al. 2023) RoBERTa-base: r in 1..8, frozen mode, eval at r=8; lr/alpha as LoRA"
    DEFAULTS = _same(lr=4e-4, r_max=8, alpha=8, frozen=True, dropout=0.0)

    def wrap(self, top):
        hp = self.hp
        for p in top.parameters():
            p.requires_grad_(False)
        mods = apply_dylora(top.layers, TARGETS, hp["r_max"], float(hp["alpha"]),
                            derive_seed(self.ctx.seed, "lora-init") % 2 ** 31, hp["frozen"], hp["dropout"])
        for p in top.classifier.parameters():
            p.requires_grad_(True)
        params = [p for p in top.parameters() if p.requires_grad]
        g = generator(self.ctx.seed, "dylora-rank")
        self.ranks = []

        def after_step(step):                               # the rank of the next step
            b = int(torch.randint(1, hp["r_max"] + 1, (1,), generator=g))
            set_rank(mods, b)
            self.ranks.append(b)

        after_step(0)
        self._mods = mods

        def fwd(x, m):
            return top(x, m)
        return top, fwd, params, None, after_step, None

    def adapt(self, task):
        model, info = super().adapt(task)
        set_rank(self._mods, self.hp["r_max"])              # evaluate at the full rank
        info["ranks_sampled"] = {str(b): self.ranks.count(b) for b in sorted(set(self.ranks))}
        return model, info


class FourierFT(GradientFinetune):
    """FourierFT (peft): spectral coefficients on query/value, with per-task published settings.

    Example:
        >>> from methods import get_method
        >>> get_method("fourierft") is FourierFT
        True
        >>> FourierFT.hyper_parameters("cpu", "glue-qnli", {})
        {'lr': 0.1, 'head_lr': 0.001, 'n_frequency': 1000, 'scaling': 29.0}
    """

    name = "fourierft"
    paper = "FourierFT (Gao et al., 2024)"
    SOURCE = ("FourierFT (Gao et al. 2024) official GLUE scripts, RoBERTa-base: n_frequency 1000, "
              "scaling 151 (MRPC) / 29 (QNLI), lr 0.05 / 0.1, head lr 0.006 / 0.001")
    DEFAULTS = _same(lr=0.05, head_lr=0.006, n_frequency=1000, scaling=151.0)
    DATASET_DEFAULTS = {"glue-mrpc": _same(lr=0.05, head_lr=0.006, scaling=151.0),
                        "glue-qnli": _same(lr=0.1, head_lr=0.001, scaling=29.0)}

    def wrap(self, top):
        from peft import FourierFTConfig
        hp = self.hp
        cfg = FourierFTConfig(n_frequency=hp["n_frequency"], scaling=hp["scaling"], target_modules=TARGETS,
                              modules_to_save=["classifier"],
                              random_loc_seed=derive_seed(self.ctx.seed, "fourier-loc") % 2 ** 31)
        model, fwd, params = _peft(top, cfg)
        head = [p for n, p in model.named_parameters() if p.requires_grad and "classifier" in n]
        spectral = [p for n, p in model.named_parameters() if p.requires_grad and "classifier" not in n]
        groups = [{"params": spectral, "lr": hp["lr"]}, {"params": head, "lr": hp["head_lr"]}]
        return model, fwd, params, groups, None, None

    def _fwd_of(self, model):
        return model.base_model
