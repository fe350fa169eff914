"""The transfer-learning targets of Table 2, each read from its standard layout under the data root (one
split, ``test``; classes as the dataset names them):

- ``cifar10``: the image-folder copy ``<root>/cifar10/test/<class>/<image>`` (as in ../shared/data);
- ``cifar100``: torchvision's ``CIFAR100`` (``<root>/cifar-100-python/``; md5-checked by torchvision);
- ``aircraft``: torchvision's ``FGVCAircraft`` (``<root>/fgvc-aircraft-2013b/``, 100 variants);
- ``pets``: torchvision's ``OxfordIIITPet`` (``<root>/oxford-iiit-pet/``, 37 breeds);
- ``stl10``: ``<root>/stl10_binary/test_X.bin``, ``test_y.bin``, ``class_names.txt`` read directly
  (torchvision's ``STL10`` md5-checks all five .bin files, the 2.7 GB unlabeled one included, even for
  ``split="test"``, and would refuse a user who holds only the test files).

All torchvision readers run with ``download=False``: nothing is fetched at run time.

Example:
    >>> import tempfile
    >>> from benchmark.data.fixtures import write_class_folders
    >>> root = Path(tempfile.mkdtemp())
    >>> names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    >>> write_class_folders(root / "cifar10" / "test", names, per_class=1)      # one image per class
    >>> ds = load("cifar10", root, image_size=32)
    >>> ds.splits["test"].num_classes
    10
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import DataCorruptError, DataMissingError, FewShotDataset, ImageSplit, cached, decode_image, fingerprint
from .folders import IMAGENET_MEAN, IMAGENET_STD, load_image_folder_splits

FOLDERS = {"cifar10": "cifar10/test", "cifar100": "cifar-100-python", "aircraft": "fgvc-aircraft-2013b",
           "pets": "oxford-iiit-pet", "stl10": "stl10_binary/test_X.bin"}
HOW = {"cifar10": "save the CIFAR-10 test images as <root>/cifar10/test/<class>/<image> (e.g. from "
                  "https://www.cs.toronto.edu/~kriz/cifar.html)",
       "cifar100": "unpack cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html into <root>/",
       "aircraft": "unpack fgvc-aircraft-2013b.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/ "
                   "into <root>/",
       "pets": "unpack images.tar.gz and annotations.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/pets/ "
               "into <root>/oxford-iiit-pet/",
       "stl10": "unpack stl10_binary.tar.gz from https://cs.stanford.edu/~acoates/stl10/ into <root>/ (only "
                "test_X.bin, test_y.bin and class_names.txt are read)"}
DATASETS = tuple(FOLDERS)


def _torchvision(name: str, root: Path, image_size: int, cache_dir) -> ImageSplit:
    from torchvision import datasets as tv
    make = {"cifar100": lambda: tv.CIFAR100(str(root), train=False, download=False),
            "aircraft": lambda: tv.FGVCAircraft(str(root), split="test", download=False),
            "pets": lambda: tv.OxfordIIITPet(str(root), split="test", download=False)}[name]
    folder = root / FOLDERS[name]
    if not folder.exists():
        raise DataMissingError(name, folder, HOW[name])
    try:
        ds = make()
    except RuntimeError as exc:                 # torchvision: "Dataset not found or corrupted"
        raise DataCorruptError(f"{name}: torchvision refuses {folder}: {exc}") from exc

    def build():
        images, labels = [], []
        for i in range(len(ds)):
            img, y = ds[i]
            images.append(decode_image(img, image_size, "RGB"))
            labels.append(int(y))
        return {"images": torch.from_numpy(np.stack(images)), "labels": torch.tensor(labels),
                "classes": list(ds.classes)}

    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in ("", ".txt"))   # lists, pickles
    d = cached(cache_dir, f"{name}-test-{image_size}-{fingerprint([folder] + files, image_size, len(ds))}", build)
    return ImageSplit(d["images"], d["labels"], d["classes"])


def _stl10(root: Path, image_size: int, cache_dir) -> ImageSplit:
    base = root / "stl10_binary"
    paths = [base / "test_X.bin", base / "test_y.bin", base / "class_names.txt"]
    for p in paths:
        if not p.is_file():
            raise DataMissingError("stl10", p, HOW["stl10"])

    def build():
        raw = np.fromfile(paths[0], dtype=np.uint8)
        y = np.fromfile(paths[1], dtype=np.uint8).astype(np.int64) - 1          # labels 1..10 on disk
        if raw.size % (3 * 96 * 96) or raw.size // (3 * 96 * 96) != len(y):
            raise DataCorruptError(f"stl10: {paths[0]} holds {raw.size} bytes, not {len(y)} images of 3x96x96")
        names = [n.strip() for n in paths[2].read_text().splitlines() if n.strip()]
        if len(y) and (y.min() < 0 or y.max() >= len(names)):
            raise DataCorruptError(f"stl10: labels in {paths[1]} outside 1..{len(names)}")
        x = raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)                     # column-major on disk -> HWC
        from PIL import Image
        images = [decode_image(Image.fromarray(np.ascontiguousarray(a)), image_size, "RGB") for a in x]
        return {"images": torch.from_numpy(np.stack(images)), "labels": torch.from_numpy(y), "classes": names}

    d = cached(cache_dir, f"stl10-test-{image_size}-{fingerprint(paths, image_size)}", build)
    return ImageSplit(d["images"], d["labels"], d["classes"])


def load(name: str, root: Path | str | None, image_size: int = 32, cache_dir: Path | None = None) -> FewShotDataset:
    """The test split of a transfer target (module docstring).

    Example:
        >>> import tempfile
        >>> from benchmark.data.fixtures import write_class_folders
        >>> root = Path(tempfile.mkdtemp())
        >>> write_class_folders(root / "cifar10" / "test", ["airplane", "cat"], per_class=2)
        >>> ds = load("cifar10", root, image_size=8)
        >>> sorted(ds.splits), ds.splits["test"].class_names, ds.splits["test"].images.shape
        (['test'], ['airplane', 'cat'], torch.Size([4, 3, 8, 8]))
        >>> load("mnist", root)
        Traceback (most recent call last):
        ...
        KeyError: "unknown transfer dataset 'mnist'; known: cifar10, cifar100, aircraft, pets, stl10"
    """
    if name not in FOLDERS:
        raise KeyError(f"unknown transfer dataset {name!r}; known: {', '.join(DATASETS)}")
    if root is None:
        raise DataMissingError(name, Path("$MCDI_DATA") / FOLDERS[name], HOW[name])
    root = Path(root)
    if name == "cifar10":
        return load_image_folder_splits(root, "cifar10", image_size, "RGB", HOW[name], cache_dir, splits=("test",))
    split = _stl10(root, image_size, cache_dir) if name == "stl10" else _torchvision(name, root, image_size, cache_dir)
    return FewShotDataset(name, {"test": split}, IMAGENET_MEAN, IMAGENET_STD)


def compose(source: FewShotDataset, target: FewShotDataset) -> FewShotDataset:
    """A transfer cell's dataset: ``source``'s ``train`` and ``val`` splits (meta-training, model
    selection) and ``target``'s ``test`` split, all normalised as the source (the body sees the
    target's images as it saw the source's). It keeps the source's name, so the body pretrained on
    the source is the one its own cells use (same settings, same cache entry).

    Example:
        >>> from benchmark.data import synthetic
        >>> src, tgt = synthetic.load(16, seed=0), synthetic.load(16, seed=1)
        >>> ds = compose(src, FewShotDataset("t", {"test": tgt.splits["test"]}, (0.5,), (0.5,)))
        >>> ds.name, ds.splits["test"] is tgt.splits["test"]
        ('synthetic', True)
    """
    if "test" not in target.splits:
        raise DataCorruptError(f"{target.name}: no test split to transfer to")
    c_src, c_tgt = source.channels, target.splits["test"].images.shape[1]
    if c_src != c_tgt:
        raise DataCorruptError(f"transfer {source.name} -> {target.name}: the source has {c_src}-channel images, "
                               f"the target {c_tgt}-channel ones; choose a source with the target's channels "
                               f"(--set transfer_source=...)")
    return FewShotDataset(source.name, {"train": source.splits["train"], "val": source.splits["val"],
                                        "test": target.splits["test"]}, source.mean, source.std)
