"""Weight preparation (Mc-Di Algorithm 1), batched over tasks.

For every task: start the head from a Gaussian ``theta_0`` (each task its own draw,
``init="per-task"``, the default; or one draw per seed shared by every task, ``"shared"``; or
zeros, ``"zero"``: docs/readings.md), train it with Adam
(lr 0.005) on the task's support features with SAM (``eps = rho g/||g||``, the
gradient taken at ``theta + eps``) and input augmentation (Gaussian pixel noise
and a random rotation, applied to the *images*, whose body features are computed
once per augmented view), until early stopping picks ``M``; record the trajectory
at the fractions ``g/G`` of ``M`` (g = 0..G), from which the k local targets
``theta_{i*d}`` (d = M/k) and Lt-Di's trajectory points are read.

All tasks are trained at once: heads are stacked along a task dimension and the
loss is a sum of per-task losses, so gradients and Adam's element-wise updates
are exactly those of independent per-task runs (SAM's norm is taken per task).

Early stopping ("an automatic early-stopping strategy [43]", Prechelt): a few-shot
task has no validation data, so a pass first records each task's support loss and
``M_j`` is the first step at which the loss fell by less than ``tol`` (relative)
over the last ``patience`` steps (at least ``min_steps``, at most ``max_steps``); a
second, identical pass records the trajectory at the needed steps.

Example:
    >>> feats = torch.randn(4, 2, 5, 8)           # 4 tasks, 2 views, 5 support samples, 8 features
    >>> labels = torch.arange(5).expand(4, 5)
    >>> prep = prepare_heads(feats, labels, way=5, cfg=PrepConfig(max_steps=20, min_steps=5), seed=0)
    >>> prep["trajectory"].shape                  # [tasks, G+1, head parameters]
    torch.Size([4, 13, 45])
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .models.heads import head_forward, head_shapes, init_head
from .seeding import generator


@dataclass
class PrepConfig:
    """Algorithm 1's settings: Adam, SAM, augmented views, early stopping, trajectory grid and theta_0.

    Example:
        >>> cfg = PrepConfig(max_steps=50, sam=False)
        >>> cfg.lr, cfg.grid, cfg.to_dict()["max_steps"], cfg.to_dict()["sam"]
        (0.005, 12, 50, False)
    """
    head: str = "linear"
    lr: float = 0.005              # Adam, "a fixed learning rate of 0.005"
    rho: float = 0.05              # SAM perturbation radius
    sam: bool = True
    augment: bool = True
    views: int = 4                 # augmented views per support image (view 0 is clean)
    noise: float = 0.1             # std of the pixel noise (in normalised units)
    rotation: float = 15.0         # max |angle| in degrees
    max_steps: int = 100
    min_steps: int = 12
    patience: int = 10
    tol: float = 0.001
    stop_ref: str = "start"        # plateau measured against the starting loss ("start") or the current one
    grid: int = 12                 # trajectory stored at fractions g/grid of M (divisible by 1,2,3,4,6,12)
    init_std: float | None = None  # theta_0 std (default 1/sqrt(fan_in))
    init: str = "per-task"         # theta_0: "per-task" (each task its own Gaussian draw), "shared", "zero"

    def to_dict(self) -> dict:
        return asdict(self)


def flatten_head(params: dict) -> torch.Tensor:
    """``{name: [E, *shape]}`` -> ``[E, P]`` in the order of :func:`head_shapes`.

    Example:
        >>> p = init_head("linear", feat_dim=8, way=5, batch=(3,))
        >>> flatten_head(p).shape                                    # 5 x 8 weights, then 5 biases
        torch.Size([3, 45])
    """
    return torch.cat([v.flatten(1) for v in params.values()], dim=1)


def unflatten_head(flat: torch.Tensor, kind: str, feat_dim: int, way: int) -> dict:
    """Inverse of :func:`flatten_head` for a ``[E, P]`` tensor.

    Example:
        >>> p = init_head("linear", 8, 5, torch.Generator().manual_seed(0), batch=(3,))
        >>> q = unflatten_head(flatten_head(p), "linear", 8, 5)
        >>> {k: tuple(v.shape) for k, v in q.items()}, torch.equal(q["w"], p["w"])
        ({'w': (3, 5, 8), 'b': (3, 5)}, True)
    """
    out, i = {}, 0
    for name, shape in head_shapes(kind, feat_dim, way).items():
        n = math.prod(shape)
        out[name] = flat[:, i:i + n].reshape(flat.shape[0], *shape)
        i += n
    return out


def rotate_batch(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image of ``x`` ``[N, C, H, W]`` by its own angle (bilinear, zero fill).

    Example:
        >>> x = torch.zeros(2, 1, 5, 5); x[:, 0, 2, 4] = 1.0            # a dot in the middle of the right edge
        >>> y = rotate_batch(x, torch.tensor([0.0, 90.0]))
        >>> torch.allclose(y[0], x[0], atol=1e-6), divmod(int(y[1, 0].argmax()), 5)     # 90 degrees: to the top edge
        (True, (0, 2))
    """
    rad = degrees * math.pi / 180
    cos, sin = torch.cos(rad), torch.sin(rad)
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], -1),
                         torch.stack([sin, cos, torch.zeros_like(cos)], -1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


@torch.no_grad()
def augmented_features(body, images: torch.Tensor, cfg: PrepConfig, seed: int, batch: int = 1024) -> torch.Tensor:
    """Body features of ``views`` augmented copies of normalised ``images`` ``[N, C, H, W]``
    -> ``[N, views, d]`` (view 0 un-augmented).

    Example:
        >>> images = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> f = augmented_features(torch.nn.Flatten(), images, PrepConfig(views=3), seed=0)   # body: the pixels
        >>> f.shape, torch.equal(f[:, 0], images.flatten(1))                                # view 0 is clean
        (torch.Size([4, 3, 64]), True)
    """
    g = generator(seed, "augment")
    views = [images]
    for _ in range(cfg.views - 1 if cfg.augment else 0):
        angle = (torch.rand(len(images), generator=g) * 2 - 1) * cfg.rotation
        x = rotate_batch(images, angle.to(images.device))
        views.append(x + cfg.noise * torch.randn(x.shape, generator=g).to(x.device))
    body.eval()
    feats = []
    for v in views:
        feats.append(torch.cat([body(v[i:i + batch]) for i in range(0, len(v), batch)]))
    return torch.stack(feats, 1)


INITS = ("shared", "per-task", "zero")


def initial_heads(cfg: PrepConfig, E: int, d: int, way: int, seed: int, init_seed: int | None = None) -> dict:
    """theta_0 for E tasks (Algorithm 1, line 1): ``"per-task"`` draws each task's own Gaussian head
    from ``seed``; ``"shared"`` draws one Gaussian head from ``init_seed`` (default ``seed``) and gives
    it to every task; ``"zero"`` starts every task at zero.

    Example:
        >>> h = initial_heads(PrepConfig(init="shared"), 3, 4, 2, seed=0)
        >>> bool((h["w"][0] == h["w"][2]).all())
        True
    """
    if cfg.init not in INITS:
        raise ValueError(f"unknown init {cfg.init!r}; choose one of {', '.join(INITS)}")
    if cfg.init == "per-task":
        return init_head(cfg.head, d, way, generator(seed, "prep"), batch=(E,), std=cfg.init_std)
    one = init_head(cfg.head, d, way, generator(seed if init_seed is None else init_seed, "theta0"), batch=(1,),
                    std=cfg.init_std)
    if cfg.init == "zero":
        one = {k: torch.zeros_like(v) for k, v in one.items()}
    return {k: v.expand(E, *v.shape[1:]).clone() for k, v in one.items()}


def _run(feats, labels, way, cfg, seed, record_steps=None, init_seed=None):
    """One batched Adam(+SAM) run. Returns per-step losses ``[E, max_steps+1]`` and, if
    ``record_steps`` ``[E, G+1]`` is given, the heads at those steps ``[E, G+1, P]``."""
    E, V, n, d = feats.shape
    g = generator(seed, "prep")
    if cfg.init == "per-task":                       # theta_0 and the views from one stream, as before the option
        params = init_head(cfg.head, d, way, g, batch=(E,), std=cfg.init_std)
    else:
        params = initial_heads(cfg, E, d, way, seed, init_seed)
    params = {k: v.to(feats.device).requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.Adam(params.values(), lr=cfg.lr)
    rows = torch.arange(E, device=feats.device)
    losses = torch.zeros(E, cfg.max_steps + 1)
    traj = None
    if record_steps is not None:
        traj = torch.zeros(E, record_steps.shape[1], sum(math.prod(s) for s in head_shapes(cfg.head, d, way).values()))

    def per_task_loss(p, x):
        logits = head_forward(cfg.head, p, x)                               # [E, n, way]
        return F.cross_entropy(logits.reshape(E * n, way), labels.reshape(-1), reduction="none").view(E, n).mean(1)

    def record(step):
        if traj is None:
            return
        flat = flatten_head({k: v.detach() for k, v in params.items()}).cpu()
        hit = record_steps == step                                           # [E, G+1]
        if hit.any():
            e, j = hit.nonzero(as_tuple=True)
            traj[e, j] = flat[e]

    with torch.no_grad():
        losses[:, 0] = per_task_loss(params, feats[:, 0]).cpu()
    record(0)
    for step in range(1, cfg.max_steps + 1):
        view = torch.randint(0, V, (E,), generator=g).to(feats.device) if V > 1 else torch.zeros(E, dtype=torch.long)
        x = feats[rows, view]                                                 # [E, n, d]
        loss_vec = per_task_loss(params, x)
        grads = torch.autograd.grad(loss_vec.sum(), list(params.values()))
        if cfg.sam:
            norm = torch.sqrt(sum(gr.flatten(1).pow(2).sum(1) for gr in grads)).clamp_min(1e-12)   # per task
            eps = [cfg.rho * gr / norm.view(-1, *([1] * (gr.dim() - 1))) for gr in grads]
            with torch.no_grad():
                for p, e_ in zip(params.values(), eps):
                    p.add_(e_)
            grads = torch.autograd.grad(per_task_loss(params, x).sum(), list(params.values()))
            with torch.no_grad():
                for p, e_ in zip(params.values(), eps):
                    p.sub_(e_)
        for p, gr in zip(params.values(), grads):
            p.grad = gr
        opt.step()
        with torch.no_grad():
            losses[:, step] = per_task_loss(params, feats[:, 0]).cpu()
        record(step)
    return losses, traj


def early_stop_steps(losses: torch.Tensor, cfg: PrepConfig) -> torch.Tensor:
    """``M_j``: first step >= min_steps where the clean support loss fell by less than ``tol`` times
    the task's starting loss (``stop_ref="start"``, the default) - or times the loss ``patience``
    steps earlier (``"current"``) - over the last ``patience`` steps; ``max_steps`` if that never
    happens. A separable support set drives the cross-entropy towards 0 geometrically, so its
    *relative* drop never stalls and the "current" rule stops most tasks at the cap (measured:
    64% of Omniglot tasks at M = 100); the "start" rule stops on the plateau (median M = 36,
    none at the cap; docs/readings.md).

    Example:
        >>> plateau = torch.cat([torch.linspace(1.0, 0.2, 16), torch.full((15,), 0.2)])   # flat from step 15
        >>> falling = torch.linspace(1.0, 0.1, 31)
        >>> cfg = PrepConfig(max_steps=30, min_steps=5, patience=5)
        >>> early_stop_steps(torch.stack([plateau, falling]), cfg).tolist()      # the falling one: the cap
        [20, 30]
    """
    E, S = losses.shape
    steps = torch.arange(S)
    prev = torch.cat([losses[:, :1].expand(E, cfg.patience), losses[:, :-cfg.patience]], 1)
    if cfg.stop_ref not in ("start", "current"):
        raise ValueError(f"stop_ref must be 'start' or 'current', got {cfg.stop_ref!r}")
    ref = losses[:, :1] if cfg.stop_ref == "start" else prev
    stalled = (prev - losses) < cfg.tol * ref.abs().clamp_min(1e-8)
    stalled &= (steps >= max(cfg.min_steps, cfg.patience)).unsqueeze(0)
    first = torch.where(stalled.any(1), stalled.float().argmax(1), torch.full((E,), S - 1))
    return first.clamp(min=1)


def prepare_heads(feats: torch.Tensor, labels: torch.Tensor, way: int, cfg: PrepConfig, seed: int,
                  init_seed: int | None = None) -> dict:
    """Algorithm 1 for E tasks at once. ``feats`` ``[E, V, n, d]`` (augmented views of the support
    features), ``labels`` ``[E, n]``; ``init_seed`` seeds the shared theta_0 (``init="shared"``).
    Returns ``trajectory`` ``[E, G+1, P]`` (theta at round(g/G * M_j)), ``M`` ``[E]``, ``losses``
    ``[E, max_steps+1]``, ``theta0`` ``[E, P]`` and ``M_summary`` (:func:`summarise_M`).

    Example:
        >>> feats = torch.randn(2, 1, 5, 8, generator=torch.Generator().manual_seed(0))    # 2 tasks, 5-way 1-shot
        >>> labels = torch.arange(5).expand(2, 5)
        >>> prep = prepare_heads(feats, labels, 5, PrepConfig(max_steps=20, min_steps=5, grid=4), seed=0)
        >>> prep["trajectory"].shape, bool((prep["record_steps"][:, -1] == prep["M"]).all())   # ends at theta_M
        (torch.Size([2, 5, 45]), True)
    """
    if cfg.grid < 1:
        raise ValueError("grid must be >= 1")
    losses, _ = _run(feats, labels, way, cfg, seed, init_seed=init_seed)
    M = early_stop_steps(losses, cfg)
    fracs = torch.arange(cfg.grid + 1, dtype=torch.float64) / cfg.grid
    record_steps = torch.round(fracs.unsqueeze(0) * M.unsqueeze(1).double()).long()
    _, traj = _run(feats, labels, way, cfg, seed, record_steps, init_seed=init_seed)
    return {"trajectory": traj, "M": M, "losses": losses, "theta0": traj[:, 0], "record_steps": record_steps,
            "M_summary": summarise_M(M, cfg)}


def summarise_M(M: torch.Tensor, cfg: PrepConfig) -> dict:
    """The distribution of the early-stopping step M over tasks (kept in the preparation's metadata
    and in every record): quantiles and the fraction of tasks that hit the cap ``max_steps``.

    Example:
        >>> summarise_M(torch.tensor([10, 20, 100, 100]), PrepConfig(max_steps=100))["at_cap"]
        0.5
    """
    m = M.double()
    return {"min": int(M.min()), "p10": float(m.quantile(0.1)), "median": float(m.median()),
            "p90": float(m.quantile(0.9)), "max": int(M.max()), "mean": round(float(m.mean()), 3),
            "at_cap": round(float((M >= cfg.max_steps).double().mean()), 4), "max_steps": cfg.max_steps}


def local_targets(trajectory: torch.Tensor, k: int, grid: int) -> torch.Tensor:
    """theta_{i*d} for i = 1..k (d = M/k) from a ``[E, grid+1, P]`` trajectory -> ``[E, k, P]``.

    Example:
        >>> traj = torch.arange(13.0).view(1, 13, 1)               # theta at g/12 of M, g = 0..12 (one weight)
        >>> local_targets(traj, k=3, grid=12).flatten().tolist()
        [4.0, 8.0, 12.0]
        >>> local_targets(traj, k=5, grid=12)
        Traceback (most recent call last):
        ...
        ValueError: segment number k=5 must divide the stored trajectory grid 12
    """
    if grid % k:
        raise ValueError(f"segment number k={k} must divide the stored trajectory grid {grid}")
    return trajectory[:, [i * grid // k for i in range(1, k + 1)]]
