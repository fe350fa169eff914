"""Tiny files in the real on-disk formats of the datasets not at hand (Tiered-ImageNet, DomainNet,
Meta-Dataset), for the tests and for a smoke run of Tables 4 and 8 without the data. Each class's
images are one flat colour (``colour(c)``), so a reader that mixes classes up is caught.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> write_domainnet(root / "domainnet", classes=("bee", "zebra"), per_class=(2, 1))
    >>> sorted(p.name for p in (root / "domainnet").glob("sketch_*.txt"))
    ['sketch_test.txt', 'sketch_train.txt']
"""
from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
TIERED = {"train": ["n01", "n02", "n03"], "val": ["n04", "n05"], "test": ["n06", "n07"]}


def colour(i: int) -> tuple:
    """The flat RGB colour of class ``i``'s images.

    Example:
        >>> colour(0), colour(2)
        ((0, 255, 0), (40, 215, 14))
    """
    return (20 * i % 256, 255 - 20 * i % 256, 7 * i % 256)


def png(color, size: int = 12) -> bytes:
    """PNG bytes of a ``size`` x ``size`` RGB image of one colour.

    Example:
        >>> from benchmark.data.base import decode_image
        >>> data = png(colour(1))
        >>> data[:4], decode_image(data, 4, "RGB")[:, 0, 0].tolist()
        (b'\\x89PNG', [20, 235, 7])
    """
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, "PNG")
    return buf.getvalue()


def write_jpg(path: Path, color) -> None:
    """Write a 12 x 12 JPEG of one colour to ``path`` (its folders created).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "cat" / "0.jpg"
        >>> write_jpg(path, colour(1))
        >>> Image.open(path).format, Image.open(path).size
        ('JPEG', (12, 12))
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 12), color).save(path, "JPEG", quality=100)


def write_tiered(base: Path, kind: str, classes: dict = TIERED, per_class: int = 3) -> None:
    """``base`` = ``<root>/tiered-imagenet`` in layout ``kind``: "folders", "pickle" (Ren et al.'s
    ``{split}_images_png.pkl``: a list of uint8 arrays of PNG bytes) or "npz"; labels pickles as Ren's.

    Example:
        >>> import tempfile
        >>> base = Path(tempfile.mkdtemp()) / "tiered-imagenet"
        >>> write_tiered(base, "pickle")
        >>> sorted(p.name for p in base.glob("train_*"))         # and the same for val and test
        ['train_images_png.pkl', 'train_labels.pkl']
    """
    base.mkdir(parents=True, exist_ok=True)
    for split, wnids in classes.items():
        ids = [c for c in range(len(wnids)) for _ in range(per_class)]
        if kind == "folders":
            for j, c in enumerate(ids):
                write_jpg(base / split / wnids[c] / f"{j}.jpg", colour(c))
            continue
        meta = {"label_specific": np.array(ids), "label_general": np.zeros(len(ids), dtype=int),
                "label_specific_str": list(wnids), "label_general_str": ["x"]}
        (base / f"{split}_labels.pkl").write_bytes(pickle.dumps(meta))
        if kind == "pickle":
            images = [np.frombuffer(png(colour(c)), dtype=np.uint8) for c in ids]
            (base / f"{split}_images_png.pkl").write_bytes(pickle.dumps(images))
        else:
            arr = np.stack([np.full((12, 12, 3), colour(c), dtype=np.uint8) for c in ids])
            np.savez(base / f"{split}_images.npz", images=arr)


def write_domainnet(base: Path, classes=("aircraft_carrier", "bee", "zebra"), per_class=(2, 1),
                    drop=(("painting", "bee"),)) -> None:
    """``base`` = ``<root>/domainnet``: every domain's images and its official ``_train``/``_test`` lists
    (``per_class`` images per class in each); the (domain, class) pairs in ``drop`` are left out, as
    some releases' painting list lacks a class.

    Example:
        >>> import tempfile
        >>> base = Path(tempfile.mkdtemp()) / "domainnet"
        >>> write_domainnet(base, classes=("bee", "zebra"), per_class=(1, 1))
        >>> (base / "painting_train.txt").read_text().splitlines()     # painting/bee is dropped
        ['painting/zebra/painting_001_train0.jpg 1']
    """
    for d in DOMAINS:
        for part, n in zip(("train", "test"), per_class):
            lines = []
            for c, cls in enumerate(classes):
                if (d, cls) in drop:
                    continue
                for j in range(n):
                    rel = f"{d}/{cls}/{d}_{c:03d}_{part}{j}.jpg"
                    write_jpg(base / rel, colour(c))
                    lines.append(f"{rel} {c}")
            (base / f"{d}_{part}.txt").write_text("\n".join(lines) + "\n")


def write_meta_dataset(base: Path, sources, split_counts, per_class: int = 2) -> None:
    """``base`` = ``<root>/meta-dataset``: per source a ``dataset_spec.json`` (``split_counts(source)`` ->
    ``{"TRAIN": n, "VALID": n, "TEST": n}``) and one ``<class_id>.tfrecords`` per class.

    Example:
        >>> import tempfile
        >>> base = Path(tempfile.mkdtemp()) / "meta-dataset"
        >>> write_meta_dataset(base, ["mnist"], lambda s: {"TRAIN": 0, "VALID": 0, "TEST": 2})
        >>> sorted(p.name for p in (base / "mnist").iterdir())
        ['0.tfrecords', '1.tfrecords', 'dataset_spec.json']
    """
    from tfrecord.writer import TFRecordWriter
    for s in sources:
        per = split_counts(s)
        n = sum(per.values())
        spec = {"name": s, "classes_per_split": {f"Split.{k}": v for k, v in per.items()},
                "images_per_class": {str(c): per_class for c in range(n)},
                "class_names": {str(c): f"{s}_c{c}" for c in range(n)},
                "path": str(base / s), "file_pattern": "{}.tfrecords", "__class__": "DatasetSpecification"}
        (base / s).mkdir(parents=True, exist_ok=True)
        (base / s / "dataset_spec.json").write_text(json.dumps(spec))
        for c in range(n):
            w = TFRecordWriter(str(base / s / f"{c}.tfrecords"))
            for _ in range(per_class):
                w.write({"image": (png(colour(c)), "byte"), "label": (c, "int")})
            w.close()


def write_class_folders(base: Path, classes, per_class: int, start: int = 0) -> None:
    """``base/<class>/<j>.jpg`` for each class (class ``i`` of ``classes`` in ``colour(start + i)``): the
    layout of ImageNet's ``train``/``val`` folders and of the CIFAR-10 test copy.

    Example:
        >>> import tempfile
        >>> base = Path(tempfile.mkdtemp()) / "cifar10" / "test"
        >>> write_class_folders(base, ["airplane", "cat"], per_class=2)
        >>> sorted(p.relative_to(base).as_posix() for p in base.glob("*/*"))
        ['airplane/0.jpg', 'airplane/1.jpg', 'cat/0.jpg', 'cat/1.jpg']
    """
    for i, name in enumerate(classes):
        for j in range(per_class):
            write_jpg(base / name / f"{j}.jpg", colour(start + i))
