"""Theorem 1 as a diagnostic: does the generator's chain pass near the local targets?

For held-out (meta-test) tasks, Algorithm 1 prepares each task's own trajectory
(its local targets theta_{i*d}, i = 1..k, and theta_M); the trained generator runs
its chain from noise, and at each s_i = floor(i*T/k) we measure the mean squared
distance (per weight, in the original weight scale) between the chain's state and
theta_{i*d}, and between the state and theta_M.

    python -m benchmark.diagnostics --dataset omniglot --profile cpu --seed 0

Example:
    >>> rows = chain_distances(method, ctx, tasks=20)        # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd
import torch

from .cells import Cell
from .config import PROFILES, cache_root, data_root
from .seeding import derive_seed
from .weights import local_targets


@torch.no_grad()
def chain_distances(method, ctx, tasks: int = 100, k: int = 3) -> pd.DataFrame:
    """Distances of ``method``'s chain (a :class:`~methods.mcdi.WeightDiffusion`) to each held-out
    task's local targets at s_i = floor(i*T/k), i = 1..k.

    Example:
        method, ctx, _, _ = trained_method(Cell("table1", "mc-di", "omniglot", 5, 1, 0, "cpu"), root, cache)
        chain_distances(method, ctx, tasks=20)   # rows i = 1..k: s_i, mse_to_local_target, mse_to_theta_M, ...
    """
    from methods.diffusion.schedule import target_steps
    cfg = method.prep_config()
    from methods.prepared import support_heads
    episodes = ctx.test_sampler().episodes(tasks)
    idx = torch.stack([e.support for e in episodes])
    labels = torch.stack([e.support_labels for e in episodes])
    prep, feats = support_heads(ctx, cfg, ctx.images("test", idx.reshape(-1)), labels, ctx.way,
                                derive_seed(ctx.seed, "diag"), derive_seed(ctx.seed, "diag-prep"))
    labels = labels.to(feats.device)
    targets = local_targets(prep["trajectory"], k, cfg.grid)                    # [E, k, P]
    from methods.base import class_means
    chain = method.generate(class_means(feats[:, 0], labels, ctx.way), return_chain=True)
    rows = []
    T = method.hp["steps"]
    for i, s in enumerate(target_steps(T, k), start=1):
        x = chain[s].cpu()
        rows.append({"method": method.name, "i": i, "s_i": s,
                     "mse_to_local_target": ((x - targets[:, i - 1]) ** 2).mean().item(),
                     "mse_to_theta_M": ((x - targets[:, -1]) ** 2).mean().item(),
                     "mse_theta0_to_local_target": ((prep["theta0"] - targets[:, i - 1]) ** 2).mean().item()})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    """Command line: meta-train (or load) each method's cell, print its :func:`chain_distances`; returns 0.

    Example:
        python -m benchmark.diagnostics --dataset synthetic --profile smoke --methods mc-di mv-di --tasks 10

        >>> main(["--dataset", "synthetic", "--profile", "smoke", "--methods", "maml++"])   # names checked first
        Traceback (most recent call last):
        ...
        methods.UnknownMethodError: unknown method 'maml++'; registered methods: ...
    """
    from .runner import trained_method
    p = argparse.ArgumentParser(description="Theorem 1 diagnostic: chain vs local targets on held-out tasks")
    p.add_argument("--dataset", default="omniglot")
    p.add_argument("--profile", default="cpu", choices=PROFILES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--shot", type=int, default=1)
    p.add_argument("--tasks", type=int, default=100)
    p.add_argument("--methods", nargs="+", default=["mc-di", "mv-di", "tw-di"])
    p.add_argument("--data")
    p.add_argument("--cache")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="CSV to write (default: print only)")
    args = p.parse_args(argv)
    root = data_root(args.data) if args.dataset != "synthetic" else None
    frames = []
    for m in args.methods:
        cell = Cell("table1", m, args.dataset, args.way, args.shot, args.seed, args.profile)
        method, ctx, _, _ = trained_method(cell, root, cache_root(args.cache), args.device)
        frames.append(chain_distances(method, ctx, args.tasks))
    df = pd.concat(frames, ignore_index=True)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.out:
        from .tables import write_text_atomic
        from pathlib import Path
        write_text_atomic(df.to_csv(index=False), Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
