"""OCD (Lutati & Wolf 2023, "OCD: Learning to Overfit with Conditional Diffusion Models"),
adapted to head generation on a frozen body - the "diffusion only" row of Mc-Di's Table 1.

OCD's mechanism: a conditional diffusion model generates the *weight change* of one layer
of a base model (the change that would fit it to the input), conditioned on the input's
encoding, trained directly (single-level, no meta-learning) on (input, fine-tuned weight
change) pairs.

Here: the layer is the linear head; the base head is the mean theta_M of the prepared
meta-train tasks (weight by weight); the target of each task is its change
theta_M - base (theta_M from Algorithm 1, the same targets as Mv-Di); the condition is the
task embedding (support class means), the denoiser is Mc-Di's 1-D U-Net, trained with the
vanilla DDPM loss (Eq. 1) by plain Adam on mini-batches of tasks (``outer="plain"``: K steps
per iteration, the same number of gradient evaluations as Mv-Di's inner loops); a new
task's head is base + the generated change (deterministic sampler, T = 20).

Deviations from the paper (documented in docs/methods.md): OCD conditions on a single
input sample and its base model is a network trained on the whole training set; here the
"input" is a whole few-shot task and the base is the mean prepared head, since a 5-way head's
rows are task-specific. OCD's sampling uses DDIM with a few steps; we use the same T = 20
deterministic chain as the other diffusion rows so that only the learning scheme differs.
"""
from __future__ import annotations

from .mcdi import WeightDiffusion


class OCD(WeightDiffusion):
    """OCD as a registered method: diffusion of the change from the mean prepared head, single-level.

    Example:
        >>> from methods import get_method
        >>> get_method("ocd") is OCD
        True
        >>> {k: OCD.DEFAULTS["cpu"][k] for k in ("segments", "outer", "residual")}
        {'segments': 1, 'outer': 'plain', 'residual': True}
    """

    name = "ocd"
    paper = "OCD: Learning to Overfit with Conditional Diffusion Models (Lutati & Wolf, ICML 2023)"
    DEFAULTS = {p: dict(v, segments=1, outer="plain", residual=True)
                for p, v in WeightDiffusion.DEFAULTS.items()}
