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
    """How a GLUE task's TSVs are laid out: folder, header row, the columns of the sentences and the label,
    and the label names (if the column does not hold 0/1).

    Example:
        >>> spec = TASKS["rte"]
        >>> spec.folder, spec.text_a, spec.text_b, spec.label, spec.labels["not_entailment"]
        ('RTE', 1, 2, 3, 1)
    """

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
    """One split of a GLUE task: sentences (``text_b`` is None for single-sentence tasks) and labels.

    Example:
        >>> split = TextSplit(["a", "b", "c"], None, torch.tensor([0, 1, 1]))
        >>> len(split), split.subset([2, 0]).text_a, split.subset([2, 0]).labels.tolist()
        (3, ['c', 'a'], [1, 0])
    """
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
    """``"glue-mrpc"`` -> ``"mrpc"`` (a registered GLUE task), else a KeyError naming the tasks.

    Example:
        >>> task_name("glue-mrpc"), task_name("rte")
        ('mrpc', 'rte')
        >>> task_name("glue-mnli")
        Traceback (most recent call last):
        ...
        KeyError: "unknown GLUE task 'glue-mnli'; known: glue-cola, glue-sst2, glue-mrpc, ..."
    """
    name = dataset[5:] if dataset.startswith("glue-") else dataset
    if name not in TASKS:
        raise KeyError(f"unknown GLUE task {dataset!r}; known: {', '.join('glue-' + t for t in TASKS)}")
    return name


def task_path(root, task: str, split: str) -> Path:
    """The TSV of ``split`` (``"train"`` or ``"dev"``) of ``task`` under the data root.

    Example:
        >>> task_path("/data", "sst2", "dev").as_posix()
        '/data/glue/SST-2/dev.tsv'
    """
    return Path(root) / "glue" / TASKS[task].folder / f"{split}.tsv"


def check_glue(root, task: str) -> None:
    """Raise :class:`DataMissingError` (naming the file and how to get it) unless both TSVs exist.

    Example:
        >>> check_glue(None, "mrpc")
        Traceback (most recent call last):
        ...
        benchmark.data.base.DataMissingError: glue-mrpc: data not found at $MCDI_DATA/glue/MRPC/train.tsv
        ...
    """
    for split in ("train", "dev"):
        path = task_path(root or "$MCDI_DATA", task, split)
        if root is None or not path.is_file():
            raise DataMissingError(f"glue-{task}", path, HOW)


def read_split(path: Path, spec: TaskSpec) -> TextSplit:
    """Read one TSV; a row with too few columns or an unknown label is a :class:`DataCorruptError`.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "train.tsv"
        >>> _ = path.write_text("sentence\\tlabel\\na fine film\\t1\\na dull one\\t0\\n")
        >>> split = read_split(path, TASKS["sst2"])
        >>> split.text_a, split.text_b, split.labels.tolist()
        (['a fine film', 'a dull one'], None, [1, 0])
        >>> _ = path.write_text("sentence\\tlabel\\na fine film\\t2\\n")
        >>> read_split(path, TASKS["sst2"])
        Traceback (most recent call last):
        ...
        benchmark.data.base.DataCorruptError: .../train.tsv, line 2: label 2 is not binary
    """
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
    """``{"train": TextSplit, "dev": TextSplit}`` of a GLUE task (``"mrpc"`` or ``"glue-mrpc"``).

    Example:
        >>> import tempfile
        >>> from benchmark.text.context import write_tiny_glue
        >>> root = write_tiny_glue(Path(tempfile.mkdtemp()), ["rte"], n_train=10, n_dev=4)
        >>> {split: len(s) for split, s in load_glue(root, "glue-rte").items()}
        {'train': 10, 'dev': 4}
    """
    task = task_name(task)
    check_glue(root, task)
    return {split: read_split(task_path(root, task, split), TASKS[task]) for split in ("train", "dev")}
