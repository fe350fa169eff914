import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.config import cpu_threads

# The threads every cell computes with (``$MCDI_THREADS``, default 1): the suite then computes
# what the cells compute, and a machine whose other core is busy (a table running beside the
# tests) does not make every small op wait on an oversubscribed thread pool (measured here: a
# 400-step VAE test took 413 s with torch's default 2 threads beside a running table, 24 s
# with 1). A test that wants other threads sets and restores them itself.
torch.set_num_threads(cpu_threads())


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache dir; nothing touches the user's ~/.cache/mcdi."""
    monkeypatch.setenv("MCDI_CACHE", str(tmp_path / "cache"))


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def write_tiny_omniglot(root: Path, alphabets=2, chars=4, drawers=20, size=20, extracted=False) -> Path:
    """Write a tiny Omniglot in the official layout (zips, or extracted folders)."""
    rng = np.random.default_rng(0)
    base = root / "omniglot-py"
    base.mkdir(parents=True, exist_ok=True)
    for set_name, first_id in (("images_background", 1), ("images_evaluation", 500)):
        members = {}
        cid = first_id
        for a in range(alphabets):
            for c in range(chars):
                pattern = rng.random((size, size)) > 0.5
                for d in range(drawers):
                    img = (np.where(pattern ^ (rng.random((size, size)) > 0.9), 255, 0)).astype(np.uint8)
                    members[f"{set_name}/Alpha_{a}/character{c + 1:02d}/{cid:04d}_{d + 1:02d}.png"] = png_bytes(img)
                cid += 1
        if extracted:
            for name, data in members.items():
                p = base / name
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
        else:
            with zipfile.ZipFile(base / f"{set_name}.zip", "w") as zf:
                for name, data in members.items():
                    zf.writestr(name, data)
    return root


def write_tiny_mini_imagenet(root: Path, classes=(4, 2, 3), per_class=20, size=12) -> Path:
    """Write a tiny mini-ImageNet in the Ravi format: images/ + train/val/test.csv."""
    rng = np.random.default_rng(1)
    base = root / "mini-imagenet"
    (base / "images").mkdir(parents=True, exist_ok=True)
    k = 0
    for split, n in zip(("train", "val", "test"), classes):
        rows = ["filename,label"]
        for c in range(n):
            wnid = f"n{k:08d}"
            k += 1
            color = rng.integers(0, 255, 3)
            for i in range(per_class):
                img = np.clip(color + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
                fname = f"{wnid}{i + 1:08d}.jpg"
                Image.fromarray(img).save(base / "images" / fname, "JPEG")
                rows.append(f"{fname},{wnid}")
        (base / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return root


def write_image_folder_splits(root: Path, name: str, classes=(3, 2, 3), per_class=6, size=10) -> Path:
    rng = np.random.default_rng(2)
    k = 0
    for split, n in zip(("train", "val", "test"), classes):
        for c in range(n):
            d = root / name / split / f"cls{k}"
            d.mkdir(parents=True, exist_ok=True)
            k += 1
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 255, (size, size + 3, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root
