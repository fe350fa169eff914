"""Dataset registry: ``load_dataset(name, root, image_size)`` -> :class:`FewShotDataset`.

Example:
    >>> ds = load_dataset("synthetic", root=None, image_size=16)
    >>> ds.splits["test"].num_classes
    20
"""
from __future__ import annotations

from pathlib import Path

from . import domainnet, folders, imagenet, metadataset, omniglot, synthetic, tiered, transfer
from .base import DataCorruptError, DataMissingError, FewShotDataset, ImageSplit
from .episodes import ClusterEpisodeSampler, Episode, EpisodeSampler, matched_accuracy, \
    queries_per_class


def _md(source):
    return lambda root, image_size, cache_dir, **kw: metadataset.load(root, image_size, cache_dir, source, **kw)


def _transfer(name):
    return lambda root, image_size, cache_dir, **kw: transfer.load(name, root, image_size, cache_dir)


LOADERS = {
    "omniglot": lambda root, image_size, cache_dir, **kw: omniglot.load(root, image_size, cache_dir=cache_dir, **kw),
    "mini-imagenet": lambda root, image_size, cache_dir, **kw: folders.load_mini_imagenet(root, image_size, cache_dir),
    "tiered-imagenet": lambda root, image_size, cache_dir, **kw: tiered.load(root, image_size, cache_dir),
    "domainnet": lambda root, image_size, cache_dir, **kw: domainnet.load(root, image_size, cache_dir, **kw),
    "imagenet": lambda root, image_size, cache_dir, **kw: imagenet.load(root, image_size, cache_dir, **kw),
    **{f"md-{s}": _md(s) for s in metadataset.TEST_SOURCES},
    **{name: _transfer(name) for name in transfer.DATASETS},
    "synthetic": lambda root, image_size, cache_dir, seed=0, **kw: synthetic.load(image_size, seed=seed),
}
DATASETS = tuple(LOADERS)
TRANSFER = transfer.DATASETS          # test-only targets (Table 2): no meta-training split

# name -> (paths under the root, any one of which must exist, for each requirement; how to get the data)
REQUIRED = {
    "omniglot": ([("omniglot-py/images_background.zip", "omniglot-py/images_background"),
                  ("omniglot-py/images_evaluation.zip", "omniglot-py/images_evaluation")], omniglot.HOW),
    "mini-imagenet": ([("mini-imagenet/images",), ("mini-imagenet/train.csv",), ("mini-imagenet/test.csv",)],
                      folders.MINI_HOW),
    "tiered-imagenet": ([("tiered-imagenet/train", "tiered-imagenet/train_images_png.pkl",
                          "tiered-imagenet/train_images.npz")], tiered.HOW),
    "domainnet": ([(f"domainnet/{d}_train.txt",) for d in domainnet.SOURCES + (domainnet.TARGET,)], domainnet.HOW),
    "imagenet": ([("imagenet/train",), ("imagenet/val",)], imagenet.HOW),
    **{f"md-{s}": ([(f"meta-dataset/{t}/dataset_spec.json",) for t in metadataset.TRAIN_SOURCES + (s,)],
                   metadataset.HOW) for s in metadataset.TEST_SOURCES},
    **{name: ([(transfer.FOLDERS[name],)], transfer.HOW[name]) for name in transfer.DATASETS},
}


def load_dataset(name: str, root: Path | str | None, image_size: int, cache_dir: Path | None = None,
                 **options) -> FewShotDataset:
    """Load a registered dataset; raises :class:`DataMissingError` naming the expected path.

    Example:
        >>> load_dataset("synthetic", None, image_size=8).splits["test"].images.shape
        torch.Size([400, 1, 8, 8])
        >>> import tempfile
        >>> load_dataset("tiered-imagenet", tempfile.mkdtemp(), 84)
        Traceback (most recent call last):
        ...
        benchmark.data.base.DataMissingError: tiered-imagenet: data not found at .../tiered-imagenet/train
        ...
    """
    if name not in LOADERS:
        raise KeyError(f"unknown dataset {name!r}; registered: {', '.join(DATASETS)}")
    return LOADERS[name](root, image_size, cache_dir, **options)


def needed_datasets(name: str, settings: dict) -> list:
    """The datasets a cell on ``name`` reads: a transfer target (Table 2) also needs its meta-training
    source, ``settings["transfer_source"]``.

    Example:
        >>> needed_datasets("cifar10", {"transfer_source": "mini-imagenet"})
        ['mini-imagenet', 'cifar10']
    """
    return [settings["transfer_source"], name] if name in TRANSFER else [name]


def load_for_settings(name: str, root, settings: dict, cache_dir=None) -> FewShotDataset:
    """The dataset a cell on ``name`` runs on, at ``settings["image_size"]``: a transfer target is
    composed with its source (:func:`benchmark.data.transfer.compose`).

    Example:
        >>> ds = load_for_settings("synthetic", None, {"image_size": 8})
        >>> ds.name, ds.splits["train"].images.shape
        ('synthetic', torch.Size([800, 1, 8, 8]))
    """
    if name in TRANSFER:
        source = load_for_settings(settings["transfer_source"], root, settings, cache_dir)
        return transfer.compose(source, load_dataset(name, root, settings["image_size"], cache_dir))
    extra = {"seed": 0} if name == "synthetic" else {}
    return load_dataset(name, root, settings["image_size"], cache_dir, **extra)


def is_text(name: str) -> bool:
    """Whether ``name`` is a GLUE task of Table 5 (``glue-<task>``) rather than an image dataset.

    Example:
        >>> is_text("glue-mrpc"), is_text("omniglot")
        (True, False)
    """
    return name.startswith("glue-")


def check_available(name: str, root: Path | str | None) -> None:
    """Raise :class:`DataMissingError` at once if ``name``'s files are not under ``root``.

    Example:
        >>> check_available("synthetic", None)                  # needs no files: nothing raised
        >>> import tempfile
        >>> check_available("omniglot", tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        benchmark.data.base.DataMissingError: omniglot: data not found at .../omniglot-py/images_background.zip
        ...
    """
    root = Path(root) if root is not None else None
    if is_text(name):
        from ..text.glue import check_glue, task_name
        check_glue(root, task_name(name))
        return
    needs, how = REQUIRED.get(name, ([], ""))
    for alternatives in needs:
        if root is None or not any((root / a).exists() for a in alternatives):
            raise DataMissingError(name, (root or Path("$MCDI_DATA")) / alternatives[0], how)


__all__ = ["load_dataset", "load_for_settings", "needed_datasets", "check_available", "is_text", "DATASETS", "FewShotDataset", "ImageSplit", "Episode",
           "EpisodeSampler", "ClusterEpisodeSampler", "matched_accuracy", "queries_per_class", "DataMissingError",
           "DataCorruptError", "TRANSFER"]
