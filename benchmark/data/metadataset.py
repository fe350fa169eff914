"""Meta-Dataset (Triantafillou et al. 2020) for Table 8, read without TensorFlow: each source as the
official conversion writes it, ``<root>/meta-dataset/<source>/dataset_spec.json`` + one
``<class_id>.tfrecords`` per class (records with ``image``: the encoded image bytes, ``label``: int64),
parsed with the PyPI ``tfrecord`` package. Each class file is read once, front to back, and decoded into
the cache, so the ``.index`` files (random access) are not needed.

Splits: ``train`` / ``val`` = the TRAIN / VALID classes of the training sources (Table 8: the first
eight), ``test`` = the TEST classes of one evaluation source (Traffic Signs, MSCOCO, MNIST, CIFAR-100,
CIFAR-10: all their classes are TEST classes). A class is ``<source>/<name>``. ``per_class`` caps the
images read per class (0: all; ImageNet's 1.3 M images do not fit in memory decoded).

Example:
    >>> import tempfile
    >>> from benchmark.data.fixtures import write_meta_dataset
    >>> root = Path(tempfile.mkdtemp())
    >>> write_meta_dataset(root / "meta-dataset", TRAIN_SOURCES, lambda s: {"TRAIN": 1, "VALID": 1, "TEST": 0})
    >>> write_meta_dataset(root / "meta-dataset", ["traffic_sign"], lambda s: {"TRAIN": 0, "VALID": 0, "TEST": 2})
    >>> ds = load(root, image_size=8, test_source="traffic_sign")
    >>> ds.name, ds.splits["test"].class_names
    ('md-traffic_sign', ['traffic_sign/traffic_sign_c0', 'traffic_sign/traffic_sign_c1'])
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .base import DataCorruptError, DataMissingError, FewShotDataset, ImageSplit, cached, decode_image, fingerprint
from .folders import IMAGENET_MEAN, IMAGENET_STD

TRAIN_SOURCES = ("ilsvrc_2012", "omniglot", "aircraft", "cu_birds", "dtd", "quickdraw", "fungi", "vgg_flower")
TEST_SOURCES = ("traffic_sign", "mscoco", "mnist", "cifar100", "cifar10")
HOW = ("convert Meta-Dataset with its official scripts (https://github.com/google-research/meta-dataset, "
       "'Downloading and converting datasets') into <root>/meta-dataset/<source>/ (dataset_spec.json + "
       "<class_id>.tfrecords)")
_SPLITS = ("TRAIN", "VALID", "TEST")


def read_spec(base: Path, source: str) -> dict:
    """A source's ``dataset_spec.json`` -> ``{"classes": {split: [class ids]}, "names": {id: name}, "pattern"}``
    (class ids are numbered TRAIN first, then VALID, then TEST, as the conversion assigns them).

    Example:
        >>> import tempfile
        >>> from benchmark.data.fixtures import write_meta_dataset
        >>> base = Path(tempfile.mkdtemp()) / "meta-dataset"
        >>> write_meta_dataset(base, ["omniglot"], lambda s: {"TRAIN": 2, "VALID": 1, "TEST": 1})
        >>> spec = read_spec(base, "omniglot")
        >>> spec["classes"], spec["names"][3], spec["pattern"]
        ({'TRAIN': [0, 1], 'VALID': [2], 'TEST': [3]}, 'omniglot_c3', '{}.tfrecords')
    """
    path = base / source / "dataset_spec.json"
    if not path.is_file():
        raise DataMissingError("meta-dataset", path, HOW)
    try:
        spec = json.loads(path.read_text())
        per = {str(k).split(".")[-1].upper(): int(v) for k, v in spec["classes_per_split"].items()}
    except (ValueError, KeyError, AttributeError) as exc:
        raise DataCorruptError(f"meta-dataset: {path} is not a dataset spec ({exc})") from exc
    start, classes = 0, {}
    for split in _SPLITS:
        classes[split] = list(range(start, start + per.get(split, 0)))
        start += per.get(split, 0)
    names = {int(k): str(v) for k, v in spec.get("class_names", {}).items()}
    return {"classes": classes, "names": names, "pattern": spec.get("file_pattern", "{}.tfrecords")}


def read_class(path: Path, limit: int = 0) -> list:
    """The encoded images of one class file (the first ``limit`` when > 0).

    Example:
        >>> import tempfile
        >>> from benchmark.data.fixtures import write_meta_dataset
        >>> base = Path(tempfile.mkdtemp()) / "meta-dataset"
        >>> write_meta_dataset(base, ["mnist"], lambda s: {"TRAIN": 0, "VALID": 0, "TEST": 1}, per_class=3)
        >>> images = read_class(base / "mnist" / "0.tfrecords")
        >>> len(images), images[0][:4], len(read_class(base / "mnist" / "0.tfrecords", limit=2))
        (3, b'\\x89PNG', 2)
    """
    from tfrecord.reader import tfrecord_loader
    if not path.is_file():
        raise DataMissingError("meta-dataset", path, HOW)
    out = []
    try:
        for rec in tfrecord_loader(str(path), None, {"image": "byte", "label": "int"}):
            img = rec["image"]
            out.append(img if isinstance(img, bytes) else np.asarray(img, dtype=np.uint8).tobytes())
            if limit and len(out) >= limit:
                break
    except Exception as exc:
        raise DataCorruptError(f"meta-dataset: cannot read {path}: {exc}") from exc
    if not out:
        raise DataCorruptError(f"meta-dataset: {path} holds no records")
    return out


def _split(base: Path, parts: list, image_size: int, per_class: int, cache_dir, tag: str) -> ImageSplit:
    files, names = [], []
    for source, split in parts:
        spec = read_spec(base, source)
        for c in spec["classes"][split]:
            files.append(base / source / spec["pattern"].format(c))
            names.append(f"{source}/{spec['names'].get(c, c)}")
    if not files:
        raise DataCorruptError(f"meta-dataset: no classes for {tag} in {parts}")

    def build():
        images, labels = [], []
        for i, f in enumerate(files):
            for data in read_class(f, per_class):
                images.append(decode_image(data, image_size, "RGB"))
                labels.append(i)
        return {"images": torch.from_numpy(np.stack(images)), "labels": torch.tensor(labels), "classes": names}

    key = f"meta-dataset-{tag}-{image_size}-{per_class}-{fingerprint(files, image_size, per_class)}"
    d = cached(cache_dir, key, build)
    return ImageSplit(d["images"], d["labels"], d["classes"])


def load(root: Path | str, image_size: int = 84, cache_dir: Path | None = None, test_source: str = "traffic_sign",
         train_sources=TRAIN_SOURCES, per_class: int = 0) -> FewShotDataset:
    """Meta-Dataset: train on ``train_sources``, test on ``test_source`` (module docstring).

    Example:
        >>> import tempfile
        >>> from benchmark.data.fixtures import write_meta_dataset
        >>> root = Path(tempfile.mkdtemp())
        >>> write_meta_dataset(root / "meta-dataset", TRAIN_SOURCES, lambda s: {"TRAIN": 1, "VALID": 1, "TEST": 0})
        >>> write_meta_dataset(root / "meta-dataset", ["mnist"], lambda s: {"TRAIN": 0, "VALID": 0, "TEST": 2})
        >>> ds = load(root, image_size=8, test_source="mnist", per_class=1)
        >>> ds.name, len(ds.splits["train"].class_names), ds.splits["test"].class_names
        ('md-mnist', 8, ['mnist/mnist_c0', 'mnist/mnist_c1'])
    """
    if root is None:
        raise DataMissingError("meta-dataset", Path("$MCDI_DATA") / "meta-dataset", HOW)
    base = Path(root) / "meta-dataset"
    train = _split(base, [(s, "TRAIN") for s in train_sources], image_size, per_class, cache_dir, "train")
    val = _split(base, [(s, "VALID") for s in train_sources], image_size, per_class, cache_dir, "val")
    test = _split(base, [(test_source, "TEST")], image_size, per_class, cache_dir, f"test-{test_source}")
    return FewShotDataset(f"md-{test_source}", {"train": train, "val": val, "test": test}, IMAGENET_MEAN,
                          IMAGENET_STD)
