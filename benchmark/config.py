"""Paths and run profiles.

One setting finds the data: the ``MCDI_DATA`` environment variable, overridden by
the ``--data`` flag of every command. Derived artefacts (decoded image tensors,
pretrained bodies, meta-trained methods) go to ``MCDI_CACHE`` (default
``~/.cache/mcdi``); they are keyed by their inputs and safe to delete.

Example:
    >>> from benchmark.config import profile_settings
    >>> profile_settings("cpu", "omniglot")["test_episodes"]
    600
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import torch

PROFILES = ("smoke", "cpu", "paper")


class ConfigError(ValueError):
    """An inconsistent or unknown setting; raised before anything is written.

    Example:
        >>> try:
        ...     profile_settings("fast", "omniglot")
        ... except ConfigError as exc:
        ...     print(exc)
        unknown profile 'fast'; choose one of smoke, cpu, paper
    """


def data_root(override: str | os.PathLike | None = None) -> Path:
    """Return the data root: ``override`` (the ``--data`` flag), else ``$MCDI_DATA``.

    Example:
        >>> data_root("/tmp/d")
        PosixPath('/tmp/d')
    """
    value = override or os.environ.get("MCDI_DATA")
    if not value:
        raise ConfigError(
            "no data root: set MCDI_DATA=/path/to/data or pass --data /path/to/data "
            "(in this repository's CI it is ../shared/data)")
    return Path(value).expanduser()


def compile_sampler() -> bool:
    """Whether the weight-diffusion methods run a one-shot generation (no chain states, all T steps)
    as one ``torch.compile``'d function with inductor's C++ wrapper: ``$MCDI_COMPILE`` (``--compile``),
    default off. The same computation (the same numbers to float rounding; tests/test_diffusion.py),
    about 2x less latency on a CPU (reproduce/perf.py, (a)); it needs a C++ compiler, and the first
    call of each shape compiles for 10-150 s (cached on disk by inductor), counted in no latency.
    A record says which path it timed (``compiled_sampler``). Only the methods whose network is the
    plain U-Net compile (Mc-Di, Mv-Di, Tw-Di, Lt-Di, Lv-Di, OCD); the others run as always, so REPORT.md
    judges no latency claim of a table timed this way.

    Example:
        >>> compile_sampler() in (True, False)
        True
    """
    raw = os.environ.get("MCDI_COMPILE", "0").strip().lower()
    if raw not in ("0", "1", "false", "true", ""):
        raise ConfigError(f"MCDI_COMPILE must be 0 or 1, got {raw!r}")
    return raw in ("1", "true")


def cpu_threads() -> int:
    """Torch CPU threads every cell computes with: ``$MCDI_THREADS``, default 1.

    Float reductions (matmul, conv) sum in an order that depends on the thread count, and
    a meta-training amplifies those last-bit differences into different numbers (measured:
    Mc-Di, Omniglot 5-way 1-shot, seed 0: 69.80% with 1 thread, 69.55% with 2). One fixed
    count makes a cell's numbers the same whatever ``--jobs`` or the executor; run cells in
    parallel with ``--jobs`` rather than threads.

    Example:
        >>> cpu_threads() >= 1
        True
    """
    raw = os.environ.get("MCDI_THREADS", "1")
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"MCDI_THREADS must be a positive integer, got {raw!r}")
    return n


@contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch CPU threads (see :func:`cpu_threads`).

    Example:
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cache_root(override: str | os.PathLike | None = None) -> Path:
    """Return the cache directory (``--cache``, ``$MCDI_CACHE`` or ``~/.cache/mcdi``).

    Example:
        >>> cache_root("/tmp/c")
        PosixPath('/tmp/c')
    """
    value = override or os.environ.get("MCDI_CACHE") or "~/.cache/mcdi"
    return Path(value).expanduser()


# Per-profile, per-dataset settings of the shared pipeline (data, body, evaluation).
# The protocol's shape (N-way, K-shot, 15 queries, >= 600 test episodes, 5 seeds)
# is the same in `cpu` and `paper`; `cpu` shrinks image size, body width and
# training length so a table fits 2 CPU cores. `smoke` is for tests only.
# Model selection (benchmark/selection.py): every method's checkpoint is picked by accuracy
# on `val_episodes` meta-val episodes scored at `val_checkpoints` points of its training.
_COMMON = {
    "smoke": dict(query=15, test_episodes=20, latency_episodes=3, body_epochs=2,
                  body_batch=64, body_lr=0.01, body_width=16, selection="val", val_checkpoints=2, val_episodes=10),
    "cpu": dict(query=15, test_episodes=600, latency_episodes=20, body_epochs=5,
                body_batch=128, body_lr=0.05, body_width=64, selection="val", val_checkpoints=6, val_episodes=100),
    "paper": dict(query=15, test_episodes=600, latency_episodes=50, body_epochs=100,
                  body_batch=128, body_lr=0.05, body_width=64, selection="val", val_checkpoints=20,
                  val_episodes=500),
}
# cpu profile: Conv4-64 (the papers' width) on both datasets. Omniglot: 5 epochs (~90 s; nearest
# centroid 96.7% vs 78.8% with the former Conv4-32 x 3 epochs). mini-ImageNet: 32x32 images, 8
# epochs (~3 min); at 84x84 one epoch takes 221 s here (a body in ~30 min), but its 1600-d
# features make 8,005-weight heads and one Mc-Di meta-iteration 11x slower (README, "Profiles").
_DATASET = {
    "omniglot": {"smoke": dict(image_size=28), "cpu": dict(image_size=28),
                 "paper": dict(image_size=28)},
    "mini-imagenet": {"smoke": dict(image_size=32), "cpu": dict(image_size=32, body_epochs=8),
                      "paper": dict(image_size=84)},
    "tiered-imagenet": {"smoke": dict(image_size=32), "cpu": dict(image_size=32, body_epochs=8),
                        "paper": dict(image_size=84)},
    "synthetic": {"smoke": dict(image_size=16), "cpu": dict(image_size=16),
                  "paper": dict(image_size=16)},
    # Tables 4 and 8 (not at hand here): the mini-ImageNet settings
    **{d: {"smoke": dict(image_size=32), "cpu": dict(image_size=32, body_epochs=8), "paper": dict(image_size=84)}
       for d in ("domainnet", "md-traffic_sign", "md-mscoco", "md-mnist", "md-cifar100", "md-cifar10")},
    # Table 2 (transfer): a target's cells meta-train on `transfer_source` (its train/val splits) and test on
    # the target's test set; `test_query=0`: every image a class has left after the conditioning shots
    # (the whole test set), `test_episodes` draws of those shots. The papers' body is ResNet-12; the cpu
    # profile's is ResNet-12 at width 16 (x0.25: 160-d features, 1,610-weight 10-way heads; one training
    # step costs 1.3x Conv4-64's) on 32x32 images of mini-ImageNet's 64 training classes, the stand-in for
    # ImageNet-1k (docs/readings.md, "Table 2").
    **{d: {"smoke": dict(image_size=16, transfer_source="mini-imagenet", test_query=0, test_episodes=4,
                         transfer_labels="support"),
           "cpu": dict(image_size=32, body_epochs=8, body_width=16, transfer_source="mini-imagenet", test_query=0,
                       test_episodes=100, transfer_labels="support"),
           "paper": dict(image_size=84, transfer_source="imagenet", test_query=0, test_episodes=100,
                         transfer_labels="support")}
       for d in ("cifar10", "cifar100", "stl10", "aircraft", "pets")},
    "imagenet": {"smoke": dict(image_size=16), "cpu": dict(image_size=32, body_epochs=8),
                 "paper": dict(image_size=84)},
}
TRANSFER_SOURCES = ("mini-imagenet", "imagenet", "tiered-imagenet", "synthetic")

# Table 5 (GLUE): the pipeline of a text cell. Every row fine-tunes (or generates) the top
# `top_layers` transformer layers (0: all) + the classification head of `model`; sentences are cut to
# `max_len` tokens; the evaluation task's training set is cut to `train_examples` (0: all), of which
# `heldout` examples score convergence (benchmark/text/finetune.py) every `eval_every` steps;
# accuracy is on `dev_examples` of the GLUE dev set (0: all). `cond_examples` per class of the
# training set condition a generator. cpu: MiniLM-L6 (a stand-in for RoBERTa-base), top 2 layers.
# Convergence patience: 6 scores 50 steps apart. Measured: with 4 scores 25 steps apart, LoRA (lr 4e-4,
# MRPC, seed 0) stopped at step 125 on the majority class (held-out 64%) while its loss still fell.
TEXT_DATASETS = ("glue-mrpc", "glue-qnli", "glue-sst2", "glue-qqp", "glue-rte", "glue-wnli", "glue-cola")
_TEXT = {
    "smoke": dict(model="tiny", top_layers=1, max_len=16, train_examples=64, heldout=16, dev_examples=32,
                  batch=8, max_steps=6, eval_every=3, patience=1, cond_examples=4),
    "cpu": dict(model="minilm", top_layers=2, max_len=64, train_examples=2000, heldout=200, dev_examples=1000,
                batch=16, max_steps=1200, eval_every=50, patience=6, cond_examples=32),
    "paper": dict(model="minilm", top_layers=0, max_len=128, train_examples=0, heldout=500, dev_examples=0,
                  batch=16, max_steps=20000, eval_every=200, patience=5, cond_examples=64),
}


# type and allowed range of every pipeline setting (``--set KEY=VALUE``)
SETTING_RULES = {
    "image_size": (int, 8), "body_width": (int, 1), "body_epochs": (int, 1), "body_batch": (int, 1),
    "body_lr": (float, 0.0), "test_episodes": (int, 1), "latency_episodes": (int, 1), "query": (int, 1),
    "selection": (str, ("val", "last")), "val_checkpoints": (int, 1), "val_episodes": (int, 1),
    # the figures (issue 10): reconstruction MSE on this many episodes (validation curve and test), and a
    # compute budget in CPU seconds for the training; neither is in any profile (absent = off)
    "mse_episodes": (int, 0), "budget_cpu_s": (float, 0.0),
    # transfer targets (Table 2)
    "transfer_source": (str, TRANSFER_SOURCES), "test_query": (int, 0), "transfer_labels": (str, ("support", "none")),
    # text cells (Table 5)
    "model": (str, None), "top_layers": (int, 0), "max_len": (int, 4), "train_examples": (int, 0),
    "heldout": (int, 2), "dev_examples": (int, 0), "batch": (int, 1), "max_steps": (int, 1),
    "eval_every": (int, 1), "patience": (int, 1), "cond_examples": (int, 1),
}


def parse_setting(key: str, raw) -> object:
    """A pipeline setting's value, type-checked and range-checked: one clear :class:`ConfigError`.

    Example:
        >>> parse_setting("body_width", "64")
        64
        >>> parse_setting("body_lr", "abc")
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: --set body_lr=abc: expected a number (float)
    """
    if key not in SETTING_RULES:
        raise ConfigError(f"--set: unknown setting {key!r}; choose from {', '.join(sorted(SETTING_RULES))}")
    kind, rule = SETTING_RULES[key]
    if kind is str and rule is None:                      # free text (a model name or path)
        if not str(raw).strip():
            raise ConfigError(f"--set {key}: empty value")
        return str(raw)
    if kind is str:
        if str(raw) not in rule:
            raise ConfigError(f"--set {key}={raw}: choose one of {', '.join(rule)}")
        return str(raw)
    try:
        value = kind(raw)
        if kind is int and float(raw) != value:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"--set {key}={raw}: expected {'an integer' if kind is int else 'a number (float)'}") \
            from None
    if value != value or value in (float("inf"), float("-inf")) or \
            (kind is float and value <= rule) or (kind is int and value < rule):
        bound = f"> {rule}" if kind is float else f">= {rule}"
        raise ConfigError(f"--set {key}={raw}: must be {bound}")
    return value


def check_settings(settings: dict) -> dict:
    """Check every known pipeline setting of ``settings`` (after overrides); returns it.

    Example:
        >>> check_settings({"body_width": 64, "image_size": 28})
        {'body_width': 64, 'image_size': 28}
        >>> check_settings({"body_width": 64, "query": 0})
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: --set query=0: must be >= 1
    """
    for k, v in settings.items():
        if k in SETTING_RULES:
            parse_setting(k, v)
    return settings


def profile_settings(profile: str, dataset: str) -> dict:
    """Settings of the shared pipeline for ``profile`` on ``dataset``.

    Example:
        >>> profile_settings("paper", "mini-imagenet")["image_size"]
        84
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if dataset in TEXT_DATASETS:
        return dict(_TEXT[profile])
    out = dict(_COMMON[profile])
    out.update(_DATASET.get(dataset, {}).get(profile, {"image_size": 84}))
    return out
