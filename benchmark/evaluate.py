"""Evaluate a saved model on a user's own episodes.

    python -m benchmark.evaluate --checkpoint FILE --episodes DIR [--out record.json]

``DIR/<episode>/support/<class>/<image>`` and ``DIR/<episode>/query/<class>/<image>``.
Prints accuracy with its 95% CI over episodes and writes a JSON record. Computes with the torch
threads every cell computes with (``$MCDI_THREADS``, default 1: :func:`benchmark.config.cpu_threads`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from methods.base import WayMismatchError, check_logits

from .checkpoint import load_checkpoint, read_user_episode
from .config import cpu_threads, torch_threads
from .data.base import DataCorruptError
from .evaluate_core import mean_ci
from .runner import code_version, write_json_atomic


def evaluate_episodes(method, ctx, episodes_dir: Path) -> dict:
    """Accuracy per episode folder of ``episodes_dir`` and latency per query sample.

    Example:
        >>> import tempfile
        >>> evaluate_episodes(None, None, tempfile.mkdtemp())            # checked before any image is read
        Traceback (most recent call last):
        ...
        benchmark.data.base.DataCorruptError: ...: no episode folders
    """
    folders = sorted(p for p in Path(episodes_dir).iterdir() if p.is_dir())
    if not folders:
        raise DataCorruptError(f"{episodes_dir}: no episode folders")
    accs, lat, per = [], [], {}
    warm = True                                   # one untimed warm-up adapt first, as the runner's latency
    for f in folders:
        sx, sy, qx, qy, classes = read_user_episode(f, ctx.dataset, ctx.settings["image_size"])
        try:
            method.check_way(len(classes))
        except WayMismatchError as exc:
            raise DataCorruptError(f"{f}: {exc}") from None
        sx, sy, qx = sx.to(ctx.device), sy.to(ctx.device), qx.to(ctx.device)
        if warm:
            method.adapt(sx, sy)
            warm = False
        t0 = time.perf_counter()
        adapted = method.adapt(sx, sy)
        lat.append((time.perf_counter() - t0) / len(qy))
        with torch.no_grad():
            logits = method.predict(adapted, qx)
            check_logits(logits, method.name)
            acc = (logits.argmax(-1).cpu() == qy).float().mean()
        accs.append(acc)
        per[f.name] = round(acc.item() * 100, 4)
    acc, ci = mean_ci(torch.stack(accs))
    return {"acc": acc, "ci95": ci, "episodes": len(folders), "per_episode": per,
            "latency_ms": 1000 * torch.tensor(lat).median().item(), "latency_episodes": len(lat),
            "latency_rule": "median over the episodes after one untimed warm-up adapt"}


def main(argv=None) -> int:
    """Command line: evaluate ``--checkpoint`` on the ``--episodes`` folders, write the record; return the exit code.

    Example:
        python -m benchmark.evaluate --checkpoint mcdi.pt --episodes DIR --out record.json

        >>> import tempfile, pathlib
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.pt"; _ = bad.write_bytes(b"nope")
        >>> main(["--checkpoint", str(bad), "--episodes", str(bad.parent)])     # stderr: "error: cannot read ..."
        2
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--episodes", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="JSON record (default: <episodes>/../<checkpoint stem>_eval.json)")
    args = p.parse_args(argv)
    try:
        with torch_threads(cpu_threads()):          # the threads a cell computes with (its numbers, its latency)
            method, ctx = load_checkpoint(Path(args.checkpoint), args.device)
            out = evaluate_episodes(method, ctx, Path(args.episodes))
    except (DataCorruptError, FileNotFoundError, FloatingPointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    record = {"checkpoint": str(args.checkpoint), "episodes_dir": str(args.episodes), "method": method.name,
              "cell": ctx.cell.to_json(), **out, "threads": cpu_threads(), "code_version": code_version()}
    path = Path(args.out) if args.out else Path(args.episodes).parent / f"{Path(args.checkpoint).stem}_eval.json"
    write_json_atomic(record, path)
    print(f"{method.name}: accuracy {out['acc']:.2f} +- {out['ci95']:.2f} (95% CI) over {out['episodes']} episodes;"
          f" latency {out['latency_ms']:.3f} ms/sample (median of {out['latency_episodes']} after a warm-up);"
          f" wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
