"""Mc-Di and Mv-Di on Table 5: generate a GLUE task's LoRA matrices (and classification head)
with the same diffusion core as the image tables (the 1-D U-Net denoiser, Algorithm 2's REPTILE
meta-training, the local consistency loss of Eq. 3, the deterministic sampler).

Readings (docs/readings.md, "Table 5"; the papers say only "LoRA matrices are generated following
the fine-tuning process given by [36]"):
- *meta-training tasks*: ``tasks_per_source`` labelled subsets (``task_per_class`` examples of each
  label) of each of SST-2, QQP, RTE, WNLI and CoLA's training sets;
- *trajectories* (Algorithm 1): LoRA (r = ``r``, alpha = ``alpha``, query/value of the top layers)
  and the head fine-tuned on each task with Adam at Algorithm 1's lr 0.005 from one shared start
  (``init="shared"``: LoRA's own A draw and B = 0, one per seed; ``"per-task"``: each task its own
  A), until the training loss plateaus (M), recorded at the fractions g/``grid`` of M; no SAM or
  augmentation here (an image-only part of Algorithm 1 in this harness);
- *Emb*: the pretrained top's mean-pooled features of the task's examples, averaged per class;
- *generation*: from ``cond_examples`` per class of the evaluation task's training set, no
  gradient step; with ``finetune=True`` (the row "Mc-Di [+ft]") the generated LoRA is the start of
  LoRA's fine-tuning to convergence, and the latency counts both.
"""
from __future__ import annotations

import json

import torch

from benchmark.atomic import atomic_torch_save
from benchmark.config import ConfigError
from benchmark.seeding import derive_seed, generator
from benchmark.text.finetune import FinetuneConfig, finetune, plateau_batched
from benchmark.weights import local_targets

from ..diffusion.denoiser import UNet1D
from ..diffusion.losses import WEIGHTINGS
from ..diffusion.meta_train import MetaConfig, reptile_denoiser
from ..diffusion.sampler import sample
from ..diffusion.schedule import SCHEDULES, make_alphas, segment_starts, target_steps
from .base import TextMethod
from .finetuners import TARGETS

SOURCES = ("sst2", "qqp", "rte", "wnli", "cola")


def _profile(**kw) -> dict:
    base = dict(r=4, alpha=8, init="shared", sources=",".join(SOURCES), tasks_per_source=16, task_per_class=32,
                prep_lr=0.005, prep_max_steps=40, prep_min_steps=8, prep_patience=5, prep_tol=0.01, grid=12, prep_batch=1,
                segments=3, steps=20, strict_segments=False, schedule="linear-noise", weighting="paper",
                meta_iters=150, meta_batch=8, inner_steps=3, inner_lr=0.005, outer="adam", outer_lr=0.001, draws=8,
                channels=16, cond_dim=64, finetune=False, lr=4e-4, objective="local")
    base.update(kw)
    return base


class LoRADiffusion(TextMethod):
    """The LoRA diffusion rows of Table 5 (this class's settings are Mc-Di's: ``mc-di-lora``).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> LoRADiffusion.DEFAULTS["cpu"]["segments"], LoRADiffusion.DEFAULTS["cpu"]["steps"]
        (3, 20)
        >>> LoRADiffusion(NS(profile="cpu", cell=NS(dataset="glue-mrpc", way=2)), segments=5)
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: mc-di-lora: segments k=5 must divide grid=12
    """

    name = "mc-di-lora"
    paper = "Learning to Learn Weight Generation via Local Consistency Diffusion (Mc-Di), Table 5"
    SOURCE = "Mc-Di Algorithms 1-2 (Adam lr 0.005, k=3, T=20); LoRA r/alpha and tasks: this harness's reading"
    SHOT_INDEPENDENT_TRAINING = True
    TASK_INDEPENDENT_TRAINING = True    # trajectories and Emb from the source tasks; MRPC and QNLI share it
    TEST_TIME_HP = ("finetune", "lr")   # "Mc-Di [+ft]": LoRA fine-tuning from the generated weights
    DEFAULTS = {"smoke": _profile(tasks_per_source=2, task_per_class=4, prep_max_steps=8, prep_min_steps=2,
                                  prep_patience=2, meta_iters=4, meta_batch=4, draws=2, channels=8, cond_dim=16, r=2),
                "cpu": _profile(),
                "paper": _profile(tasks_per_source=400, task_per_class=64, prep_max_steps=200, meta_iters=6000 * 20,
                                  meta_batch=32, draws=16, channels=64, cond_dim=256, r=8)}

    def validate(self):
        hp = self.hp
        target_steps(hp["steps"], hp["segments"], hp["strict_segments"])
        if hp["grid"] % hp["segments"]:
            raise ConfigError(f"{self.name}: segments k={hp['segments']} must divide grid={hp['grid']}")
        if hp["prep_batch"] < 1:
            raise ConfigError(f"{self.name}: prep_batch must be >= 1 (tasks per batched trajectory step)")
        if hp["init"] not in ("shared", "per-task"):
            raise ConfigError(f"{self.name}: init must be 'shared' or 'per-task'")
        if hp["objective"] not in ("local", "trajectory"):
            raise ConfigError(f"{self.name}: objective must be 'local' (Mc-Di) or 'trajectory' (Lt-Di)")
        if hp["schedule"] not in SCHEDULES or hp["weighting"] not in WEIGHTINGS:
            raise ConfigError(f"{self.name}: unknown schedule or weighting")
        bad = [s for s in hp["sources"].split(",") if s not in SOURCES + ("mrpc", "qnli")]
        if bad:
            raise ConfigError(f"{self.name}: unknown source task(s) {bad}")

    def readings(self) -> dict:
        hp = self.hp
        return {"hyper_parameters_from": self.SOURCE, "init": hp["init"], "weighting": hp["weighting"],
                "schedule": hp["schedule"], "loss": self.loss_kind(), "segments": hp["segments"],
                "objective": hp["objective"],
                "finetune_after_generation": hp["finetune"], "sources": hp["sources"],
                "M": getattr(self, "M_summary", {})}

    def loss_kind(self) -> str:
        return "vanilla" if self.hp["segments"] == 1 else "local"

    # -- the LoRA model -------------------------------------------------------------------------
    def lora_model(self, init_seed: int):
        """A fresh top with LoRA on query/value (peft) and a trainable head; ``(model, params)``."""
        from peft import LoraConfig, get_peft_model
        top = self.ctx.encoder.new_top(derive_seed(self.ctx.seed, "classifier-init"))
        torch.manual_seed(init_seed % 2 ** 31)
        model = get_peft_model(top, LoraConfig(r=self.hp["r"], lora_alpha=self.hp["alpha"], lora_dropout=0.0,
                                               target_modules=TARGETS, modules_to_save=["classifier"]))
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        return model, params

    @staticmethod
    def flat(params) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for _, p in params])

    def load_flat(self, model, vec: torch.Tensor) -> None:
        """Put a flat vector into the model through peft's state-dict loader."""
        from peft import get_peft_model_state_dict, set_peft_model_state_dict
        names = [n for n, _ in self.layout]
        sd, i = get_peft_model_state_dict(model), 0
        by_name = {}
        for n, shape in self.layout:
            k = int(torch.Size(shape).numel())
            by_name[n] = vec[i:i + k].view(shape)
            i += k
        out = {}
        for key in sd:
            match = [n for n in names if _same_param(n, key)]
            if len(match) != 1:
                raise RuntimeError(f"{self.name}: cannot place {key} ({match})")
            out[key] = by_name[match[0]]
        res = set_peft_model_state_dict(model, out)
        if getattr(res, "unexpected_keys", None):
            raise RuntimeError(f"{self.name}: unexpected keys {res.unexpected_keys}")

    @torch.no_grad()
    def embed(self, task, split: str = "train") -> torch.Tensor:
        """Emb: the pretrained top's mean-pooled features, averaged per class -> ``[2, hidden]``."""
        b = task.batches(split)
        top = self._plain_top()
        feats = top.features(b.x, b.mask)
        m = b.mask.unsqueeze(-1).to(feats.dtype)
        pooled = (feats * m).sum(1) / m.sum(1).clamp_min(1)
        return torch.stack([pooled[b.y == c].mean(0) for c in (0, 1)])

    def _plain_top(self):
        if getattr(self, "_top0", None) is None:
            self._top0 = self.ctx.encoder.new_top(0).eval()
        return self._top0

    # -- Algorithm 1 on LoRA ----------------------------------------------------------------------
    def prep_config(self) -> tuple:
        """Algorithm 1's fine-tuning of one task: ``(FinetuneConfig, plateau)`` - Adam at ``prep_lr``, no
        warm-up or decay, stopped at the training loss's plateau ``(min_steps, patience, tol)``."""
        hp = self.hp
        cfg = FinetuneConfig(lr=hp["prep_lr"], batch=self.ctx.settings["batch"], max_steps=hp["prep_max_steps"],
                             warmup=0.0, decay=False)
        return cfg, (hp["prep_min_steps"], hp["prep_patience"], hp["prep_tol"])

    def prepared(self) -> dict:
        """Trajectories ``[E, grid+1, P]``, embeddings ``[E, 2, hidden]``, M per task (cached)."""
        ctx, hp = self.ctx, self.hp
        keys = ["r", "alpha", "init", "sources", "tasks_per_source", "task_per_class", "prep_lr", "prep_max_steps",
                "prep_min_steps", "prep_patience", "prep_tol", "grid", "prep_batch"]
        blob = json.dumps([ctx.settings, ctx.seed, {k: hp[k] for k in keys}], sort_keys=True, default=str)
        path = (ctx.cache_dir / "weights" / f"lora-prep-seed{ctx.seed}-{derive_seed(0, blob) % 16 ** 10:010x}.pt"
                if ctx.cache_dir else None)
        if path is not None and path.exists():
            return torch.load(path, weights_only=False)
        trajs, embs, Ms = [], [], []
        cfg, plateau = self.prep_config()
        from tqdm.auto import tqdm
        tasks = [t for src in hp["sources"].split(",")
                 for t in ctx.source_task(src, hp["task_per_class"], hp["tasks_per_source"], "lora-prep-tasks")]
        init_of = lambda j: derive_seed(ctx.seed, "lora-A") if hp["init"] == "shared" else derive_seed(ctx.seed,
                                                                                                      "lora-A", j)
        bar = tqdm(total=len(tasks), desc=f"{self.name} trajectories", disable=not ctx.progress)
        for lo in range(0, len(tasks), hp["prep_batch"]):
            chunk = range(lo, min(lo + hp["prep_batch"], len(tasks)))
            seeds = [derive_seed(ctx.seed, "lora-prep", j) for j in chunk]
            if len(chunk) == 1:                              # the plain loop (finetune's plateau rule)
                model, params = self.lora_model(init_of(lo))
                outs = [finetune(model.base_model, [p for _, p in params], tasks[lo].batches("train"), None, cfg,
                                 seeds[0], snapshot=lambda: self.flat(params), plateau=plateau)]
            else:                                            # the same updates, tasks batched (torch.func)
                starts = {}                                  # one model per distinct start (one if shared)
                for j in chunk:
                    if init_of(j) not in starts:
                        model, params = self.lora_model(init_of(j))
                        starts[init_of(j)] = {n.removeprefix("base_model."): p.detach().clone() for n, p in params}
                inits = [starts[init_of(j)] for j in chunk]
                outs = plateau_batched(model.base_model, inits, [tasks[j].batches("train") for j in chunk], cfg,
                                       seeds, plateau)
            self.layout = [(n, tuple(p.shape)) for n, p in params]
            for j, out in zip(chunk, outs):
                snaps, M = out["snapshots"], out["steps"]
                pick = torch.round(torch.arange(hp["grid"] + 1) * M / hp["grid"]).long()
                trajs.append(snaps[pick])
                embs.append(self.embed(tasks[j]))
                Ms.append(M)
                tasks[j].forget()
                bar.update(1)
        bar.close()
        prep = {"trajectory": torch.stack(trajs), "emb": torch.stack(embs), "M": torch.tensor(Ms),
                "layout": self.layout}
        if not torch.isfinite(prep["trajectory"]).all():
            raise FloatingPointError(f"{self.name}: LoRA trajectories are non-finite (lower prep_lr)")
        if path is not None:
            atomic_torch_save(prep, path)
        return prep

    # -- Algorithm 2 ---------------------------------------------------------------------------------
    def meta_train(self) -> None:
        ctx, hp = self.ctx, self.hp
        prep = self.prepared()
        self.layout = [tuple(x) if isinstance(x, list) else x for x in prep["layout"]]
        M = prep["M"].float()
        self.M_summary = {"median": float(M.median()), "min": int(M.min()), "max": int(M.max()),
                          "at_cap": int((prep["M"] >= hp["prep_max_steps"]).sum()), "tasks": len(M)}
        targets = local_targets(prep["trajectory"], hp["segments"], hp["grid"])          # [E, k, P]
        self._fit_norm(targets, prep["emb"])
        x = ((targets - self.w_mean) / self.w_std).to(ctx.device)
        e = self._emb(prep["emb"]).to(ctx.device)
        self._build(x.shape[-1], e.shape[-1])
        s_of = torch.tensor(target_steps(hp["steps"], hp["segments"], hp["strict_segments"]))
        cfg = MetaConfig(objective=self.loss_kind(), weighting=hp["weighting"], iters=hp["meta_iters"],
                         meta_batch=hp["meta_batch"], inner_steps=hp["inner_steps"], inner_lr=hp["inner_lr"],
                         outer=hp["outer"], outer_lr=hp["outer_lr"], draws=hp["draws"])
        # Mc-Di: t in [0, s_i) for target i; Lt-Di (Eq. 2): only its own segment [s_{i-1}, s_i)
        s_lo = segment_starts(s_of) if hp["objective"] == "trajectory" else None
        self.curves = reptile_denoiser(self.net, x, e, s_of, self.alphas, cfg, generator(ctx.seed, "lora-meta"),
                                       ctx.progress, f"{self.name} meta-train", s_lo=s_lo, store=ctx.store)
        self.net.eval()

    def _fit_norm(self, targets: torch.Tensor, emb: torch.Tensor) -> None:
        """Per-tensor mean/std of the targets (each LoRA matrix, the head); per-dimension of Emb."""
        mean, std, i = [], [], 0
        for _, shape in self.layout:
            k = int(torch.Size(shape).numel())
            block = targets[..., i:i + k]
            mean.append(torch.full((k,), block.mean().item()))
            std.append(torch.full((k,), block.std().clamp_min(1e-8).item()))
            i += k
        self.w_mean, self.w_std = torch.cat(mean), torch.cat(std)
        self.e_mean, self.e_std = emb.mean((0, 1)), emb.std((0, 1)).clamp_min(1e-6)

    def _emb(self, emb: torch.Tensor) -> torch.Tensor:
        return ((emb - self.e_mean) / self.e_std).flatten(1)

    def _build(self, P: int, emb_dim: int) -> None:
        torch.manual_seed(derive_seed(self.ctx.seed, "denoiser-init") % 2 ** 31)
        self.net = UNet1D(P, emb_dim, channels=self.hp["channels"], cond_dim=self.hp["cond_dim"]).to(self.ctx.device)
        self.alphas = make_alphas(self.hp["schedule"], self.hp["steps"])

    # -- generation ------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, emb: torch.Tensor) -> torch.Tensor:
        """Flat LoRA + head vectors for embeddings ``[E, 2, hidden]`` (de-normalised)."""
        e = self._emb(emb).to(self.ctx.device)
        x0 = torch.randn(len(e), len(self.w_mean), generator=generator(self.ctx.seed, "lora-generate")).to(e.device)
        x = sample(lambda x, t: self.net(x, t, e), x0, self.alphas)
        out = x.cpu() * self.w_std + self.w_mean
        if not torch.isfinite(out).all():
            raise FloatingPointError(f"{self.name}: generated non-finite weights")
        return out

    def adapt(self, task):
        import time
        t0 = time.perf_counter()
        vec = self.generate(self.embed(task, "cond").unsqueeze(0))[0]
        model, params = self.lora_model(derive_seed(self.ctx.seed, "lora-A"))
        self.load_flat(model, vec)
        info = {"generation_s": round(time.perf_counter() - t0, 4), "trainable_parameters": len(vec)}
        if self.hp["finetune"]:
            out = self.run_finetune(model.base_model, [p for _, p in params], task)
            info.update(out)
        return model, info

    def predict(self, model, data):
        return super().predict(model.base_model, data)

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "w_mean": self.w_mean, "w_std": self.w_std, "e_mean": self.e_mean,
                "e_std": self.e_std, "layout": self.layout, "curves": getattr(self, "curves", []),
                "M_summary": getattr(self, "M_summary", {})}

    def load_state_dict(self, state: dict) -> None:
        for k in ("w_mean", "w_std", "e_mean", "e_std", "layout", "curves", "M_summary"):
            setattr(self, k, state.get(k))
        self.layout = [tuple(x) if isinstance(x, list) else x for x in self.layout]
        self._build(len(self.w_mean), len(self.e_mean) * 2)
        self.net.load_state_dict(state["net"])
        self.net.eval()


def _same_param(param_name: str, state_key: str) -> bool:
    """peft's state-dict keys drop the adapter name (``lora_A.default.weight`` -> ``lora_A.weight``;
    ``modules_to_save.default.`` -> the module path)."""
    a = param_name.replace(".default", "").replace("modules_to_save.", "")
    b = state_key.replace(".default", "").replace("modules_to_save.", "")
    return a == b


class McDiLoRA(LoRADiffusion):
    """Mc-Di on Table 5: :class:`LoRADiffusion` as it is (k = 3 local consistency targets).

    Example:
        >>> from methods import get_method
        >>> get_method("mc-di-lora") is McDiLoRA, McDiLoRA.DEFAULTS == LoRADiffusion.DEFAULTS
        (True, True)
    """

    name = "mc-di-lora"


class MvDiLoRA(LoRADiffusion):
    """Mv-Di on Table 5: k = 1 (vanilla diffusion on theta_M).

    Example:
        >>> from methods import get_method
        >>> get_method("mv-di-lora") is MvDiLoRA, MvDiLoRA.DEFAULTS["cpu"]["segments"]
        (True, 1)
    """
    name = "mv-di-lora"
    DEFAULTS = {p: dict(v, segments=1) for p, v in LoRADiffusion.DEFAULTS.items()}


class LtDiLoRA(LoRADiffusion):
    """Lt-Di on the Lt-Di paper's Table 5: the LoRA trajectory's k = 3 points, each trained only on its
    own segment of the chain (Lt-Di Eq. 2); everything else as ``mc-di-lora``.

    Example:
        >>> from methods import get_method
        >>> get_method("lt-di-lora") is LtDiLoRA
        True
        >>> LtDiLoRA.DEFAULTS["cpu"]["objective"], LtDiLoRA.DEFAULTS["cpu"]["segments"]
        ('trajectory', 3)
    """
    name = "lt-di-lora"
    paper = "Learning to Learn Weight Generation via Trajectory Diffusion (Lt-Di), Table 5"
    DEFAULTS = {p: dict(v, objective="trajectory") for p, v in LoRADiffusion.DEFAULTS.items()}


class LvDiLoRA(MvDiLoRA):
    """Lv-Di on the Lt-Di paper's Table 5: vanilla diffusion on theta_M - Mv-Di's objective, under the
    Lt-Di paper's name (as ``lv-di`` is ``mv-di``'s).

    Example:
        >>> from methods import get_method
        >>> get_method("lv-di-lora") is LvDiLoRA, LvDiLoRA.DEFAULTS == MvDiLoRA.DEFAULTS
        (True, True)
    """
    name = "lv-di-lora"
    paper = LtDiLoRA.paper

    @classmethod
    def same_computation(cls, hp: dict) -> tuple | None:
        """Mv-Di's cell with the same ``hp``: this class is Mv-Di's under another name (no override), so a
        record of ``mv-di-lora`` stands for it.

        Example:
            >>> hp = LvDiLoRA.hyper_parameters("cpu", "glue-mrpc", {}, way=2)
            >>> LvDiLoRA.same_computation(hp) == ("mv-di-lora", hp)
            True
        """
        return "mv-di-lora", dict(hp)
