"""In-memory image splits, the missing-data error, and the decoded-tensor cache.

Every reader turns its on-disk format into :class:`ImageSplit` objects (uint8
images ``[N, C, H, W]`` + integer labels over the split's classes). Decoding is
done once per (source files, image size) and cached as a ``.pt`` file.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from ..atomic import atomic_torch_save  # noqa: F401  (re-exported)
from PIL import Image


class DataMissingError(FileNotFoundError):
    """A dataset is not at the path the harness expects.

    The message names the expected path and how to obtain the data.

    Example:
        >>> err = DataMissingError("omniglot", "/data/omniglot-py/images_background.zip", "download it")
        >>> print(err)
        omniglot: data not found at /data/omniglot-py/images_background.zip
          how to get it: download it
          (the data root is --data or $MCDI_DATA)
        >>> isinstance(err, FileNotFoundError), err.expected.name
        (True, 'images_background.zip')
    """

    def __init__(self, dataset: str, expected: Path | str, how: str):
        self.dataset, self.expected, self.how = dataset, Path(expected), how
        super().__init__(f"{dataset}: data not found at {expected}\n  how to get it: {how}\n"
                         f"  (the data root is --data or $MCDI_DATA)")


class DataCorruptError(ValueError):
    """Files exist but do not have the expected structure or cannot be decoded.

    Example:
        >>> decode_image(b"not an image", 8, "L")
        Traceback (most recent call last):
        ...
        benchmark.data.base.DataCorruptError: cannot decode image <bytes>: cannot identify image file ...
        >>> issubclass(DataCorruptError, ValueError)
        True
    """


@dataclass
class ImageSplit:
    """Images of one split (meta-train, meta-val or meta-test) of a dataset.

    Example:
        >>> s = ImageSplit(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 0, 1, 1]), ["a", "b"])
        >>> s.num_classes, len(s)
        (2, 4)
    """

    images: torch.Tensor            # uint8 [N, C, H, W]
    labels: torch.Tensor            # int64 [N], values in [0, num_classes)
    class_names: list = field(default_factory=list)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataCorruptError(f"images must be uint8 [N,C,H,W], got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise DataCorruptError("images and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.class_names else int(self.labels.max()) + 1


@dataclass
class FewShotDataset:
    """A dataset split into disjoint class sets, with its normalisation.

    Example:
        >>> from benchmark.data import synthetic
        >>> ds = synthetic.load(image_size=16, seed=0)
        >>> sorted(ds.splits)
        ['test', 'train', 'val']
    """

    name: str
    splits: dict                    # split name -> ImageSplit
    mean: Sequence[float]
    std: Sequence[float]

    @property
    def channels(self) -> int:
        return self.splits["train"].images.shape[1]

    def normalize(self, images_u8: torch.Tensor) -> torch.Tensor:
        """uint8 images -> normalised float32 (same shape)."""
        x = images_u8.float().div_(255.0)
        mean = torch.tensor(self.mean, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std


def decode_image(data: bytes | str | Path | Image.Image, image_size: int, mode: str) -> np.ndarray:
    """Decode one image (encoded bytes, a path or a PIL image) to a uint8 ``[C, H, W]`` array.

    Any size or channel count is mapped to ``mode`` ("L" or "RGB") and
    ``image_size`` x ``image_size``.

    Example:
        >>> buf = io.BytesIO(); Image.new("RGB", (10, 7)).save(buf, "PNG")
        >>> decode_image(buf.getvalue(), 4, "L").shape
        (1, 4, 4)
    """
    try:
        img = data if isinstance(data, Image.Image) else Image.open(io.BytesIO(data) if isinstance(data, bytes)
                                                                    else data)
        img = img.convert(mode).resize((image_size, image_size), Image.LANCZOS)
    except Exception as exc:  # PIL raises many types
        name = "<bytes>" if isinstance(data, bytes) else str(data)
        raise DataCorruptError(f"cannot decode image {name}: {exc}") from exc
    arr = np.array(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def stack_images(arrays: Iterable[np.ndarray]) -> torch.Tensor:
    """Stack uint8 ``[C, H, W]`` arrays (as :func:`decode_image` returns them) into one ``[N, C, H, W]`` tensor.

    Example:
        >>> stack_images([np.zeros((1, 4, 4), dtype=np.uint8)] * 3).shape
        torch.Size([3, 1, 4, 4])
    """
    return torch.from_numpy(np.stack(list(arrays)))


def fingerprint(paths: Iterable[Path], *extra) -> str:
    """Short hash of files' (resolved path, size, mtime in ns) and extra values, for cache keys: a
    cache entry is rebuilt when any file it was built from moves, changes size or is touched (a
    copy made with ``cp -p`` keeps times but not the path). A missing file is a clear error.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "a.png"; _ = f.write_bytes(b"x")
        >>> k = fingerprint([f], 28); _ = f.write_bytes(b"xy"); k == fingerprint([f], 28)
        False
    """
    h = hashlib.sha1()
    for p in paths:
        p = Path(p)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise DataMissingError(p.parent.name or "data", p, "restore the file or the dataset") from None
        h.update(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(repr(extra).encode())
    return h.hexdigest()[:12]


def cached(cache_dir: Path | None, key: str, build: Callable[[], dict]) -> dict:
    """Return ``build()``, memoised on disk as ``cache_dir/data/<key>.pt``.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> cached(d, "demo", lambda: {"n": 1})
        {'n': 1}
        >>> cached(d, "demo", lambda: {"n": 2})                 # read back from d/data/demo.pt, not rebuilt
        {'n': 1}
        >>> cached(None, "demo", lambda: {"n": 2})              # no cache folder: always built
        {'n': 2}
    """
    if cache_dir is None:
        return build()
    path = Path(cache_dir) / "data" / f"{key}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=False)
        except Exception:
            path.unlink()  # a corrupt cache entry is rebuilt
    obj = build()
    atomic_torch_save(obj, path)
    return obj


def labels_from_names(names: Sequence[str]) -> tuple[torch.Tensor, list]:
    """Map class names (one per image) to contiguous ids in sorted-name order.

    Example:
        >>> labels_from_names(["cat", "ant", "cat"])
        (tensor([1, 0, 1]), ['ant', 'cat'])
    """
    classes = sorted(set(names))
    index = {c: i for i, c in enumerate(classes)}
    return torch.tensor([index[n] for n in names], dtype=torch.long), classes
