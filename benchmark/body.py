"""The frozen body: pretrained once per (dataset, backbone, width, image size,
epochs, seed) on the meta-train classes only, cached on disk, shared by
Meta-Baseline (its classifier stage) and every head-generating method.

Example:
    >>> from benchmark.data import load_dataset
    >>> ds = load_dataset("synthetic", None, 16)
    >>> body = pretrain_body(ds, "conv4", width=8, epochs=1, batch=64, lr=0.01, seed=0)
    >>> body(ds.normalize(ds.splits["test"].images[:2])).shape
    torch.Size([2, 8])
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .atomic import write_json_atomic
from .config import cpu_threads, torch_threads
from .data.base import atomic_torch_save
from .models.backbones import build_backbone
from .optim import checked_step
from .seeding import generator
from .timing import stage

log = logging.getLogger(__name__)


def augment(x: torch.Tensor, g: torch.Generator, flip: bool) -> torch.Tensor:
    """Random horizontal flips (RGB data) - the body pretraining augmentation.

    Example:
        >>> x = torch.arange(4.0).view(1, 1, 1, 4).repeat(4, 1, 1, 1)           # 4 RGB-like images, one row each
        >>> augment(x, torch.Generator().manual_seed(0), flip=True)[:, 0, 0].tolist()
        [[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 1.0, 0.0]]
        >>> augment(x, torch.Generator().manual_seed(0), flip=False) is x          # grey-scale data: never flipped
        True
    """
    if not flip:
        return x
    mask = torch.rand(len(x), generator=g) < 0.5
    return torch.where(mask.view(-1, 1, 1, 1).to(x.device), x.flip(3), x)


def pretrain_body(ds, backbone: str, width: int, epochs: int, batch: int, lr: float, seed: int,
                  device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
    """Train ``backbone`` + a linear classifier over all meta-train classes (cross-entropy,
    SGD momentum 0.9, weight decay 5e-4, cosine learning rate), return the body in eval mode.

    Example:
        >>> from benchmark.data import FewShotDataset, ImageSplit
        >>> g = torch.Generator().manual_seed(0)
        >>> images = torch.randint(0, 256, (20, 1, 16, 16), dtype=torch.uint8, generator=g)        # 4 classes x 5
        >>> train = ImageSplit(images, torch.arange(4).repeat(5))
        >>> ds = FewShotDataset("tiny", {"train": train}, mean=(0.5,), std=(0.25,))
        >>> body = pretrain_body(ds, "conv4", width=4, epochs=1, batch=10, lr=0.01, seed=0)
        >>> body.training, body(ds.normalize(images[:3])).shape
        (False, torch.Size([3, 4]))
    """
    torch.manual_seed(seed)
    split = ds.splits["train"]
    body = build_backbone(backbone, ds.channels, width, image_size=split.images.shape[-1])
    body = body.to(device).to(memory_format=torch.channels_last)
    with torch.no_grad():
        body.eval()
        dim = body(ds.normalize(split.images[:2]).to(device)).shape[1]
    clf = nn.Linear(dim, split.num_classes).to(device)
    params = list(body.parameters()) + list(clf.parameters())
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    steps_per_epoch = max(1, math.ceil(len(split) / batch))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    g = generator(seed, "body")
    flip = ds.channels == 3
    body.train()
    bar = tqdm(total=epochs * steps_per_epoch, desc=f"pretrain body {ds.name}/{backbone} seed {seed}",
               disable=not progress, leave=False)
    for _ in range(epochs):
        perm = torch.randperm(len(split), generator=g)
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            x = augment(ds.normalize(split.images[idx]), g, flip).to(device, memory_format=torch.channels_last)
            loss = F.cross_entropy(clf(body(x)), split.labels[idx].to(device))
            checked_step(opt, loss, lambda: f"pretraining the {ds.name} body diverged (loss {loss.item()} at "
                                            f"epoch {_ + 1}, step {s + 1}); lower body_lr (now {lr})")
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return body.eval()


def body_key(ds_name: str, backbone: str, width: int, image_size: int, epochs: int, seed: int, lr: float,
             batch: int) -> str:
    """The cache file stem of a body: every setting that determines it (and the thread count if not 1).

    Example:
        >>> body_key("omniglot", "conv4", 64, 28, 5, 0, 0.05, 128)
        'body-omniglot-conv4-w64-s28-e5-lr0.05-b128-seed0...'
    """
    threads = cpu_threads()
    suffix = f"-t{threads}" if threads != 1 else ""        # other thread counts train another body
    return f"body-{ds_name}-{backbone}-w{width}-s{image_size}-e{epochs}-lr{lr}-b{batch}-seed{seed}{suffix}"


def get_body(ds, backbone: str, width: int, image_size: int, epochs: int, batch: int, lr: float, seed: int,
             cache_dir: Path | None, device="cpu", progress=False) -> nn.Module:
    """Cached :func:`pretrain_body`: loads ``<cache>/bodies/<key>.pt`` if present.

    Example:
        >>> import tempfile
        >>> from benchmark.data import FewShotDataset, ImageSplit
        >>> g = torch.Generator().manual_seed(0)
        >>> images = torch.randint(0, 256, (20, 1, 16, 16), dtype=torch.uint8, generator=g)        # 4 classes x 5
        >>> train = ImageSplit(images, torch.arange(4).repeat(5))
        >>> ds = FewShotDataset("tiny", {"train": train}, mean=(0.5,), std=(0.25,))
        >>> cache = Path(tempfile.mkdtemp())
        >>> trained = get_body(ds, "conv4", 4, 16, epochs=1, batch=10, lr=0.01, seed=0, cache_dir=cache)
        >>> loaded = get_body(ds, "conv4", 4, 16, epochs=1, batch=10, lr=0.01, seed=0, cache_dir=cache)   # the file
        >>> sorted(p.name for p in (cache / "bodies").iterdir())      # the weights and who pretrained them
        ['body-tiny-conv4-w4-s16-e1-lr0.01-b10-seed0....json', 'body-tiny-conv4-w4-s16-e1-lr0.01-b10-seed0....pt']
        >>> trained.provenance == loaded.provenance
        True
        >>> x = ds.normalize(images[:4]); torch.equal(trained(x), loaded(x))
        True
    """
    key = body_key(ds.name, backbone, width, image_size, epochs, seed, lr, batch)
    path = Path(cache_dir) / "bodies" / f"{key}.pt" if cache_dir else None
    body = build_backbone(backbone, ds.channels, width, image_size=image_size)
    if path is not None and path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
        body.load_state_dict(state)
        body.provenance = body_provenance(state, read_sidecar(path))
        return body.to(device).eval()
    with stage("body"), torch_threads(cpu_threads()):   # the count its key names, whoever calls (a sweep's job)
        trained = pretrain_body(ds, backbone, width, epochs, batch, lr, seed, device, progress)
    state = {k: v.detach().cpu().clone() for k, v in trained.state_dict().items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:                                              # never cache (or use) a non-finite body
        raise FloatingPointError(f"pretraining the {ds.name} body gave non-finite weights ({bad[0]}); "
                                 f"lower body_lr (now {lr})")
    from .runner import code_version, environment          # (the runner imports this module)
    made = {"pretrained_by": code_version(), "torch": torch.__version__, "threads": cpu_threads(),
            "env": environment()}
    if path is not None:
        atomic_torch_save(state, path)
        write_json_atomic(made, path.with_suffix(".json"))   # who pretrained it, kept beside the weights
    body.provenance = body_provenance(state, made)
    # hand back the body exactly as a later load would build it (same module, memory format and
    # mode), so a cell gives the same numbers whether its body was just trained or loaded
    body.load_state_dict(state)
    return body.to(device).eval()


def body_fingerprint(state: dict) -> str:
    """A short hash of a body's weights (every tensor of its state dict, by name): two records with the same
    fingerprint used the same body, whatever cache or commit it came from.

    Example:
        >>> a = {"w": torch.ones(2, 2)}
        >>> body_fingerprint(a) == body_fingerprint({"w": torch.ones(2, 2)}), body_fingerprint(a) == body_fingerprint({"w": torch.zeros(2, 2)})
        (True, False)
        >>> len(body_fingerprint(a))
        12
    """
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())     # the raw bytes (any dtype, 0-d too)
    return h.hexdigest()[:12]


def read_sidecar(path: Path) -> dict:
    """What pretrained the cached body at ``path`` (its ``.json`` beside it), or ``pretrained_by: unknown`` for
    bodies cached before the sidecar existed.

    Example:
        >>> read_sidecar(Path("/nonexistent/body.pt"))
        {'pretrained_by': 'unknown'}
    """
    side = Path(path).with_suffix(".json")
    try:
        return json.loads(side.read_text())
    except (OSError, ValueError):
        return {"pretrained_by": "unknown"}


def body_provenance(state: dict, made: dict) -> dict:
    """The record's ``body`` entry: the weights' fingerprint and who pretrained them.

    Example:
        >>> body_provenance({"w": torch.ones(1)}, {"pretrained_by": "abc"})["pretrained_by"]
        'abc'
    """
    return {"fingerprint": body_fingerprint(state), **made}


@torch.no_grad()
def compute_features(body: nn.Module, ds, images_u8: torch.Tensor, batch: int = 1024,
                     device="cpu") -> torch.Tensor:
    """Body features of uint8 images, in eval mode, batched.

    Example:
        >>> from benchmark.data import FewShotDataset, ImageSplit
        >>> from benchmark.models.backbones import Conv4
        >>> images = torch.randint(0, 256, (10, 1, 16, 16), dtype=torch.uint8)
        >>> ds = FewShotDataset("tiny", {"train": ImageSplit(images, torch.arange(10))}, mean=(0.5,), std=(0.25,))
        >>> compute_features(Conv4(1, 8), ds, images, batch=4).shape           # 3 batches of at most 4
        torch.Size([10, 8])
    """
    body.eval()
    out = [body(ds.normalize(images_u8[i:i + batch]).to(device, memory_format=torch.channels_last)).cpu()
           for i in range(0, len(images_u8), batch)]
    return torch.cat(out)
