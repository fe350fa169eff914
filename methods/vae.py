"""LLO-VAE (Lt-Di paper, Table 1: "When only C1 is used, we employ the vanilla VAE to
generate weights"): a conditional VAE over the flattened, normalised head, meta-trained with
REPTILE (Algorithm 2's loop, :func:`~methods.trainers.reptile_train`) on the heads
theta_M prepared by Algorithm 1; a new task's head is decoded from z ~ N(0, I) and the
task embedding (support class means) - no gradient steps at test time.

Also the VAE that D2NWG (:mod:`methods.d2nwg`) puts its latent diffusion on.

Readings (docs/methods.md): the Lt-Di paper gives no architecture for LLO-VAE; we use
MLP encoder q(z | theta, Emb) and decoder p(theta | z, Emb) (hidden 256, latent 32),
Gaussian likelihood (squared error) and the standard KL (beta = 1), with the same prepared
heads, embedding and inner/outer optimisers as Mc-Di. Like our Mc-Di U-Net, the decoder
also sees the embedding laid out along the weight axis (a learnt per-weight gain times
proto[c, j] added to w[c, j]). The cpu profile runs 400 meta-iterations (Mc-Di: 150): one
VAE iteration costs about 0.4 of a U-Net one here (measured on the smoke task), so the
meta-training times are comparable.

Example:
    >>> vae = VAE(length=12, emb_dim=4, latent=3, hidden=16)
    >>> float(vae(torch.randn(12), torch.randn(4), torch.randn(2, 3)).detach()) > 0
    True
    >>> vae.decode(torch.zeros(5, 3), torch.randn(5, 4)).shape
    torch.Size([5, 12])
"""
from __future__ import annotations

import torch
from torch import nn

from benchmark.config import ConfigError
from benchmark.seeding import derive_seed, generator

from .trainers import ReptileConfig, reptile_train
from .prepared import HeadGenerator, prep_defaults


def _mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, o))


class VAE(nn.Module):
    """q(z | x[, e]) and p(x | z[, e]) as MLPs; ``emb_dim = 0`` makes it unconditional.
    ``forward(x, e, noise)`` is the negative ELBO of one sample ``x`` ``[P]`` averaged over the
    reparametrisation draws ``noise`` ``[D, latent]``.

    Example:
        >>> vae = VAE(length=10, emb_dim=0, latent=2, hidden=8)               # unconditional
        >>> mu, logvar = vae.encode(torch.randn(3, 10), torch.zeros(3, 0))
        >>> mu.shape, logvar.shape, vae.decode(mu, torch.zeros(3, 0)).shape
        (torch.Size([3, 2]), torch.Size([3, 2]), torch.Size([3, 10]))
    """

    def __init__(self, length: int, emb_dim: int, latent: int = 32, hidden: int = 256, beta: float = 1.0,
                 emb_layout: torch.Tensor | None = None):
        super().__init__()
        self.beta = beta
        self.enc = _mlp(length + emb_dim, hidden, 2 * latent)
        self.dec = _mlp(latent + emb_dim, hidden, length)
        # the embedding laid out along the weight axis (as the U-Net's aligned channel): decoded
        # weight p gets gain[p] * e[layout[p]] added (positions with layout -1 get none)
        self.register_buffer("layout", emb_layout.long() if emb_layout is not None else None, persistent=False)
        self.gain = nn.Parameter(torch.zeros(length)) if emb_layout is not None else None

    def encode(self, x: torch.Tensor, e: torch.Tensor) -> tuple:
        mu, logvar = self.enc(torch.cat([x, e], -1)).chunk(2, -1)
        return mu, logvar.clamp(-10, 10)

    def decode(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        out = self.dec(torch.cat([z, e], -1))
        if self.gain is not None:
            aligned = torch.cat([e, torch.zeros_like(e[..., :1])], -1)[..., self.layout]      # -1 -> 0
            out = out + self.gain * aligned
        return out

    def forward(self, x: torch.Tensor, e: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.encode(x, e)
        z = mu + (0.5 * logvar).exp() * noise                                    # [D, latent]
        recon = self.decode(z, e.expand(len(noise), -1))
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum()
        return ((recon - x) ** 2).sum(-1).mean() + self.beta * kl


class LLOVAE(HeadGenerator):
    """LLO-VAE as a registered head generator: a conditional :class:`VAE` over whole heads, REPTILE-trained.

    Example:
        >>> from methods import get_method
        >>> get_method("llo-vae") is LLOVAE
        True
        >>> {k: LLOVAE.DEFAULTS["cpu"][k] for k in ("latent", "beta", "meta_iters", "outer")}
        {'latent': 32, 'beta': 1.0, 'meta_iters': 400, 'outer': 'adam'}
    """

    name = "llo-vae"
    paper = "Learning to Learn Weight Generation via Trajectory Diffusion (Lt-Di), Table 1: LLO-VAE"
    _hp = prep_defaults(aligned_emb=True, latent=32, hidden=256, beta=1.0, z="sample", meta_iters=400, meta_batch=8, inner_steps=3,
                        inner_lr=0.005, outer="adam", outer_lr=0.001, draws=8)
    DEFAULTS = {"smoke": dict(_hp, tasks=64, meta_iters=40, hidden=64, latent=16, max_steps=40, outer_lr=0.003),
                "cpu": _hp, "paper": dict(_hp, tasks=20000, meta_iters=120000, meta_batch=32)}

    def validate(self):
        if self.hp["z"] not in ("sample", "mean"):
            raise ConfigError(f"{self.name}: z must be 'sample' (z ~ N(0, I)) or 'mean' (z = 0)")

    def _build(self, P: int, emb_dim: int) -> None:
        torch.manual_seed(derive_seed(self.ctx.seed, "vae-init") % 2 ** 31)
        hp = self.hp
        self.net = VAE(P, emb_dim, hp["latent"], hp["hidden"], hp["beta"],
                       self.emb_layout(P, emb_dim)).to(self.ctx.device)

    def meta_train(self) -> None:
        ctx, hp = self.ctx, self.hp
        x, e = self._theta_M_data()
        g = generator(ctx.seed, "vae-meta")
        B, K, D = hp["meta_batch"], hp["inner_steps"], hp["draws"]

        def draw(it):
            j = torch.randint(0, len(x), (B,), generator=g)
            noise = torch.randn(K, B, D, hp["latent"], generator=g).to(ctx.device)
            return (lambda s: (x[j], e[j], noise[s])), None

        loss_fn = (lambda p, xi, ei, ni: torch.func.functional_call(self.net, p, (xi, ei, ni)))
        cfg = ReptileConfig(iters=hp["meta_iters"], meta_batch=B, inner_steps=K, inner_lr=hp["inner_lr"],
                            outer=hp["outer"], outer_lr=hp["outer_lr"])
        reptile_train(self.net, loss_fn, draw, cfg, ctx.progress, f"{self.name} meta-train", select=self.selector,
                      store=ctx.store)
        self.net.eval()

    @torch.no_grad()
    def generate(self, protos: torch.Tensor) -> torch.Tensor:
        e = self._emb(protos)
        z = torch.randn(len(e), self.hp["latent"], generator=generator(self.ctx.seed, "generate")).to(e.device)
        return self._denorm(self.net.decode(z if self.hp["z"] == "sample" else torch.zeros_like(z), e))
