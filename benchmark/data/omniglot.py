"""Omniglot (Lake et al. 2015) from the official archive layout.

Reads ``<root>/omniglot-py/images_background.zip`` and ``images_evaluation.zip``
(or their extracted folders) with members
``images_<set>/<alphabet>/characterNN/<id>_<drawer>.png``. torchvision's
``Omniglot`` class is not used for reading because it checks the official zip's
md5 and refuses pixel-identical rebuilt copies; for users who are online,
``torchvision.datasets.Omniglot(root, download=True)`` fetches exactly this layout.

Class split (``split="vinyals"``, the default, as in MAML and REPTILE): the 1,623
characters of both sets, sorted by (set, alphabet, character), are permuted with
a fixed seed (0); the first 1,100 are meta-train, the next 100 meta-val, the last
423 meta-test ("1200 characters for training, irrespective of alphabet, remaining
for testing" with 100 of the 1,200 held out for validation).
``split="lake"``: background set (964) is meta-train (minus 64 for meta-val),
evaluation set (659) is meta-test.
``rotations=True`` adds the 90/180/270-degree rotations of each meta-train
character as new classes (the augmentation of MAML/REPTILE/the Mc-Di paper).
"""
from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

import torch

from .base import (DataCorruptError, DataMissingError, FewShotDataset, ImageSplit, cached,
                   decode_image, fingerprint)

SETS = ("images_background", "images_evaluation")
_MEMBER = re.compile(r"^(images_background|images_evaluation)/([^/]+)/([^/]+)/([^/]+\.png)$")
HOW = ("download images_background.zip and images_evaluation.zip from "
       "https://github.com/brendenlake/omniglot (python/ folder) into <root>/omniglot-py/, "
       "or run torchvision.datasets.Omniglot(<root>, background=b, download=True) for b in (True, False)")


def _list_members(base: Path, set_name: str):
    """Yield (relative member path, reader) for every PNG of one set."""
    zpath, folder = base / f"{set_name}.zip", base / set_name
    if folder.is_dir():
        for p in sorted(folder.glob("*/*/*.png")):
            yield f"{set_name}/{p.relative_to(folder).as_posix()}", p.read_bytes
    elif zpath.is_file():
        try:
            zf = zipfile.ZipFile(zpath)
        except zipfile.BadZipFile as exc:
            raise DataCorruptError(f"omniglot: {zpath} is not a valid zip archive: {exc}") from exc
        for name in sorted(zf.namelist()):
            if name.endswith(".png"):
                yield name, (lambda n=name: zf.read(n))
    else:
        raise DataMissingError("omniglot", zpath, HOW)


def _decode_all(base: Path, image_size: int) -> dict:
    """Decode both sets: images uint8 [N,1,S,S] and a character key per image."""
    images, keys = [], []
    for set_name in SETS:
        n = 0
        for member, read in _list_members(base, set_name):
            m = _MEMBER.match(member)
            if m is None:
                raise DataCorruptError(f"omniglot: unexpected member {member!r} (expected "
                                       f"{set_name}/<alphabet>/characterNN/<id>_<drawer>.png)")
            try:
                data = read()
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
                raise DataCorruptError(f"omniglot: member {member} of {base / set_name}.zip is damaged ({exc}); "
                                       f"download the archive again ({HOW})") from None
            images.append(torch.from_numpy(decode_image(data, image_size, "L")))
            keys.append("/".join(m.groups()[:3]))
            n += 1
        if n == 0:
            raise DataCorruptError(f"omniglot: no PNG images found in {set_name}")
    return {"images": torch.stack(images), "keys": keys}


def _split_characters(chars: list, split: str) -> dict:
    g = torch.Generator().manual_seed(0)
    if split == "vinyals":
        if len(chars) < 3:
            raise DataCorruptError("omniglot: too few characters for a split")
        perm = [chars[i] for i in torch.randperm(len(chars), generator=g).tolist()]
        n_test = max(1, round(len(chars) * 423 / 1623))
        n_val = max(1, round(len(chars) * 100 / 1623))
        return {"train": perm[: len(chars) - n_test - n_val],
                "val": perm[len(chars) - n_test - n_val: len(chars) - n_test],
                "test": perm[len(chars) - n_test:]}
    if split == "lake":
        bg = [c for c in chars if c.startswith("images_background")]
        ev = [c for c in chars if c.startswith("images_evaluation")]
        bg = [bg[i] for i in torch.randperm(len(bg), generator=g).tolist()]
        n_val = max(1, round(len(bg) * 64 / 964))
        return {"train": bg[n_val:], "val": bg[:n_val], "test": ev}
    raise ValueError(f"unknown omniglot split {split!r}; use 'vinyals' or 'lake'")


def load(root: Path | str, image_size: int = 28, split: str = "vinyals", rotations: bool = False,
         cache_dir: Path | None = None) -> FewShotDataset:
    """Load Omniglot from ``<root>/omniglot-py`` as meta-train/val/test splits.

    Example:
        >>> import tempfile
        >>> from benchmark.data.fixtures import png
        >>> base = Path(tempfile.mkdtemp()) / "omniglot-py"
        >>> base.mkdir()
        >>> for s in SETS:                                       # the two official zips: 6 characters each
        ...     with zipfile.ZipFile(base / f"{s}.zip", "w") as zf:
        ...         for c in range(6):
        ...             zf.writestr(f"{s}/Alpha/character{c + 1:02d}/{c:04d}_01.png", png((255, 255, 255)))
        >>> ds = load(base.parent, image_size=28)
        >>> [ds.splits[s].num_classes for s in ("train", "val", "test")]     # 1,100 / 100 / 423 in the real data
        [8, 1, 3]
        >>> ds.splits["test"].images.shape
        torch.Size([3, 1, 28, 28])
    """
    base = Path(root) / "omniglot-py"
    sources = [p for s in SETS for p in (base / f"{s}.zip", base / s) if p.exists()]
    if not any(p.name.startswith("images_background") for p in sources) or \
       not any(p.name.startswith("images_evaluation") for p in sources):
        missing = next(base / f"{s}.zip" for s in SETS
                       if not any(p.name.startswith(s) for p in sources))
        raise DataMissingError("omniglot", missing, HOW)
    # keyed on each archive, or on every image of an extracted folder (a changed image rebuilds it)
    files = [f for p in sources for f in ([p] if p.is_file() else sorted(p.glob("*/*/*.png")))]
    key = f"omniglot-{image_size}-{fingerprint(files, image_size)}"
    raw = cached(cache_dir, key, lambda: _decode_all(base, image_size))
    chars = sorted(set(raw["keys"]))
    per_split = _split_characters(chars, split)
    key_index: dict = {}
    for i, k in enumerate(raw["keys"]):
        key_index.setdefault(k, []).append(i)
    splits = {}
    for name, members in per_split.items():
        members = sorted(members)
        idx = torch.tensor([i for c in members for i in key_index[c]], dtype=torch.long)
        labels = torch.tensor([j for j, c in enumerate(members) for _ in key_index[c]], dtype=torch.long)
        images, names = raw["images"][idx], list(members)
        if rotations and name == "train":
            images = torch.cat([torch.rot90(images, r, dims=(2, 3)) for r in range(4)])
            labels = torch.cat([labels + r * len(members) for r in range(4)])
            names = [f"{c}@rot{90 * r}" for r in range(4) for c in members]
        splits[name] = ImageSplit(images.contiguous(), labels, names)
    return FewShotDataset("omniglot", splits, mean=(0.92,), std=(0.25,))
