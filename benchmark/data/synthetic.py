"""A synthetic few-shot dataset for smoke tests: each class is a random smooth
template; its images are the template plus pixel noise. Easy but not trivial
(chance is 1/way), needs no files, and is fully determined by ``seed``.

Example:
    >>> ds = load(image_size=16, seed=0)
    >>> ds.splits["train"].images.shape[1:]
    torch.Size([1, 16, 16])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import FewShotDataset, ImageSplit

CLASSES = {"train": 40, "val": 10, "test": 20}


def load(image_size: int = 16, seed: int = 0, per_class: int = 20, noise: float = 0.35,
         channels: int = 1) -> FewShotDataset:
    """Generate the dataset (train 40 / val 10 / test 20 classes).

    Example:
        >>> ds = load(image_size=8, per_class=5, channels=3)
        >>> [len(ds.splits[s]) for s in ("train", "val", "test")], ds.channels
        ([200, 50, 100], 3)
        >>> torch.equal(ds.splits["test"].images, load(8, per_class=5, channels=3).splits["test"].images)
        True
    """
    g = torch.Generator().manual_seed(1000 + seed)
    splits = {}
    for split, n_cls in CLASSES.items():
        coarse = torch.rand(n_cls, channels, 4, 4, generator=g)
        templates = F.interpolate(coarse, size=(image_size, image_size), mode="bilinear", align_corners=False)
        x = templates.repeat_interleave(per_class, 0)
        x = x + noise * torch.randn(x.shape, generator=g)
        images = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        labels = torch.arange(n_cls).repeat_interleave(per_class)
        splits[split] = ImageSplit(images, labels, [f"{split}{i}" for i in range(n_cls)])
    return FewShotDataset("synthetic", splits, mean=(0.5,) * channels, std=(0.25,) * channels)
