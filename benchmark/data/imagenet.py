"""ImageNet-1k as the meta-training source of Table 2 (the ``paper`` profile), read from the
standard image-folder layout that torchvision's ``ImageFolder`` reads:

    <root>/imagenet/train/<wnid>/<image>.JPEG      (1,000 class folders)
    <root>/imagenet/val/<wnid>/<image>.JPEG        (the 50,000 validation images sorted into the
                                                    same class folders, e.g. with the widely used
                                                    ``valprep.sh``)

The papers meta-train on "20k subsets of 50 classes each with 50 images per class per task" drawn
from ImageNet-1k: every class is a meta-training class, so the ``train`` split holds the training
images (at most ``per_class`` of each class, the first in sorted file order, so that the decoded
tensor fits in memory) and the ``val`` split (model selection) the validation images of the same
classes (at most ``val_per_class`` each). ImageNet has no ``test`` split here: its test tasks are
the transfer targets (:mod:`benchmark.data.transfer`).

Example:
    >>> import tempfile
    >>> from benchmark.data.fixtures import write_class_folders
    >>> root, wnids = Path(tempfile.mkdtemp()), ["n01440764", "n01443537", "n01484850"]
    >>> write_class_folders(root / "imagenet" / "train", wnids, per_class=2)
    >>> write_class_folders(root / "imagenet" / "val", wnids, per_class=1)
    >>> ds = load(root, image_size=8, per_class=50)
    >>> ds.splits["train"].num_classes                                  # 1000 in the real data
    3
"""
from __future__ import annotations

from pathlib import Path

from .base import DataCorruptError, DataMissingError, FewShotDataset, ImageSplit, cached, fingerprint, \
    labels_from_names
from .folders import IMAGE_EXTS, IMAGENET_MEAN, IMAGENET_STD, _decode_files

HOW = ("download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from https://image-net.org (registration "
       "required), unpack them as <root>/imagenet/train/<wnid>/*.JPEG and <root>/imagenet/val/<wnid>/*.JPEG "
       "(the validation images sorted into their class folders)")


def _split(base: Path, split: str, image_size: int, per_class: int, cache_dir) -> ImageSplit:
    folder = base / split
    if not folder.is_dir():
        raise DataMissingError("imagenet", folder, HOW)
    classes = sorted(d for d in folder.iterdir() if d.is_dir())
    files = []
    for d in classes:
        files += sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS)[:per_class]
    if not files:
        raise DataCorruptError(f"imagenet: no images under {folder}/<wnid>/")

    def build():
        labels, names = labels_from_names([f.parent.name for f in files])
        return {"images": _decode_files(files, image_size, "RGB"), "labels": labels, "classes": names}

    d = cached(cache_dir, f"imagenet-{split}-{image_size}-{per_class}-{fingerprint(files, image_size)}", build)
    return ImageSplit(d["images"], d["labels"], d["classes"])


def load(root: Path | str | None, image_size: int = 84, cache_dir: Path | None = None, per_class: int = 100,
         val_per_class: int = 10) -> FewShotDataset:
    """ImageNet-1k's ``train`` and ``val`` splits over the same classes (module docstring).

    Example:
        >>> import tempfile
        >>> from benchmark.data.fixtures import write_class_folders
        >>> root, wnids = Path(tempfile.mkdtemp()), ["n01440764", "n01443537"]
        >>> write_class_folders(root / "imagenet" / "train", wnids, per_class=3)
        >>> write_class_folders(root / "imagenet" / "val", wnids, per_class=2)
        >>> ds = load(root, image_size=8, per_class=2, val_per_class=1)
        >>> ds.splits["train"].class_names, len(ds.splits["train"]), len(ds.splits["val"]), "test" in ds.splits
        (['n01440764', 'n01443537'], 4, 2, False)
    """
    if root is None:
        raise DataMissingError("imagenet", Path("$MCDI_DATA") / "imagenet" / "train", HOW)
    base = Path(root) / "imagenet"
    train = _split(base, "train", image_size, per_class, cache_dir)
    val = _split(base, "val", image_size, val_per_class, cache_dir)
    if train.class_names != val.class_names:
        missing = sorted(set(train.class_names) ^ set(val.class_names))[:3]
        raise DataCorruptError(f"imagenet: train/ and val/ hold different class folders (e.g. {missing})")
    return FewShotDataset("imagenet", {"train": train, "val": val}, IMAGENET_MEAN, IMAGENET_STD)
