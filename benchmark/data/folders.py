"""Readers for the folder-and-CSV formats: mini-ImageNet (Ravi & Larochelle),
Tiered-ImageNet and any dataset laid out as ImageFolder splits.

- mini-ImageNet: ``<root>/mini-imagenet/images/<file>.jpg`` + ``train.csv``,
  ``val.csv``, ``test.csv`` with header ``filename,label`` (the Ravi split:
  64 / 16 / 20 classes).
- ImageFolder splits (Tiered-ImageNet as distributed by most few-shot code,
  DomainNet-style folders, a user's own data): ``<root>/<name>/{train,val,test}/<class>/<image>``.
"""
from __future__ import annotations

import csv
from pathlib import Path

import torch

from .base import (DataCorruptError, DataMissingError, FewShotDataset, ImageSplit, cached,
                   decode_image, fingerprint, labels_from_names)

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MINI_HOW = ("get mini-ImageNet in the Ravi & Larochelle format (images/ + train.csv, val.csv, test.csv; "
            "e.g. via https://github.com/yaoyao-liu/mini-imagenet-tools) into <root>/mini-imagenet/")


def _decode_files(files: list, image_size: int, mode: str) -> torch.Tensor:
    return torch.stack([torch.from_numpy(decode_image(f, image_size, mode)) for f in files])


def load_mini_imagenet(root: Path | str, image_size: int = 84, cache_dir: Path | None = None,
                       splits=("train", "val", "test")) -> FewShotDataset:
    """Load mini-ImageNet from ``<root>/mini-imagenet`` (Ravi CSV format).

    Example:
        >>> import tempfile
        >>> from benchmark.data.fixtures import colour, write_jpg
        >>> base = Path(tempfile.mkdtemp()) / "mini-imagenet"
        >>> for split, wnids in {"train": ["n01", "n02"], "val": ["n03"], "test": ["n04", "n05"]}.items():
        ...     rows = [f"{w}{j:04d}.jpg,{w}" for w in wnids for j in range(2)]   # 2 images per class
        ...     for r in rows:
        ...         write_jpg(base / "images" / r.split(",")[0], colour(int(r[1:3])))
        ...     _ = (base / f"{split}.csv").write_text("\\n".join(["filename,label"] + rows) + "\\n")
        >>> ds = load_mini_imagenet(base.parent, image_size=8)
        >>> [ds.splits[s].num_classes for s in ("train", "val", "test")]     # 64 / 16 / 20 in the real data
        [2, 1, 2]
        >>> ds.splits["test"].class_names, ds.splits["test"].images.shape
        (['n04', 'n05'], torch.Size([4, 3, 8, 8]))
    """
    base = Path(root) / "mini-imagenet"
    if not (base / "images").is_dir():
        raise DataMissingError("mini-imagenet", base / "images", MINI_HOW)
    out = {}
    for split in splits:
        csv_path = base / f"{split}.csv"
        if not csv_path.is_file():
            raise DataMissingError("mini-imagenet", csv_path, MINI_HOW)

        with open(csv_path, newline="") as fh:
            rows = list(csv.reader(fh))
        if not rows or [c.strip() for c in rows[0][:2]] != ["filename", "label"]:
            raise DataCorruptError(f"mini-imagenet: {csv_path} must start with header 'filename,label'")
        rows = [r for r in rows[1:] if r]
        files = [base / "images" / r[0] for r in rows]
        for f in files:
            if not f.is_file():
                raise DataMissingError("mini-imagenet", f, MINI_HOW)

        def build(rows=rows, files=files):
            labels, classes = labels_from_names([r[1] for r in rows])
            return {"images": _decode_files(files, image_size, "RGB"), "labels": labels, "classes": classes}

        # keyed on the csv and every image it lists: a changed, replaced or re-timed image rebuilds it
        key = f"mini-imagenet-{split}-{image_size}-{fingerprint([csv_path] + files, image_size)}"
        d = cached(cache_dir, key, build)
        out[split] = ImageSplit(d["images"], d["labels"], d["classes"])
    check_disjoint("mini-imagenet", out)
    return FewShotDataset("mini-imagenet", out, IMAGENET_MEAN, IMAGENET_STD)


def load_image_folder_splits(root: Path | str, name: str, image_size: int = 84, mode: str = "RGB",
                             how: str = "", cache_dir: Path | None = None,
                             splits=("train", "val", "test")) -> FewShotDataset:
    """Load ``<root>/<name>/{train,val,test}/<class>/<image>`` (one class per folder).

    Example:
        >>> import tempfile
        >>> from benchmark.data.fixtures import write_tiered
        >>> root = Path(tempfile.mkdtemp())
        >>> write_tiered(root / "tiered-imagenet", "folders")       # {train,val,test}/<wnid>/<j>.jpg
        >>> ds = load_image_folder_splits(root, "tiered-imagenet", image_size=8)
        >>> ds.splits["test"].class_names, ds.splits["test"].images.shape
        (['n06', 'n07'], torch.Size([6, 3, 8, 8]))
    """
    base = Path(root) / name
    how = how or f"place the images as {base}/{{train,val,test}}/<class>/<image>"
    out = {}
    for split in splits:
        folder = base / split
        if not folder.is_dir():
            raise DataMissingError(name, folder, how)
        files = sorted(p for p in folder.glob("*/*") if p.suffix.lower() in IMAGE_EXTS)
        if not files:
            raise DataCorruptError(f"{name}: no images under {folder}/<class>/")

        def build(files=files):
            labels, classes = labels_from_names([f.parent.name for f in files])
            return {"images": _decode_files(files, image_size, mode), "labels": labels, "classes": classes}

        key = f"{name}-{split}-{image_size}-{mode}-{fingerprint(files, image_size)}"
        d = cached(cache_dir, key, build)
        out[split] = ImageSplit(d["images"], d["labels"], d["classes"])
    check_disjoint(name, out)
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if mode == "RGB" else ((0.5,), (0.5,))
    return FewShotDataset(name, out, mean, std)


def check_disjoint(name: str, splits: dict) -> None:
    """Raise :class:`DataCorruptError` if a class name is in more than one of ``splits``.

    Example:
        >>> split = lambda names: ImageSplit(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]), names)
        >>> check_disjoint("demo", {"train": split(["a", "b"]), "test": split(["c", "d"])})    # disjoint: nothing
        >>> check_disjoint("demo", {"train": split(["a", "b"]), "test": split(["b", "c"])})
        Traceback (most recent call last):
        ...
        benchmark.data.base.DataCorruptError: demo: class 'b' is in both train and test
    """
    seen: dict = {}
    for split, s in splits.items():
        for c in s.class_names:
            if c in seen:
                raise DataCorruptError(f"{name}: class {c!r} is in both {seen[c]} and {split}")
            seen[c] = split
