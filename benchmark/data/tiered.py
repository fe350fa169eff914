"""Tiered-ImageNet (Ren et al. 2018, 351 / 97 / 160 classes) in each of the layouts it is passed around in,
under ``<root>/tiered-imagenet/``, tried in this order:

1. folders: ``{train,val,test}/<wnid>/<image>`` (what most few-shot code unpacks it into);
2. Ren et al.'s pickles: ``{split}_images_png.pkl`` (a pickled sequence of PNG-encoded images, each
   bytes or a uint8 array of the bytes) + ``{split}_labels.pkl`` (a dict with ``label_specific``, the
   class id of each image, and usually ``label_specific_str``, the class names), as learn2learn reads them;
3. the decoded variant: ``{split}_images.npz`` (key ``images``, uint8 ``[N, H, W, 3]``) + the same labels.

Example:
    >>> import tempfile
    >>> from benchmark.data.fixtures import write_tiered
    >>> root = Path(tempfile.mkdtemp())
    >>> write_tiered(root / "tiered-imagenet", "npz")           # layout 3; "folders" and "pickle" load alike
    >>> ds = load(root, image_size=8)
    >>> layout(root / "tiered-imagenet"), ds.splits["test"].num_classes        # 160 in the real data
    ('npz', 2)
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .base import DataCorruptError, DataMissingError, FewShotDataset, ImageSplit, cached, decode_image, fingerprint
from .folders import IMAGENET_MEAN, IMAGENET_STD, check_disjoint, load_image_folder_splits

HOW = ("get Tiered-ImageNet (Ren et al. 2018, e.g. via https://github.com/yaoyao-liu/tiered-imagenet-tools) into "
       "<root>/tiered-imagenet/ as {train,val,test}/<wnid>/<image>, or Ren et al.'s {split}_images_png.pkl + "
       "{split}_labels.pkl, or {split}_images.npz + {split}_labels.pkl")
SPLITS = ("train", "val", "test")


def layout(base: Path) -> str | None:
    """Which of the three layouts ``base`` holds ("folders", "pickle", "npz"), or None.

    Example:
        >>> import tempfile
        >>> from benchmark.data.fixtures import write_tiered
        >>> base = Path(tempfile.mkdtemp()) / "tiered-imagenet"
        >>> write_tiered(base, "npz")
        >>> layout(base), layout(base.parent / "elsewhere")
        ('npz', None)
    """
    if (base / "train").is_dir():
        return "folders"
    if (base / "train_images_png.pkl").is_file():
        return "pickle"
    if (base / "train_images.npz").is_file():
        return "npz"
    return None


def _unpickle(path: Path):
    with open(path, "rb") as fh:
        try:
            return pickle.load(fh)
        except UnicodeDecodeError:                      # written by Python 2
            fh.seek(0)
            return pickle.load(fh, encoding="latin1")
        except Exception as exc:
            raise DataCorruptError(f"tiered-imagenet: cannot read {path}: {exc}") from exc


def _labels(path: Path, split: str, n_images: int) -> tuple[torch.Tensor, list]:
    meta = _unpickle(path)
    if not isinstance(meta, dict) or "label_specific" not in meta:
        raise DataCorruptError(f"tiered-imagenet: {path} has no 'label_specific' entry")
    ids = np.asarray(meta["label_specific"]).astype(np.int64)
    if len(ids) != n_images:
        raise DataCorruptError(f"tiered-imagenet: {path} labels {len(ids)} images, the images file holds {n_images}")
    classes, labels = np.unique(ids, return_inverse=True)
    names = meta.get("label_specific_str")
    if names is not None and len(names) > int(classes.max()):
        class_names = [str(names[c]) for c in classes]
    else:
        class_names = [f"{split}/{c}" for c in classes]
    return torch.as_tensor(labels, dtype=torch.long), class_names


def _split(base: Path, kind: str, split: str, image_size: int, cache_dir) -> ImageSplit:
    images_path = base / (f"{split}_images_png.pkl" if kind == "pickle" else f"{split}_images.npz")
    labels_path = base / f"{split}_labels.pkl"
    for p in (images_path, labels_path):
        if not p.is_file():
            raise DataMissingError("tiered-imagenet", p, HOW)

    def build():
        if kind == "pickle":
            raw = _unpickle(images_path)
            arrays = [decode_image(b if isinstance(b, bytes) else np.asarray(b, dtype=np.uint8).tobytes(),
                                   image_size, "RGB") for b in raw]
        else:
            try:
                raw = np.load(images_path)["images"]
            except Exception as exc:
                raise DataCorruptError(f"tiered-imagenet: cannot read 'images' from {images_path}: {exc}") from exc
            if raw.ndim != 4 or raw.shape[-1] != 3:
                raise DataCorruptError(f"tiered-imagenet: {images_path} images must be [N, H, W, 3], got {raw.shape}")
            arrays = [decode_image(Image.fromarray(np.ascontiguousarray(a)), image_size, "RGB") for a in raw]
        labels, names = _labels(labels_path, split, len(arrays))
        return {"images": torch.from_numpy(np.stack(arrays)), "labels": labels, "classes": names}

    key = f"tiered-imagenet-{kind}-{split}-{image_size}-{fingerprint([images_path, labels_path], image_size)}"
    d = cached(cache_dir, key, build)
    return ImageSplit(d["images"], d["labels"], d["classes"])


def load(root: Path | str, image_size: int = 84, cache_dir: Path | None = None, splits=SPLITS) -> FewShotDataset:
    """Tiered-ImageNet from ``<root>/tiered-imagenet`` in whichever layout it holds (module docstring).

    Example:
        >>> import tempfile
        >>> from benchmark.data.fixtures import write_tiered
        >>> root = Path(tempfile.mkdtemp())
        >>> write_tiered(root / "tiered-imagenet", "pickle")        # Ren et al.'s pickles
        >>> ds = load(root, image_size=8)
        >>> ds.splits["test"].class_names, ds.splits["test"].images.shape
        (['n06', 'n07'], torch.Size([6, 3, 8, 8]))
    """
    if root is None:
        raise DataMissingError("tiered-imagenet", Path("$MCDI_DATA") / "tiered-imagenet", HOW)
    base = Path(root) / "tiered-imagenet"
    kind = layout(base)
    if kind is None:
        raise DataMissingError("tiered-imagenet", base / "train", HOW)
    if kind == "folders":
        return load_image_folder_splits(root, "tiered-imagenet", image_size, "RGB", HOW, cache_dir, splits)
    out = {split: _split(base, kind, split, image_size, cache_dir) for split in splits}
    check_disjoint("tiered-imagenet", out)
    return FewShotDataset("tiered-imagenet", out, IMAGENET_MEAN, IMAGENET_STD)
