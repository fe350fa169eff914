"""Saved models: one file holding a meta-trained method (body + generator or
meta-learned network) with its config, and its evaluation on a user's own episodes.

    python -m benchmark.checkpoint export --method mc-di --dataset omniglot --shot 1 --seed 0 --out mcdi.pt
    python -m benchmark.evaluate --checkpoint mcdi.pt --episodes DIR

User episodes: ``DIR/<episode>/support/<class>/<image>`` and ``DIR/<episode>/query/<class>/<image>``;
class folders name the classes (sorted names give the labels); images of any size
or channel count are mapped to the body's input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .cells import Cell
from .config import PROFILES, ConfigError, cache_root, data_root
from .context import Context
from .data.base import DataCorruptError, FewShotDataset, ImageSplit, atomic_torch_save, decode_image
from .models.backbones import build_backbone

FORMAT = "mcdi-bench-checkpoint/1"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def save_checkpoint(method, ctx: Context, path: Path) -> None:
    """Write ``method`` (meta-trained on ``ctx``) and everything needed to rebuild it to ``path``.

    Example:
        >>> import tempfile
        >>> from benchmark.cells import make_options
        >>> from benchmark.runner import trained_method
        >>> tiny = make_options(meta_iters=2, body_width=4, selection="last")   # REPTILE, 2 meta-iterations
        >>> cell = Cell("t", "reptile", "synthetic", 5, 1, 0, "smoke", options=tiny)
        >>> method, ctx, _, _ = trained_method(cell, None, None)
        >>> path = Path(tempfile.mkdtemp()) / "reptile.pt"
        >>> save_checkpoint(method, ctx, path)
        >>> loaded, ctx2 = load_checkpoint(path)
        >>> type(loaded).__name__, str(ctx2.cell), ctx2.settings["image_size"]
        ('Reptile', 't/smoke/reptile/synthetic (5,1) seed 0', 16)
    """
    uses_body = method.uses_body
    bundle = {
        "format": FORMAT,
        "cell": ctx.cell.to_json(),
        "hparams": method.hp,
        "settings": ctx.settings,
        "dataset": {"name": ctx.dataset.name, "mean": list(ctx.dataset.mean), "std": list(ctx.dataset.std),
                    "channels": ctx.dataset.channels},
        "body": {k: v.cpu() for k, v in ctx.body.state_dict().items()} if uses_body else None,
        "method_state": method.state_dict(),
    }
    atomic_torch_save(bundle, Path(path))


def load_checkpoint(path: Path, device="cpu"):
    """Rebuild ``(method, ctx)`` from a checkpoint file (no data needed).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "other.pt"
        >>> torch.save({"weights": torch.zeros(2)}, path)
        >>> load_checkpoint(path)
        Traceback (most recent call last):
        ...
        benchmark.data.base.DataCorruptError: .../other.pt is not a mcdi-bench-checkpoint/1 file
    """
    from methods import get_method
    try:
        bundle = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:
        raise DataCorruptError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise DataCorruptError(f"{path} is not a {FORMAT} file")
    cell, settings, d = Cell.from_json(bundle["cell"]), bundle["settings"], bundle["dataset"]
    size, c = settings["image_size"], d["channels"]
    stub = ImageSplit(torch.zeros(1, c, size, size, dtype=torch.uint8), torch.zeros(1, dtype=torch.long), ["-"])
    dataset = FewShotDataset(d["name"], {"train": stub}, d["mean"], d["std"])
    ctx = Context(cell, dataset, dict(settings), torch.device(device), None)
    if bundle["body"] is not None:
        body = build_backbone(cell.backbone, c, settings["body_width"], image_size=size)
        body.load_state_dict(bundle["body"])
        ctx.__dict__["body"] = body.to(device).eval()
    method = get_method(cell.method)(ctx, **cell.method_options())
    method.hp = bundle["hparams"]
    method.load_state_dict(bundle["method_state"])
    return method, ctx


def _images(folder: Path) -> list:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_user_episode(folder: Path, dataset: FewShotDataset, image_size: int) -> tuple:
    """``(support_x, support_y, query_x, query_y, classes)`` of one episode folder (normalised images).

    Example:
        >>> import tempfile
        >>> from benchmark.data import synthetic
        >>> from benchmark.data.fixtures import colour, write_jpg
        >>> episode = Path(tempfile.mkdtemp()) / "ep0"
        >>> for part, n in (("support", 1), ("query", 2)):
        ...     for c, name in enumerate(["cat", "dog"]):
        ...         for j in range(n):
        ...             write_jpg(episode / part / name / f"{j}.jpg", colour(c))
        >>> sx, sy, qx, qy, classes = read_user_episode(episode, synthetic.load(image_size=16), image_size=16)
        >>> sx.shape, sy.tolist(), qx.shape, qy.tolist(), classes    # RGB 12x12 -> the body's 1x16x16
        (torch.Size([2, 1, 16, 16]), [0, 1], torch.Size([4, 1, 16, 16]), [0, 0, 1, 1], ['cat', 'dog'])
    """
    mode = "L" if dataset.channels == 1 else "RGB"
    support, query = folder / "support", folder / "query"
    if not support.is_dir() or not query.is_dir():
        raise DataCorruptError(f"{folder}: expected support/<class>/<image> and query/<class>/<image>")
    classes = sorted(p.name for p in support.iterdir() if p.is_dir())
    if sorted(p.name for p in query.iterdir() if p.is_dir()) != classes or not classes:
        raise DataCorruptError(f"{folder}: support and query must have the same (non-empty) class folders")

    def load(part: Path):
        xs, ys = [], []
        for label, c in enumerate(classes):
            files = _images(part / c)
            if not files:
                raise DataCorruptError(f"{part / c}: no images")
            xs += [torch.from_numpy(decode_image(f, image_size, mode)) for f in files]
            ys += [label] * len(files)
        return dataset.normalize(torch.stack(xs)), torch.tensor(ys)

    sx, sy = load(support)
    qx, qy = load(query)
    return sx, sy, qx, qy, classes


def export_main(argv=None) -> int:
    """``python -m benchmark.checkpoint export``: meta-train (or load from the cache) a cell's method and
    save it with :func:`save_checkpoint` (returns 0); bad input gives status 2 and an ``error:`` line on stderr.

    Example:
        python -m benchmark.checkpoint export --method reptile --dataset synthetic --profile smoke --out reptile.pt
    """
    from .runner import trained_method
    p = argparse.ArgumentParser(description="Meta-train (or load from the cache) a cell's method and save it to one file")
    p.add_argument("--method", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--shot", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", default="cpu", choices=PROFILES)
    p.add_argument("--data")
    p.add_argument("--cache")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True)
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="pipeline settings, as the grid CLI's --set (e.g. body_width=64 body_epochs=5)")
    p.add_argument("--tag", help="label of the --set settings (as the grid CLI's --tag)")
    args = p.parse_args(argv)
    try:
        from .cli import parse_overrides
        overrides, tag = parse_overrides(args.overrides, args.tag)
        root = data_root(args.data) if args.dataset != "synthetic" else None
        cell = Cell("export", args.method, args.dataset, args.way, args.shot, args.seed, args.profile,
                    options=overrides, variant=tag if overrides else "")
        method, ctx, _, _ = trained_method(cell, root, cache_root(args.cache), args.device)
    except (KeyError, ConfigError, FileNotFoundError, ValueError, FloatingPointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    save_checkpoint(method, ctx, Path(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "export":
        sys.exit(export_main(sys.argv[2:]))
    print("usage: python -m benchmark.checkpoint export --method M --dataset D --out FILE [...]", file=sys.stderr)
    sys.exit(2)
