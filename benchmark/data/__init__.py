"""Dataset registry: ``load_dataset(name, root, image_size)`` -> :class:`FewShotDataset`.

Example:
    >>> ds = load_dataset("synthetic", root=None, image_size=16)
    >>> ds.splits["test"].num_classes
    20
"""
from __future__ import annotations

from pathlib import Path

from . import folders, omniglot, synthetic
from .base import DataCorruptError, DataMissingError, FewShotDataset, ImageSplit
from .episodes import Episode, EpisodeSampler

TIERED_HOW = ("get Tiered-ImageNet (Ren et al. 2018, e.g. via https://github.com/yaoyao-liu/tiered-imagenet-tools) "
              "and lay it out as <root>/tiered-imagenet/{train,val,test}/<wnid>/<image>.jpg")


def _tiered(root, image_size, cache_dir, **kw):
    return folders.load_image_folder_splits(root, "tiered-imagenet", image_size, "RGB", TIERED_HOW, cache_dir)


LOADERS = {
    "omniglot": lambda root, image_size, cache_dir, **kw: omniglot.load(root, image_size, cache_dir=cache_dir, **kw),
    "mini-imagenet": lambda root, image_size, cache_dir, **kw: folders.load_mini_imagenet(root, image_size, cache_dir),
    "tiered-imagenet": _tiered,
    "synthetic": lambda root, image_size, cache_dir, seed=0, **kw: synthetic.load(image_size, seed=seed),
}
DATASETS = tuple(LOADERS)


def load_dataset(name: str, root: Path | str | None, image_size: int, cache_dir: Path | None = None,
                 **options) -> FewShotDataset:
    """Load a registered dataset; raises :class:`DataMissingError` naming the expected path."""
    if name not in LOADERS:
        raise KeyError(f"unknown dataset {name!r}; registered: {', '.join(DATASETS)}")
    return LOADERS[name](root, image_size, cache_dir, **options)


def is_text(name: str) -> bool:
    """Whether ``name`` is a GLUE task of Table 5 (``glue-<task>``) rather than an image dataset."""
    return name.startswith("glue-")


def check_available(name: str, root: Path | str | None) -> None:
    """Raise :class:`DataMissingError` at once if ``name``'s files are not under ``root``."""
    root = Path(root) if root is not None else None
    if is_text(name):
        from ..text.glue import check_glue, task_name
        check_glue(root, task_name(name))
        return
    expected = {
        "omniglot": [("omniglot-py/images_background.zip", "omniglot-py/images_background"),
                     ("omniglot-py/images_evaluation.zip", "omniglot-py/images_evaluation")],
        "mini-imagenet": [("mini-imagenet/images",), ("mini-imagenet/train.csv",), ("mini-imagenet/test.csv",)],
        "tiered-imagenet": [("tiered-imagenet/train",), ("tiered-imagenet/test",)],
    }.get(name, [])
    how = {"omniglot": omniglot.HOW, "mini-imagenet": folders.MINI_HOW, "tiered-imagenet": TIERED_HOW}
    for alternatives in expected:
        if root is None or not any((root / a).exists() for a in alternatives):
            raise DataMissingError(name, (root or Path("$MCDI_DATA")) / alternatives[0], how[name])


__all__ = ["load_dataset", "check_available", "is_text", "DATASETS", "FewShotDataset", "ImageSplit", "Episode",
           "EpisodeSampler", "DataMissingError", "DataCorruptError"]
