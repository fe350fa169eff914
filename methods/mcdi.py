"""Mc-Di and its ablations (Mc-Di paper, Sections 2-3; Algorithms 1 and 2).

The generator is a denoiser eps_phi(x_t, t, Emb) (a 1-D U-Net over the flattened,
per-layer-normalised head weights) conditioned on the task embedding Emb = the
support features of the frozen body, class by class (class means), so the
generated head's rows line up with the task's classes. It is meta-trained with
REPTILE (Algorithm 2) over (task j, local target i) pairs taken from heads
prepared by Algorithm 1 (:mod:`benchmark.weights`), and generates a new task's
head from its support set with the deterministic sampler - no gradient steps at
test time.

Variants (one class, one objective switch):
- ``mc-di``: k = 3 local targets, local consistency loss (Eq. 3);
- ``mv-di``: k = 1 (Proposition 1: vanilla diffusion on theta_M);
- ``tw-di``: the k = 3 local targets, each treated as the chain's end point with
  the vanilla loss (Eq. 1) - C2 without C3;
- ``lt-di`` (the earlier paper, trajectory diffusion): trajectory length 4 (m = 3), i.e.
  the same three targets at the same steps, but each trained only on its own segment of
  the chain (Lt-Di Eq. 2, ``objective="trajectory"``);
- ``lv-di``: trajectory length 2 (m = 1): only theta_M at the end of the chain, which is
  vanilla diffusion - the same objective as ``mv-di`` (kept as its own row because the
  Lt-Di paper reports it under this name).

Readings and deviations (see docs/readings.md):
- Emb: class means of the frozen Conv4 body's support features, standardised
  per dimension over the prepared meta-train tasks ("calculated by a ResNet101
  backbone used by [5]" in the paper: no ImageNet ResNet101 can be loaded here,
  and the class-mean embedding of the task's own body keeps rows aligned).
- Optimisers: inner loop Adam (lr eta), outer loop Adam on the REPTILE
  pseudo-gradient (phi - mean phi_i) with lr zeta (Lt-Di's appendix: "Adam for both
  loops"); ``outer="sgd"`` gives phi += zeta * mean(phi_i - phi) as in Algorithm 2.
- The ``cpu`` profile uses fewer meta-training tasks and iterations and a narrower
  U-Net than the paper (6000 epochs on 2 A100s).
"""
from __future__ import annotations

import torch

from benchmark.config import ConfigError, compile_sampler
from benchmark.seeding import derive_seed, generator
from benchmark.weights import local_targets

from .prepared import HeadGenerator, prep_defaults
from .diffusion.denoiser import UNet1D
from .diffusion.meta_train import MetaConfig, reptile_denoiser
from .diffusion.sampler import chain_coefficients, compiled, run_chain, sample
from .diffusion.losses import WEIGHTINGS
from .diffusion.schedule import SCHEDULES, alpha_bar_local, make_alphas, segment_starts, target_steps


def _profile(**kw):
    base = prep_defaults(segments=3, steps=20, strict_segments=False, schedule="linear-noise", weighting="paper",
                         objective="local", meta_iters=150, meta_batch=8, inner_steps=3, inner_lr=0.005,
                         outer="adam", outer_lr=0.001, draws=8, channels=16, cond_dim=64, aligned_emb=True,
                         time_input="absolute")
    base.update(kw)
    return base


class WeightDiffusion(HeadGenerator):
    """The diffusion head generator behind every row of the module docstring: Algorithm 1's heads as
    targets, a :class:`~methods.diffusion.denoiser.UNet1D` meta-trained by Algorithm 2, one-shot
    generation by the deterministic sampler. The rows differ only in their DEFAULTS.

    Example:
        >>> from methods import get_method
        >>> for m in ("mc-di", "mv-di", "tw-di", "lt-di", "lv-di"):
        ...     print(m, get_method(m).DEFAULTS["cpu"]["segments"], get_method(m).DEFAULTS["cpu"]["objective"])
        mc-di 3 local
        mv-di 1 local
        tw-di 3 tw-di
        lt-di 3 trajectory
        lv-di 1 trajectory
    """
    name = "mc-di"
    paper = "Learning to Learn Weight Generation via Local Consistency Diffusion (Mc-Di)"
    DEFAULTS = {
        "smoke": _profile(tasks=64, meta_iters=80, meta_batch=8, draws=4, channels=8, cond_dim=32,
                          max_steps=40, outer_lr=0.01),
        "cpu": _profile(),
        "paper": _profile(tasks=20000, meta_iters=6000 * 20, meta_batch=32, draws=16, channels=64,
                          cond_dim=256),
    }

    def validate(self):
        hp = self.hp
        target_steps(hp["steps"], hp["segments"], hp["strict_segments"])   # inconsistent k, T: a clear error
        if hp["grid"] % hp["segments"]:
            raise ConfigError(f"{self.name}: segments k={hp['segments']} must divide grid={hp['grid']}")
        if hp["objective"] not in ("local", "tw-di", "trajectory"):
            raise ConfigError(f"{self.name}: objective must be 'local', 'tw-di' or 'trajectory'")
        if hp["time_input"] not in ("absolute", "relative"):
            raise ConfigError(f"{self.name}: time_input must be 'absolute' or 'relative'")
        if hp["weighting"] not in WEIGHTINGS:
            raise ConfigError(f"{self.name}: weighting must be one of {', '.join(WEIGHTINGS)}")
        if hp["schedule"] not in SCHEDULES:
            raise ConfigError(f"{self.name}: schedule must be one of {', '.join(SCHEDULES)}")

    TRAINING_LOGS = ("curves",)  # kept whole when model selection restores an earlier state
    INFERENCE_STEPS = True       # the chain can be run on fewer steps (Figure 6, right)

    # -- the denoiser ------------------------------------------------------------------------
    extra_channels = 0          # further per-weight inputs of the U-Net (Meta-Diff: the support gradient)

    def _wrap(self, unet: UNet1D):
        """The network eps_phi(x, t, emb) around the U-Net (the U-Net itself; Meta-Diff adds its gradient)."""
        return unet

    def _build(self, P: int, emb_dim: int) -> None:
        torch.manual_seed(derive_seed(self.ctx.seed, "denoiser-init") % 2 ** 31)
        unet = UNet1D(P, emb_dim, channels=self.hp["channels"], cond_dim=self.hp["cond_dim"],
                      emb_layout=self.emb_layout(P, emb_dim), extra_channels=self.extra_channels)
        self.net = self._wrap(unet).to(self.ctx.device)
        self.alphas = make_alphas(self.hp["schedule"], self.hp["steps"])
        self.time_map = self._time_map()

    def _steps(self) -> tuple:
        """(the step s_i at which target i is reached ``[k]``, the first step of its t range ``[k]``)."""
        hp = self.hp
        if hp["objective"] == "tw-di":                                   # every target at the chain's end
            return torch.full((hp["segments"],), hp["steps"]), torch.zeros(hp["segments"], dtype=torch.long)
        s_of = torch.tensor(target_steps(hp["steps"], hp["segments"], hp["strict_segments"]))
        if hp["objective"] == "trajectory":                              # Lt-Di: own segment only
            return s_of, segment_starts(s_of)
        return s_of, torch.zeros_like(s_of)                              # Mc-Di: t in [0, s_i)

    def _time_map(self) -> torch.Tensor:
        """The step the denoiser is told: t ("absolute"), or Lt-Di Eq. 2's eps_phi(x_t, t - k), i.e.
        the distance s_i - t to the segment's target ("relative", trajectory objective only)."""
        T = self.hp["steps"]
        if self.hp["time_input"] == "absolute":
            return torch.arange(T)
        s_of, s_lo = self._steps()
        t = torch.arange(T)
        seg = torch.searchsorted(s_of, t, right=True)                   # s_lo[seg] <= t < s_of[seg]
        return s_of[seg] - t

    def _targets(self, prep: dict) -> tuple:
        """(targets ``[E, k, P]``, the step s_i at which each is reached ``[k]``, its first t ``[k]``)."""
        return (local_targets(prep["trajectory"], self.hp["segments"], self.hp["grid"]),) + self._steps()

    def _eps_model(self, emb: torch.Tensor):
        """eps_phi(x, t) for a batch of tasks with standardised, flattened embeddings ``emb`` (the
        U-Net's conditioning precomputed for the whole chain, :meth:`UNet1D.chain`, when the
        network is the plain U-Net)."""
        tmap = self.time_map.to(emb.device)
        if isinstance(self.net, UNet1D):
            return self.net.chain(emb, tmap)
        return lambda x, t: self.net(x, tmap[t], emb)

    def loss_kind(self) -> str:
        """"vanilla" (Eq. 1) for Tw-Di and for every k = 1 method (Proposition 1: Mv-Di, Lv-Di, OCD,
        Meta-Diff), "local" (Eq. 3 terms; Lt-Di restricts their t range) otherwise."""
        return "vanilla" if self.hp["objective"] == "tw-di" or self.hp["segments"] == 1 else "local"

    def meta_config(self) -> MetaConfig:
        hp = self.hp
        return MetaConfig(objective=self.loss_kind(), weighting=hp["weighting"], iters=hp["meta_iters"],
                          meta_batch=hp["meta_batch"], inner_steps=hp["inner_steps"], inner_lr=hp["inner_lr"],
                          outer=hp["outer"], outer_lr=hp["outer_lr"], draws=hp["draws"])

    def readings(self) -> dict:
        """The readings this cell ran with (docs/readings.md), for its record."""
        hp = self.hp
        alphas = make_alphas(hp["schedule"], hp["steps"])
        s_of, _ = self._steps()
        return {"init": hp["init"], "weighting": hp["weighting"], "loss": self.loss_kind(),
                "schedule": hp["schedule"], "objective": hp["objective"],
                "abar_local_0": [round(float(alpha_bar_local(alphas, int(s))[0]), 6) for s in s_of]}

    # -- Algorithm 2 ---------------------------------------------------------------------------
    def meta_train(self) -> None:
        ctx = self.ctx
        prep = self.prepared_weights()
        targets, s_of, s_lo = self._targets(prep)                         # [E, k, P], [k], [k]
        self._normalise_fit(targets, prep["emb"])
        targets_n = ((targets - self.w_mean) / self.w_std).to(ctx.device)
        emb_n = self._emb(prep["emb"]).to(ctx.device)
        self._build(targets.shape[-1], emb_n.shape[1])
        self.curves = reptile_denoiser(self.net, targets_n, emb_n, s_of, self.alphas, self.meta_config(),
                                       generator(ctx.seed, "mcdi-meta"), ctx.progress, f"{self.name} meta-train",
                                       s_lo=s_lo, time_map=self.time_map, select=self.selector,
                                       store=ctx.store)
        self.net.eval()

    # -- generation -------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, protos: torch.Tensor, return_chain: bool = False, seed_tag: str = "generate",
                 steps: int | None = None):
        """De-normalised flat heads for class-mean embeddings ``protos`` ``[E, way, d]`` (``steps``: run
        the chain on that many of its T steps, :func:`~.diffusion.sampler.respaced`)."""
        g = generator(self.ctx.seed, seed_tag)
        x0 = torch.randn(protos.shape[0], len(self.w_mean), generator=g).to(protos.device)
        if compile_sampler() and not return_chain and steps in (None, self.hp["steps"]) \
                and isinstance(self.net, UNet1D):
            return self._denorm(self._compiled_chain()(self._emb(protos), x0))
        out = sample(self._eps_model(self._emb(protos)), x0, self.alphas, return_chain=return_chain, steps=steps)
        return [self._denorm(x) for x in out] if return_chain else self._denorm(out)

    def _chain(self, emb: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """x_T for embeddings ``emb`` from ``x0``: :func:`sample`'s chain in the form that compiles whole."""
        return run_chain(self._eps_model(emb).at, x0, self._coefficients)

    def _compiled_chain(self):
        """:meth:`_chain` under ``torch.compile`` (``--compile``; :func:`benchmark.config.compile_sampler`),
        built on first use: the conditioning, the T U-Net calls and updates of one generation in one
        compiled function."""
        if getattr(self, "_compiled", None) is None:
            self._coefficients = chain_coefficients(self.alphas)     # Python floats: constants of the graph
            self._compiled = compiled(self._chain)
        return self._compiled

    def _extra_state(self) -> dict:
        return {"curves": getattr(self, "curves", [])}

    def _load_extra(self, state: dict) -> None:
        self.curves = state.get("curves", [])


class McDi(WeightDiffusion):
    """Mc-Di: k = 3 local targets reached at steps s_i = floor(i*T/k), local consistency loss (Eq. 3).

    Example:
        >>> from methods import get_method
        >>> get_method("mc-di") is McDi, McDi.DEFAULTS["cpu"]["segments"], McDi.DEFAULTS["cpu"]["steps"]
        (True, 3, 20)
    """
    name = "mc-di"


class MvDi(WeightDiffusion):
    """Mv-Di: k = 1, i.e. vanilla diffusion on theta_M (Proposition 1).

    Example:
        >>> MvDi.DEFAULTS["cpu"]["segments"], MvDi.DEFAULTS["cpu"]["objective"]
        (1, 'local')
    """
    name = "mv-di"
    DEFAULTS = {p: dict(v, segments=1) for p, v in WeightDiffusion.DEFAULTS.items()}


class TwDi(WeightDiffusion):
    """Tw-Di: the k = 3 local targets each used as the chain's end point with the vanilla loss.

    Example:
        >>> TwDi.DEFAULTS["cpu"]["segments"], TwDi.DEFAULTS["cpu"]["objective"]
        (3, 'tw-di')
    """
    name = "tw-di"
    DEFAULTS = {p: dict(v, objective="tw-di") for p, v in WeightDiffusion.DEFAULTS.items()}


class LtDi(WeightDiffusion):
    """Lt-Di (trajectory diffusion): trajectory length 4 (m = 3 segments), each trajectory point
    trained only on its own segment of the chain (Lt-Di Eq. 2). Same targets, steps, denoiser,
    Algorithm 2 and sampler as Mc-Di; only the t range of each L_i differs.

    Example:
        >>> LtDi.DEFAULTS["cpu"]["segments"], LtDi.DEFAULTS["cpu"]["objective"]
        (3, 'trajectory')
    """
    name = "lt-di"
    paper = "Learning to Learn Weight Generation via Trajectory Diffusion (Lt-Di)"
    DEFAULTS = {p: dict(v, objective="trajectory") for p, v in WeightDiffusion.DEFAULTS.items()}


class LvDi(WeightDiffusion):
    """Lv-Di: trajectory length 2 (m = 1), i.e. vanilla diffusion on theta_M - the same objective
    as Mv-Di, reported under the Lt-Di paper's name.

    Example:
        >>> LvDi.DEFAULTS["cpu"]["segments"], LvDi.DEFAULTS["cpu"]["objective"]
        (1, 'trajectory')
    """
    name = "lv-di"
    paper = LtDi.paper
    DEFAULTS = {p: dict(v, objective="trajectory", segments=1) for p, v in WeightDiffusion.DEFAULTS.items()}

    @classmethod
    def same_computation(cls, hp: dict) -> tuple | None:
        """Mv-Di's cell with ``objective="local"``: with one segment (s_1 = T, its own segment [0, T) is
        the whole chain: Lt-Di Eq. 2 = Eq. 1 = Eq. 3 at k = 1) and the absolute time input, ``objective``
        changes nothing that is computed (the same class, seeds and sampler); a record of Mv-Di stands for
        Lv-Di. Not with ``time_input="relative"`` (the denoiser is told T - t) or more segments.

        Example:
            >>> hp = LvDi.hyper_parameters("cpu", "omniglot", {})
            >>> m, twin = LvDi.same_computation(hp)
            >>> m, twin == dict(hp, objective="local"), LvDi.same_computation(dict(hp, time_input="relative"))
            ('mv-di', True, None)
        """
        if hp["segments"] == 1 and hp["time_input"] == "absolute" and hp["objective"] == "trajectory":
            return "mv-di", dict(hp, objective="local")
        return None
