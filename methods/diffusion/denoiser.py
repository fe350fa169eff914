"""The denoiser eps_phi(x_t, t, Emb): a small 1-D U-Net over the flattened,
per-layer-normalised head weights (Meta-Diff / DDPM style), conditioned on the
time step (sinusoidal embedding + MLP) and the task embedding (the support
features class by class, flattened, through an MLP), both added to every
residual block, and (optionally) the task embedding aligned with the weights as
a second input channel.

Example:
    >>> net = UNet1D(length=165, emb_dim=5 * 32, channels=16, emb_layout=torch.arange(165) % 160)
    >>> net(torch.randn(3, 165), torch.tensor([0, 5, 19]), torch.randn(3, 160)).shape
    torch.Size([3, 165])
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps ``t`` ``[B]`` -> ``[B, dim]``.

    Example:
        >>> e = timestep_embedding(torch.tensor([0, 7]), 8)
        >>> e.shape, e[0].tolist()                       # step 0: sin 0 = 0, cos 0 = 1
        (torch.Size([2, 8]), [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    """
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float().unsqueeze(-1) * freqs
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


def _groups(c: int) -> int:
    return next(g for g in (8, 4, 2, 1) if c % g == 0)


CPU_CALL_POSITIONS = 2 ** 15    # weight positions (rows x padded length) per U-Net call of a chain on a CPU
LONG_HEAD = 1024                # padded lengths from which a CPU chain runs in row chunks
LONG_INNER = 2048               # ... and from which REPTILE's inner loops run a few copies a pass


def chain_rows(padded: int, device) -> int | None:
    """Rows (tasks) per U-Net call when a chain generates many heads at once, or None (the whole batch
    in one call). On a CPU a long head (padded length >= :data:`LONG_HEAD`) runs at most
    :data:`CPU_CALL_POSITIONS` weight positions per call, so that a call's activations stay in the
    caches: a ResNet18 head of 2,565 weights 12 rows, a MobileNetV2 head of 6,405 weights 5 rows
    (200 MobileNetV2 heads: 80 s against 289 s in one call; 200 Conv4 heads on mini-ImageNet, 1,285
    weights: 17 s against 34 s; README "Performance"). The Conv4 5-way Omniglot head (325 weights) keeps
    its one call - chunks gained at most 10% there - and so its numbers: every operation of the U-Net is
    per row, but a convolution's result can differ in the last bit with the batch size (at most 1.5e-7
    on those MobileNetV2 heads; tests/test_diffusion.py). None on a GPU.

    Example:
        >>> chain_rows(328, "cpu"), chain_rows(2568, "cpu"), chain_rows(6408, "cpu"), chain_rows(6408, "cuda")
        (None, 12, 5, None)
    """
    if torch.device(device).type != "cpu" or padded < LONG_HEAD:
        return None
    return max(1, CPU_CALL_POSITIONS // padded)


def copies_per_pass(padded: int, draws: int, device) -> int | None:
    """Copies of the denoiser per forward/backward pass in REPTILE's inner loops (``forward_copies`` on
    ``draws`` inputs a copy), or None (all B copies in one pass): on a CPU, for a head of at least
    :data:`LONG_INNER` positions, :func:`chain_rows`'s budget over a copy's ``draws`` rows. One
    gradient of 8 copies x 8 draws on MobileNetV2's 6,408 positions took 3.0-3.8 s in passes of one
    copy against 4.7-6.4 s in one pass, on the Conv4 20-way mini-ImageNet head's 5,144 3.4 against 4.6 s,
    while at 1,288 positions (Conv4 5-way on mini-ImageNet) passes of 3 copies gained nothing (0.90
    against 0.87 s), so shorter heads keep their one pass (one thread, beside two running cells). The
    copies share nothing: each copy's gradient is the same to float rounding.

    Example:
        >>> copies_per_pass(1288, 8, "cpu"), copies_per_pass(2568, 8, "cpu"), copies_per_pass(6408, 8, "cuda")
        (None, 1, None)
    """
    if torch.device(device).type != "cpu" or padded < LONG_INNER:
        return None
    return max(1, CPU_CALL_POSITIONS // padded // max(1, draws))


# -- B copies with their own weights at once (REPTILE's inner loops, UNet1D.forward_copies) ----------------
# Activations of B copies live side by side in the channel axis, [n, B*C, L], so that a per-copy
# convolution is one grouped convolution (groups = B) and a per-copy GroupNorm one GroupNorm with B
# times the groups (no group straddles two copies); ``p`` holds parameters stacked along dim 0.

def _copies_linear(p: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    """``x`` ``[B, n, i]`` through each copy's linear layer -> ``[B, n, o]``."""
    return torch.baddbmm(p[f"{name}.bias"].unsqueeze(1), x, p[f"{name}.weight"].transpose(1, 2))


def _copies_conv(p: dict, name: str, h: torch.Tensor, copies: int, stride: int = 1, padding: int = 1):
    w = p[f"{name}.weight"]                                                      # [B, O, C, k]
    return F.conv1d(h, w.reshape(-1, *w.shape[2:]), p[f"{name}.bias"].reshape(-1), stride=stride,
                    padding=padding, groups=copies)


def _copies_norm(p: dict, name: str, h: torch.Tensor, copies: int, channels: int) -> torch.Tensor:
    return F.group_norm(h, copies * _groups(channels), p[f"{name}.weight"].reshape(-1), p[f"{name}.bias"].reshape(-1))


def _copies_cat(a: torch.Tensor, b: torch.Tensor, copies: int) -> torch.Tensor:
    """Channel concatenation copy by copy: ``[n, B*C1, L]``, ``[n, B*C2, L]`` -> ``[n, B*(C1+C2), L]``."""
    n, _, L = a.shape
    return torch.cat([a.view(n, copies, -1, L), b.view(n, copies, -1, L)], 2).reshape(n, -1, L)


class ResBlock1D(nn.Module):
    """GroupNorm-SiLU-conv twice, the block's conditioning added after the first conv, and a
    residual connection (a 1x1 conv where the channel count changes).

    Example:
        >>> block = ResBlock1D(4, 8, cond_dim=16)
        >>> block(torch.randn(2, 4, 10), block.cond(torch.randn(2, 16)).unsqueeze(-1)).shape
        torch.Size([2, 8, 10])
    """

    def __init__(self, cin: int, cout: int, cond_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(cin), cin), nn.Conv1d(cin, cout, 3, padding=1)
        self.cond = nn.Linear(cond_dim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(cout), cout), nn.Conv1d(cout, cout, 3, padding=1)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, cond):
        """``cond`` ``[B, cout, 1]``: ``self.cond`` of the block's conditioning vector (UNet1D.condition)."""
        h = self.conv1(F.silu(self.norm1(x))) + cond
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)

    def forward_copies(self, p: dict, name: str, h: torch.Tensor, c: torch.Tensor, copies: int) -> torch.Tensor:
        """:meth:`forward` of B copies: ``h`` ``[n, B*cin, L]``, conditioning vectors ``c`` ``[B, n, cond]``."""
        n, cin, cout = h.shape[0], self.norm1.num_channels, self.conv1.out_channels
        r = _copies_conv(p, f"{name}.conv1", F.silu(_copies_norm(p, f"{name}.norm1", h, copies, cin)), copies)
        r = r + _copies_linear(p, f"{name}.cond", c).transpose(0, 1).reshape(n, copies * cout, 1)
        r = _copies_conv(p, f"{name}.conv2", F.silu(_copies_norm(p, f"{name}.norm2", r, copies, cout)), copies)
        skip = _copies_conv(p, f"{name}.skip", h, copies, padding=0) if isinstance(self.skip, nn.Conv1d) else h
        return r + skip


class UNet1D(nn.Module):
    """``aligned=True`` adds a second input channel: the task embedding laid out along the
    weight axis (``emb_layout`` maps each weight position to an embedding entry, or -1),
    so that for a linear head the weight of class c, feature j sees the prototype of class
    c, feature j at its own position; the global embedding is added to every block either way.

    Example:
        >>> net = UNet1D(length=10, emb_dim=6, channels=8, cond_dim=16)
        >>> net.padded                                   # the weight axis padded to a multiple of 2**levels
        12
        >>> out = net(torch.randn(2, 10), torch.tensor([0, 3]), torch.randn(2, 6))
        >>> out.shape, float(out.detach().abs().max())   # the output conv starts at zero
        (torch.Size([2, 10]), 0.0)
    """

    def __init__(self, length: int, emb_dim: int, channels: int = 32, mults=(1, 2), cond_dim: int = 128,
                 emb_layout: torch.Tensor | None = None, extra_channels: int = 0):
        super().__init__()
        if emb_layout is not None:
            self.register_buffer("emb_layout", emb_layout.long().clamp_min(-1), persistent=False)
        else:
            self.emb_layout = None
        self.length = length
        self.levels = len(mults)
        self.padded = -(-length // 2 ** self.levels) * 2 ** self.levels
        self.cond_dim = cond_dim
        self.time_mlp = nn.Sequential(nn.Linear(cond_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.emb_mlp = nn.Sequential(nn.Linear(emb_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.inp = nn.Conv1d(1 + (emb_layout is not None) + extra_channels, channels, 3, padding=1)
        widths = [channels * m for m in mults]
        self.down, self.pool = nn.ModuleList(), nn.ModuleList()
        c = channels
        for w in widths:
            self.down.append(ResBlock1D(c, w, cond_dim))
            self.pool.append(nn.Conv1d(w, w, 3, stride=2, padding=1))
            c = w
        self.mid = ResBlock1D(c, c, cond_dim)
        self.up = nn.ModuleList()
        for w in reversed(widths):
            self.up.append(ResBlock1D(c + w, w, cond_dim))
            c = w
        self.out = nn.Sequential(nn.GroupNorm(_groups(c), c), nn.SiLU(), nn.Conv1d(c, 1, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor,
                extra: torch.Tensor | None = None) -> torch.Tensor:
        """``extra`` ``[B, extra_channels, length]``: further per-weight inputs (Meta-Diff's gradient)."""
        return self.denoise(x, self.condition(t, emb), extra)

    def condition(self, t: torch.Tensor, emb: torch.Tensor) -> tuple:
        """The part of a call that depends on (t, Emb) only, not on x_t: every residual block's
        conditioning vector and the aligned embedding channel. A chain calls the denoiser T times with
        one Emb; :meth:`chain` computes this once for all T steps."""
        c = self.time_mlp(timestep_embedding(t, self.cond_dim)) + self.emb_mlp(emb)
        conds = [block.cond(c).unsqueeze(-1) for block in self.blocks()]
        aligned = None
        if self.emb_layout is not None:
            aligned = torch.cat([emb, torch.zeros_like(emb[:, :1])], 1)[:, self.emb_layout].unsqueeze(1)  # -1 -> 0
        return conds, aligned

    def blocks(self) -> list:
        """The residual blocks in call order (down, mid, up)."""
        return list(self.down) + [self.mid] + list(self.up)

    def denoise(self, x: torch.Tensor, cond: tuple, extra: torch.Tensor | None = None) -> torch.Tensor:
        """eps for ``x`` ``[B, length]`` given :meth:`condition`'s output for the same batch."""
        conds, aligned = cond
        conds = iter(conds)
        h = x.unsqueeze(1)
        if aligned is not None:
            h = torch.cat([h, aligned], 1)
        if extra is not None:
            h = torch.cat([h, extra], 1)
        h = self.inp(F.pad(h, (0, self.padded - self.length)))
        skips = []
        for block, pool in zip(self.down, self.pool):
            h = block(h, next(conds))
            skips.append(h)
            h = pool(h)
        h = self.mid(h, next(conds))
        for block in self.up:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = block(torch.cat([h, skips.pop()], dim=1), next(conds))
        return self.out(h).squeeze(1)[:, : self.length]

    def takes_copies(self) -> bool:
        """Whether :meth:`forward_copies` serves this network (not with ``extra_channels``)."""
        return self.inp.in_channels == 1 + (self.emb_layout is not None)

    def forward_copies(self, p: dict, x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` of B copies of this network at once, copy b with its own parameters
        ``{name: p[name][b]}`` (``p`` stacked like ``dict(named_parameters())`` along a new dim 0)
        on its own inputs ``x`` ``[B, n, length]``, ``t`` ``[B, n]``, ``emb`` ``[B, n, emb_dim]``
        -> ``[B, n, length]``. The same numbers as ``vmap(functional_call(self, ...))`` to float
        rounding, and its gradient 1.6x faster: vmap spells each per-copy GroupNorm out in
        elementwise ops, here it is one GroupNorm (tests/test_diffusion.py; reproduce/perf.py, (c)).
        Not for ``extra_channels`` (Meta-Diff's wrapper keeps vmap).

        Example:
            >>> net = UNet1D(length=12, emb_dim=8, channels=8, cond_dim=16)
            >>> p = {k: v.detach().expand(3, *v.shape) for k, v in net.named_parameters()}
            >>> net.forward_copies(p, torch.randn(3, 2, 12), torch.zeros(3, 2, dtype=torch.long),
            ...                    torch.randn(3, 2, 8)).shape
            torch.Size([3, 2, 12])
        """
        if not self.takes_copies():
            raise ValueError("forward_copies does not take extra input channels")
        B, n, _ = x.shape
        te = timestep_embedding(t.reshape(-1), self.cond_dim).view(B, n, -1)
        c = _copies_linear(p, "time_mlp.2", F.silu(_copies_linear(p, "time_mlp.0", te))) + \
            _copies_linear(p, "emb_mlp.2", F.silu(_copies_linear(p, "emb_mlp.0", emb)))
        h = x.unsqueeze(2)                                                             # [B, n, 1, length]
        if self.emb_layout is not None:
            aligned = torch.cat([emb, torch.zeros_like(emb[..., :1])], -1)[..., self.emb_layout]
            h = torch.cat([h, aligned.unsqueeze(2)], 2)
        h = F.pad(h, (0, self.padded - self.length)).transpose(0, 1).reshape(n, -1, self.padded)
        h = _copies_conv(p, "inp", h, B)
        skips = []
        for i, block in enumerate(self.down):
            h = block.forward_copies(p, f"down.{i}", h, c, B)
            skips.append(h)
            h = _copies_conv(p, f"pool.{i}", h, B, stride=2)
        h = self.mid.forward_copies(p, "mid", h, c, B)
        for i, block in enumerate(self.up):
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = block.forward_copies(p, f"up.{i}", _copies_cat(h, skips.pop(), B), c, B)
        h = _copies_norm(p, "out.0", h, B, self.out[0].num_channels)
        h = _copies_conv(p, "out.2", F.silu(h), B)                                       # [n, B, L]
        return h.transpose(0, 1)[..., : self.length]

    def chain(self, emb: torch.Tensor, told: torch.Tensor, rows: int | None = -1):
        """eps_phi(x, t) for a whole chain over one batch of task embeddings ``emb`` ``[B, emb_dim]``,
        where step t of the chain tells the denoiser ``told[t]`` (``torch.arange(T)``, or Lt-Di's
        relative step). The (t, Emb) conditioning of all T steps is computed up front in one
        batched pass, so each call runs only the U-Net on x_t: the same numbers as :meth:`forward`
        to float rounding (the batched linear layers may sum in another order;
        tests/test_diffusion.py), about 1.2x faster for one task (reproduce/perf.py, (a)). The
        returned callable takes ``(x, t)`` with one t for the whole batch, as
        :func:`~.sampler.sample` calls it. It runs the U-Net on ``rows`` rows of the batch at a time
        (default :func:`chain_rows`; None: the whole batch in one call): the same heads to float rounding.

        Example:
            >>> net = UNet1D(length=12, emb_dim=8, channels=8, cond_dim=16)
            >>> eps = net.chain(torch.randn(2, 8), torch.arange(4))
            >>> eps(torch.randn(2, 12), torch.full((2,), 3)).shape
            torch.Size([2, 12])
        """
        B, T = emb.shape[0], len(told)
        conds, aligned = self.condition(told.to(emb.device).repeat_interleave(B), emb.repeat(T, 1))
        per_step = [([c[j * B:(j + 1) * B] for c in conds], None if aligned is None else aligned[:B])
                    for j in range(T)]
        rows = chain_rows(self.padded, emb.device) if rows == -1 else rows

        def at(x: torch.Tensor, t: int) -> torch.Tensor:
            if rows is None or len(x) <= rows:
                return self.denoise(x, per_step[t])
            conds_t, aligned_t = per_step[t]
            return torch.cat([self.denoise(x[i:i + rows], ([c[i:i + rows] for c in conds_t],
                                                           None if aligned_t is None else aligned_t[i:i + rows]))
                              for i in range(0, len(x), rows)])

        def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            t0 = int(t[0])
            if t.numel() != B or bool((t != t0).any()):
                raise ValueError("a chain model takes one step for the whole batch it was built for")
            return at(x, t0)
        eps.conditioning = per_step              # step t's :meth:`condition` output, for other runners of denoise
        eps.at = at                              # t a Python int (sampler.run_chain)
        eps.rows = rows
        return eps
