"""DomainNet (Peng et al. 2019) for Table 4: ``<root>/domainnet/<domain>/<class>/<image>.jpg`` with the
official lists ``<root>/domainnet/<domain>_{train,test}.txt`` (lines ``<domain>/<class>/<file>.jpg <label>``).

Splits (a reading, docs/readings.md "Table 4"): ``train`` = the source domains' ``_train.txt`` images,
``val`` = their ``_test.txt`` images (in-domain validation: no image of the held-out domain is seen
before the test), ``test`` = every listed image of the held-out domain (Sketch). A class is the pair
``<domain>/<class>``, so a class missing from one domain (the painting list of some releases) is
simply absent there. ``per_class`` caps the images of each class (0: all; DomainNet decoded at 84 px is
about 12 GB).

Example:
    >>> import tempfile
    >>> from benchmark.data.fixtures import write_domainnet
    >>> root = Path(tempfile.mkdtemp())
    >>> write_domainnet(root / "domainnet")                      # 3 classes; painting/bee left out
    >>> ds = load(root, image_size=8)
    >>> ds.splits["test"].class_names[0]
    'sketch/aircraft_carrier'
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from .base import DataCorruptError, DataMissingError, FewShotDataset, ImageSplit, cached, decode_image, fingerprint
from .folders import IMAGENET_MEAN, IMAGENET_STD

SOURCES = ("clipart", "infograph", "painting", "quickdraw", "real")
TARGET = "sketch"
HOW = ("get DomainNet from http://ai.bu.edu/M3SDA/ (each domain's zip and its <domain>_train.txt / "
       "<domain>_test.txt) and unpack it as <root>/domainnet/<domain>/<class>/<image>.jpg with the lists beside")


def read_list(base: Path, domain: str, part: str) -> list:
    """``[(path, "<domain>/<class>"), ...]`` of one official list; a listed image missing is an error.

    Example:
        >>> import tempfile, pathlib
        >>> from benchmark.data.fixtures import write_domainnet
        >>> base = pathlib.Path(tempfile.mkdtemp()) / "domainnet"
        >>> write_domainnet(base, classes=("bee", "zebra"), per_class=(2, 1))
        >>> items = read_list(base, "sketch", "train")
        >>> len(items), items[0][0].name, items[0][1], items[-1][1]
        (4, 'sketch_000_train0.jpg', 'sketch/bee', 'sketch/zebra')
    """
    path = base / f"{domain}_{part}.txt"
    if not path.is_file():
        raise DataMissingError("domainnet", path, HOW)
    out, label_of = [], {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit() or fields[0].count("/") != 2:
            raise DataCorruptError(f"domainnet: {path} line {n}: expected '<domain>/<class>/<file> <label>', "
                                   f"got {line!r}")
        rel, label = fields[0], int(fields[1])
        dom, cls, _ = rel.split("/")
        if dom != domain:
            raise DataCorruptError(f"domainnet: {path} line {n} lists an image of domain {dom!r}")
        if label_of.setdefault(cls, label) != label:
            raise DataCorruptError(f"domainnet: {path} gives class {cls!r} labels {label_of[cls]} and {label}")
        out.append((base / rel, f"{domain}/{cls}"))
    return out


def _split(name: str, base: Path, lists: list, image_size: int, per_class: int, cache_dir) -> ImageSplit:
    items = [it for domain, part in lists for it in read_list(base, domain, part)]
    if per_class:                                        # the first per_class listed images of each class
        count: Counter = Counter()
        items = [it for it in items if count.update([it[1]]) or count[it[1]] <= per_class]
    for f, _ in items:
        if not f.is_file():
            raise DataMissingError("domainnet", f, HOW)

    def build():
        classes = sorted({c for _, c in items})
        index = {c: i for i, c in enumerate(classes)}
        images = torch.from_numpy(np.stack([decode_image(f, image_size, "RGB") for f, _ in items]))
        return {"images": images, "labels": torch.tensor([index[c] for _, c in items]), "classes": classes}

    lists_files = [base / f"{d}_{p}.txt" for d, p in lists]
    key = f"domainnet-{name}-{image_size}-{per_class}-{fingerprint(lists_files + [f for f, _ in items], image_size)}"
    d = cached(cache_dir, key, build)
    return ImageSplit(d["images"], d["labels"], d["classes"])


def load(root: Path | str, image_size: int = 84, cache_dir: Path | None = None, sources=SOURCES,
         target: str = TARGET, per_class: int = 0) -> FewShotDataset:
    """DomainNet with ``target`` held out (module docstring).

    Example:
        >>> import tempfile, pathlib
        >>> from benchmark.data.fixtures import write_domainnet
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> write_domainnet(root / "domainnet", classes=("bee", "zebra"), per_class=(2, 1))
        >>> ds = load(root, image_size=8)
        >>> ds.splits["test"].class_names, ds.splits["test"].images.shape
        (['sketch/bee', 'sketch/zebra'], torch.Size([6, 3, 8, 8]))
        >>> len(ds.splits["train"].class_names)                 # 5 source domains x 2 classes, less painting/bee
        9
    """
    if root is None:
        raise DataMissingError("domainnet", Path("$MCDI_DATA") / "domainnet", HOW)
    base = Path(root) / "domainnet"
    if target in sources:
        raise DataCorruptError(f"domainnet: the held-out domain {target!r} is also a source")
    lists = {"train": [(d, "train") for d in sources], "val": [(d, "test") for d in sources],
             "test": [(target, "train"), (target, "test")]}
    out = {name: _split(name, base, ls, image_size, per_class, cache_dir) for name, ls in lists.items()}
    return FewShotDataset("domainnet", out, IMAGENET_MEAN, IMAGENET_STD)
