"""What a Table 5 method sees of a cell: the evaluation task (its training subset, the held-out
slice that decides convergence, the GLUE dev set), the frozen encoder, the settings, the seed.

:meth:`TextContext.evaluate` is the evaluation of a text cell: ``method.adapt(task)`` (fine-tuning
to convergence, or generation) is timed from the raw tokens - the frozen bottom's forward over the
task's examples included - and the adapted model is scored on the dev set.

Example:
    >>> from benchmark.cells import Cell
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp()); _ = write_tiny_glue(root, ["mrpc"])
    >>> ctx = TextContext.build(Cell("t", "lora", "glue-mrpc", 2, 0, 0, "smoke"), root, None)
    >>> len(ctx.task().train) + len(ctx.task().heldout) <= ctx.settings["train_examples"]
    True
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from ..cells import Cell
from ..config import ConfigError, check_settings, profile_settings
from ..context import CellFields
from ..seeding import derive_seed
from .encoder import load_encoder
from .finetune import Batches
from .glue import TASKS, TextSplit, load_glue, task_name


@dataclass
class TextTask:
    """A task's data as tokens; :meth:`batches` runs the frozen bottom on them (memoised).

    Example:
        >>> from benchmark.text.encoder import load_encoder
        >>> split = TextSplit(["a good film", "a bad film"], None, torch.tensor([1, 0]))
        >>> task = TextTask("glue-sst2", load_encoder("tiny", top_layers=1), 8, {"train": split})
        >>> task.batches("train").x.shape                       # the frozen bottom's hidden states
        torch.Size([2, 8, 32])
        >>> task.batches("train") is task.batches("train"), task.train is split
        (True, True)
    """
    name: str
    encoder: object
    max_len: int
    splits: dict                            # name -> TextSplit
    _hidden: dict = field(default_factory=dict)

    def batches(self, split: str) -> Batches:
        if split not in self._hidden:
            s = self.splits[split]
            tokens = self.encoder.tokenize(s.text_a, s.text_b, self.max_len)
            self._hidden[split] = Batches(self.encoder.bottom(tokens), tokens["attention_mask"], s.labels)
        return self._hidden[split]

    @property
    def train(self) -> TextSplit:
        return self.splits["train"]

    @property
    def heldout(self) -> TextSplit:
        return self.splits["heldout"]

    def forget(self, keep: tuple = ()) -> None:
        """Drop the computed hidden states but those of ``keep`` (so a timed run computes them again)."""
        for split in [s for s in self._hidden if s not in keep]:
            del self._hidden[split]


def balanced_subset(labels: torch.Tensor, per_class: int, g: torch.Generator) -> torch.Tensor:
    """``per_class`` random indices of each label (fewer if a class has fewer), in random order.

    Example:
        >>> labels = torch.tensor([0, 0, 0, 1, 1, 1, 1])
        >>> idx = balanced_subset(labels, 2, torch.Generator().manual_seed(0))
        >>> sorted(labels[idx].tolist()), len(balanced_subset(labels, 5, torch.Generator().manual_seed(0)))
        ([0, 0, 1, 1], 7)
    """
    idx = []
    for c in labels.unique().tolist():
        pool = (labels == c).nonzero().flatten()
        idx.append(pool[torch.randperm(len(pool), generator=g)[:per_class]])
    idx = torch.cat(idx)
    return idx[torch.randperm(len(idx), generator=g)]


@dataclass
class TextContext(CellFields):
    """What a Table 5 method sees of a text cell (module docstring); made by :meth:`TextContext.build`.

    Example:
        >>> from benchmark.cells import Cell
        >>> ctx = TextContext.build(Cell("t", "lora", "glue-mrpc", 2, 0, 0, "smoke"), None, None)
        >>> ctx.way, ctx.settings["model"], ctx.settings["max_len"]
        (2, 'tiny', 16)
        >>> TextContext.build(Cell("t", "lora", "glue-mrpc", 5, 0, 0, "smoke"), None, None)
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: t/smoke/lora/glue-mrpc (5,0) seed 0: GLUE tasks of Table 5 are binary (way 2), ...
    """

    cell: Cell
    settings: dict
    device: torch.device
    cache_dir: Path | None
    data_root: Path | None
    progress: bool = False
    store: object = None

    @classmethod
    def build(cls, cell: Cell, data_root, cache_dir, device="cpu", progress=False, dataset=None) -> "TextContext":
        settings = profile_settings(cell.profile, cell.dataset)
        settings.update(cell.settings_overrides())
        check_settings(settings)
        if cell.way != 2:
            raise ConfigError(f"{cell}: GLUE tasks of Table 5 are binary (way 2), not {cell.way}-way")
        return cls(cell, settings, torch.device(device), Path(cache_dir) if cache_dir else None,
                   Path(data_root) if data_root else None, progress)

    @cached_property
    def encoder(self):
        return load_encoder(self.settings["model"], self.settings["top_layers"], seed=0)

    def glue(self, task: str) -> dict:
        return load_glue(self.data_root, task)

    def source_task(self, task: str, per_class: int, tasks: int, tag: str) -> list:
        """``tasks`` labelled subsets (``per_class`` examples of each label) of a training dataset."""
        split = self.glue(task)["train"]
        g = torch.Generator().manual_seed(derive_seed(self.seed, tag, task))
        out = []
        for _ in range(tasks):
            idx = balanced_subset(split.labels, per_class, g)
            out.append(TextTask(f"glue-{task}", self.encoder, self.settings["max_len"], {"train": split.subset(idx)}))
        return out

    def task(self) -> TextTask:
        """The cell's evaluation task: ``train_examples`` of its training set (seeded), the last
        ``heldout`` of them held out for convergence, ``cond`` = ``cond_examples`` per class of the
        training part (a generator's conditioning), and ``dev_examples`` of the dev set."""
        if getattr(self, "_task", None) is not None:
            return self._task
        s, name = self.settings, task_name(self.cell.dataset)
        data = self.glue(name)
        g = torch.Generator().manual_seed(derive_seed(self.seed, "glue-subset", name))
        n_train = len(data["train"])
        idx = torch.randperm(n_train, generator=g)[: s["train_examples"] or n_train]
        if len(idx) <= s["heldout"] + 2:
            raise ConfigError(f"{self.cell.dataset}: train_examples={len(idx)} leaves nothing to train on after "
                              f"heldout={s['heldout']}")
        train, held = data["train"].subset(idx[s["heldout"]:]), data["train"].subset(idx[: s["heldout"]])
        cond = train.subset(balanced_subset(train.labels, s["cond_examples"], g))
        dev = data["dev"]
        if s["dev_examples"] and s["dev_examples"] < len(dev):    # a fixed slice: the same for every seed
            dev = dev.subset(torch.randperm(len(dev), generator=torch.Generator().manual_seed(0))[: s["dev_examples"]])
        self._task = TextTask(self.cell.dataset, self.encoder, s["max_len"],
                              {"train": train, "heldout": held, "cond": cond, "dev": dev})
        return self._task

    def evaluate(self, method) -> dict:
        """Adapt (timed from tokens) and score on the dev set; the record's metrics."""
        from ..evaluate_core import mean_ci, thread_time_measures
        task = self.task()
        dev = task.batches("dev")                        # not timed: the evaluation's own input
        task.forget(keep=("dev",))
        t0, c0 = time.perf_counter(), time.thread_time()
        adapted, info = method.adapt(task)
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
        latency_s = wall - info.get("after_best_s", 0.0)  # time to the kept state (patience not counted)
        # the same in this thread's CPU time (one thread a cell), immune to other processes on the core
        cpu_latency = {"latency_cpu_ms": round(1000 * (cpu - info.get("after_best_cpu_s", 0.0)), 2)} \
            if thread_time_measures(self.device) else {}
        logits = method.predict(adapted, dev)
        correct = (logits.argmax(-1) == dev.y).float()
        acc, ci = mean_ci(correct)
        return {"acc": acc, "ci95": ci, "episodes": 1, "dev_examples": len(dev),
                "example_correct": [int(c) for c in correct.tolist()],
                "latency_s": round(latency_s, 4), "latency_ms": round(1000 * latency_s, 2),
                "adapt_wall_s": round(wall, 4), **cpu_latency,
                "adapt": {k: v for k, v in info.items() if k != "snapshots"}}


def write_tiny_glue(root: Path, tasks, n_train: int = 80, n_dev: int = 24) -> Path:
    """Write tiny GLUE TSVs in the official layout (for tests and doctests): learnable labels
    (label 1 iff the first word is "good").

    Example:
        >>> import tempfile
        >>> root = write_tiny_glue(Path(tempfile.mkdtemp()), ["sst2", "mrpc"], n_train=6, n_dev=4)
        >>> sorted(p.relative_to(root).as_posix() for p in root.glob("glue/*/*.tsv"))
        ['glue/MRPC/dev.tsv', 'glue/MRPC/train.tsv', 'glue/SST-2/dev.tsv', 'glue/SST-2/train.tsv']
        >>> train = load_glue(root, "sst2")["train"]
        >>> train.labels.tolist(), [t.split()[0] for t in train.text_a]
        ([0, 1, 0, 1, 0, 1], ['bad', 'good', 'bad', 'good', 'bad', 'good'])
    """
    import random
    rnd = random.Random(0)
    words = "good bad cat dog runs sleeps the a big small red blue".split()
    for task in tasks:
        spec = TASKS[task]
        folder = Path(root) / "glue" / spec.folder
        folder.mkdir(parents=True, exist_ok=True)
        inv = {v: k for k, v in (spec.labels or {}).items()}
        for split, n in (("train", n_train), ("dev", n_dev)):
            lines = ["\t".join(f"c{i}" for i in range(spec.columns))] if spec.header else []
            for i in range(n):
                y = i % 2
                first = "good" if y else "bad"
                row = [str(i)] * spec.columns
                row[spec.text_a] = " ".join([first] + rnd.choices(words, k=5))
                if spec.text_b is not None:
                    row[spec.text_b] = " ".join(rnd.choices(words, k=4))
                row[spec.label] = inv.get(y, str(y))
                lines.append("\t".join(row))
            (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return Path(root)
