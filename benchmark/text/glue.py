"""GLUE tasks read from the standard GLUE TSVs (``<root>/glue/<TASK>/{train,dev}.tsv``, as the
GLUE download script lays them out): sentence (pair) and binary label per example.

Labels follow the Hugging Face ``glue`` convention (RTE, QNLI: ``entailment`` = 0,
``not_entailment`` = 1; MRPC: 1 = paraphrase; QQP: 1 = duplicate; CoLA: 1 = acceptable;
SST-2: 1 = positive; WNLI: 1 = entailment).

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "glue" / "WNLI").mkdir(parents=True)
    >>> rows = "index\\tsentence1\\tsentence2\\tlabel\\n0\\tA cat sat.\\tA cat.\\t1\\n1\\tB.\\tC.\\t0\\n"
    >>> for split in ("train", "dev"): _ = (root / "glue" / "WNLI" / f"{split}.tsv").write_text(rows)
    >>> ds = load_glue(root, "wnli")
    >>> ds["train"].labels.tolist(), ds["dev"].text_b[0]
    ([1, 0], 'A cat.')
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.base import DataCorruptError, DataMissingError

HOW = ("download GLUE (e.g. the GLUE-baselines script: python download_glue_data.py --data_dir <root>/glue "
       "--tasks all) so that <root>/glue/<TASK>/train.tsv and dev.tsv exist")


@dataclass(frozen=True)
class TaskSpec:
    folder: str
    header: bool
    text_a: int                     # column of the first sentence
    text_b: int | None              # column of the second sentence (pairs) or None
    label: int                      # column of the label
    labels: dict | None = None      # label text -> id (None: the column holds 0/1)
    columns: int = 0                # expected number of columns (0: any >= the ones used)


TASKS = {
    "cola": TaskSpec("CoLA", False, 3, None, 1, columns=4),
    "sst2": TaskSpec("SST-2", True, 0, None, 1, columns=2),
    "mrpc": TaskSpec("MRPC", True, 3, 4, 0, columns=5),
    "qqp": TaskSpec("QQP", True, 3, 4, 5, columns=6),
    "rte": TaskSpec("RTE", True, 1, 2, 3, {"entailment": 0, "not_entailment": 1}, columns=4),
    "qnli": TaskSpec("QNLI", True, 1, 2, 3, {"entailment": 0, "not_entailment": 1}, columns=4),
    "wnli": TaskSpec("WNLI", True, 1, 2, 3, columns=4),
}


@dataclass
class TextSplit:
    """One split of a GLUE task: sentences (``text_b`` is None for single-sentence tasks) and labels."""
    text_a: list
    text_b: list | None
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx) -> "TextSplit":
        idx = [int(i) for i in idx]
        return TextSplit([self.text_a[i] for i in idx], None if self.text_b is None else [self.text_b[i] for i in idx],
                         self.labels[idx])


def task_name(dataset: str) -> str:
    """``"glue-mrpc"`` -> ``"mrpc"`` (a registered GLUE task), else a KeyError naming the tasks."""
    name = dataset[5:] if dataset.startswith("glue-") else dataset
    if name not in TASKS:
        raise KeyError(f"unknown GLUE task {dataset!r}; known: {', '.join('glue-' + t for t in TASKS)}")
    return name


def task_path(root, task: str, split: str) -> Path:
    return Path(root) / "glue" / TASKS[task].folder / f"{split}.tsv"


def check_glue(root, task: str) -> None:
    """Raise :class:`DataMissingError` (naming the file and how to get it) unless both TSVs exist."""
    for split in ("train", "dev"):
        path = task_path(root or "$MCDI_DATA", task, split)
        if root is None or not path.is_file():
            raise DataMissingError(f"glue-{task}", path, HOW)


def read_split(path: Path, spec: TaskSpec) -> TextSplit:
    """Read one TSV; a row with too few columns or an unknown label is a :class:`DataCorruptError`."""
    a, b, y = [], [] if spec.text_b is not None else None, []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        for n, row in enumerate(reader):
            if n == 0 and spec.header:
                continue
            if not row or row == [""]:
                continue
            need = max(spec.text_a, spec.label, spec.text_b or 0) + 1
            if len(row) < need or (spec.columns and len(row) != spec.columns):
                raise DataCorruptError(f"{path}, line {n + 1}: {len(row)} columns, expected "
                                       f"{spec.columns or need} (a GLUE {spec.folder} TSV)")
            raw = row[spec.label].strip()
            try:
                label = spec.labels[raw] if spec.labels else int(raw)
            except (KeyError, ValueError):
                raise DataCorruptError(f"{path}, line {n + 1}: label {raw!r} is not one of "
                                       f"{sorted(spec.labels) if spec.labels else [0, 1]}") from None
            if label not in (0, 1):
                raise DataCorruptError(f"{path}, line {n + 1}: label {label} is not binary")
            a.append(row[spec.text_a])
            if b is not None:
                b.append(row[spec.text_b])
            y.append(label)
    if not y:
        raise DataCorruptError(f"{path}: no examples")
    return TextSplit(a, b, torch.tensor(y))


def load_glue(root, task: str) -> dict:
    """``{"train": TextSplit, "dev": TextSplit}`` of a GLUE task (``"mrpc"`` or ``"glue-mrpc"``)."""
    task = task_name(task)
    check_glue(root, task)
    return {split: read_split(task_path(root, task, split), TASKS[task]) for split in ("train", "dev")}
