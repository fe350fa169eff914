"""Aggregate cell records over seeds into the paper-style tables (CSV + LaTeX).

Each (method row, dataset, way, shot) is summarised as mean +- std over its seeds
(std with ddof=1, the sample standard deviation; the papers say only "mean and
standard deviation over 5 independent repeated experiments"), with the mean
per-episode 95% CI and the mean per-sample latency, beside the paper's value
(``benchmark/paper_numbers.csv``, transcribed once from the papers).

Example:
    >>> recs = [{"cell": {"method": "m", "variant": "", "dataset": "d", "way": 5, "shot": 1, "seed": s,
    ...          "table": "t", "profile": "p", "backbone": "conv4"}, "acc": a, "ci95": 1.0, "latency_ms": 2.0}
    ...         for s, a in enumerate([90.0, 92.0])]
    >>> aggregate(records_frame(recs))[["acc_mean", "acc_std", "n_seeds"]].iloc[0].tolist()
    [91.0, 1.4142135623730951, 2.0]
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from methods import is_reference

from .atomic import write_text_atomic  # noqa: F401  (re-exported)
from .cells import load_record

PAPER_NUMBERS = Path(__file__).with_name("paper_numbers.csv")
KEYS = ["method", "dataset", "way", "shot"]


def column(dataset: str, backbone: str, by_body: bool) -> str:
    """A table column's dataset key: ``"omniglot"``, or ``"omniglot|swin"`` in a grid over bodies
    (Tables 6-7, whose columns are the bodies).

    Example:
        >>> column("omniglot", "swin", True), column("omniglot", "conv4", False)
        ('omniglot|swin', 'omniglot')
    """
    return f"{dataset}|{backbone}" if by_body else dataset


def latency_key(records: list) -> str:
    """The latency a table reports: ``latency_cpu_ms`` (the adapt's thread CPU time, immune to other
    processes on the core) when every record has it, else ``latency_ms`` (wall time) for all, so
    that one table never mixes the two.

    Example:
        >>> latency_key([{"latency_ms": 2.0, "latency_cpu_ms": 1.5}]), latency_key([{"latency_ms": 2.0}])
        ('latency_cpu_ms', 'latency_ms')
    """
    return "latency_cpu_ms" if records and all("latency_cpu_ms" in r for r in records) else "latency_ms"


def latency_note(records: list, per: str = "query sample") -> str:
    """What a table's latency column measures, for its caption: :func:`latency_key`'s measure, and
    whether the diffusion methods' generation was timed compiled (``--compile``; one table is timed
    one way, :func:`benchmark.cli.check_one_sampler_path`). ``per``: "query sample", or "task" (Table 5).

    Example:
        >>> latency_note([{"latency_ms": 2.0, "latency_cpu_ms": 1.5, "compiled_sampler": False}])
        "Latency: the adaptation's thread CPU time, per query sample."
        >>> latency_note([{"latency_ms": 2.0, "compiled_sampler": True}])
        "Latency: the adaptation's wall time, per query sample; generation compiled (--compile)."
    """
    what = "thread CPU time" if latency_key(records) == "latency_cpu_ms" else "wall time"
    compiled = bool(records) and all(r.get("compiled_sampler") for r in records)
    return f"Latency: the adaptation's {what}, per {per}" + \
        ("; generation compiled (--compile)." if compiled else ".")


def records_frame(records: list, by_body: bool = False) -> pd.DataFrame:
    """One row per cell record (``by_body``: one column per body, see :func:`column`); the
    ``latency_ms`` column holds :func:`latency_key`'s measure (named in ``df.attrs``).

    Example:
        >>> recs = [{"cell": {"method": "mc-di", "variant": "zeros", "dataset": "omniglot", "way": 5, "shot": 1,
        ...                   "seed": 0}, "acc": 96.0, "ci95": 0.5, "latency_ms": 2.0, "latency_cpu_ms": 1.5}]
        >>> df = records_frame(recs)
        >>> print(df.to_string(index=False)); df.attrs["latency"]
              method  dataset  way  shot  seed  acc  ci95  latency_ms
        mc-di[zeros] omniglot    5     1     0 96.0   0.5         1.5
        'latency_cpu_ms'
    """
    rows = []
    key = latency_key(records)
    for r in records:
        c = r["cell"]
        rows.append({"method": c["method"] + (f"[{c['variant']}]" if c.get("variant") else ""),
                     "dataset": column(c["dataset"], c.get("backbone", "conv4"), by_body), "way": int(c["way"]), "shot": int(c["shot"]), "seed": int(c["seed"]),
                     "acc": float(r["acc"]), "ci95": float(r["ci95"]), "latency_ms": float(r[key])})
    df = pd.DataFrame(rows, columns=KEYS + ["seed", "acc", "ci95", "latency_ms"])
    df.attrs["latency"] = key
    return df


def load_records(results_dir: Path | str, table: str, profile: str) -> list:
    """All JSON records under ``results/runs/<table>/<profile>/``.

    Example:
        >>> import tempfile
        >>> from benchmark.cells import Cell
        >>> results = tempfile.mkdtemp(); c = Cell("table3", "reptile", "omniglot", 5, 1, 0, "cpu")
        >>> write_text_atomic('{"cell": {"method": "reptile"}, "acc": 90.5}', c.record_path(results))
        >>> load_records(results, "table3", "cpu"), load_records(results, "table3", "paper")
        ([{'cell': {'method': 'reptile'}, 'acc': 90.5}], [])
    """
    base = Path(results_dir) / "runs" / table / profile
    return [load_record(p) for p in sorted(base.glob("*/*.json"))]


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """Mean +- std over seeds per (method, dataset, way, shot).

    Example:
        >>> recs = [{"cell": {"method": "reptile", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "acc": a, "ci95": 0.5, "latency_ms": 4.0} for s, a in enumerate([80.0, 84.0])]
        >>> print(aggregate(records_frame(recs)).to_string(index=False))
         method  dataset  way  shot  n_seeds  acc_mean  acc_std  ci95_mean  latency_ms
        reptile omniglot    5     1        2      82.0 2.828427        0.5         4.0
    """
    g = df.groupby(KEYS, sort=False)
    out = g.agg(n_seeds=("seed", "nunique"), acc_mean=("acc", "mean"), acc_std=("acc", "std"),
                ci95_mean=("ci95", "mean"), latency_ms=("latency_ms", "mean")).reset_index()
    out["acc_std"] = out["acc_std"].fillna(0.0)
    return out


def paper_numbers(table: str, source: str = "mc-di") -> pd.DataFrame:
    """The published numbers of ``table`` in ``source``'s paper, with ``paper_``-prefixed value columns.

    Example:
        >>> p = paper_numbers("table3")
        >>> print(p[(p.method == "reptile") & (p.dataset == "omniglot")].to_string(index=False))
         method  dataset  way  shot  paper_acc_mean  paper_acc_std  paper_latency_ms
        reptile omniglot    5     1           95.39           0.09              20.7
        reptile omniglot    5     5           98.90           0.10              20.7
    """
    p = pd.read_csv(PAPER_NUMBERS)
    p = p[(p["table"] == table) & (p["source"] == source)]
    return p.rename(columns={"acc_mean": "paper_acc_mean", "acc_std": "paper_acc_std",
                             "latency_ms": "paper_latency_ms"}).drop(columns=["table", "source"])


def build_table(records: list, grid: list, table: str, missing_data: dict | None = None,
                source: str = "mc-di", expected_seeds: int | None = None, by_body: bool = False) -> pd.DataFrame:
    """The table's rows: every (method row, dataset, way, shot) of ``grid`` (a list of cells),
    with ours (or a status) beside the paper's numbers (``by_body``: a column per body). A variant row
    (``reptile[pretrained]``, ``ghn3[no-ft]``) has no paper numbers: the paper printed its method once,
    and that value sits beside the method's default row.

    Example:
        >>> from benchmark.cells import Cell
        >>> recs = [{"cell": {"method": "reptile", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "acc": a, "ci95": 0.5, "latency_ms": 4.0} for s, a in enumerate([80.0, 84.0])]
        >>> grid = [Cell("table3", "reptile", d, 5, 1, s, "cpu") for d in ("omniglot", "mini-imagenet")
        ...         for s in range(2)]
        >>> df = build_table(recs, grid, "table3")
        >>> print(df[["method", "dataset", "n_seeds", "acc_mean", "paper_acc_mean", "status"]].to_string(index=False))
         method       dataset  n_seeds  acc_mean  paper_acc_mean  status
        reptile      omniglot        2      82.0           95.39      ok
        reptile mini-imagenet        0       NaN           47.07 not run
    """
    missing_data = missing_data or {}
    want = pd.DataFrame([{"method": c.row, "dataset": column(c.dataset, c.backbone, by_body), "way": c.way,
                          "shot": c.shot} for c in grid], columns=KEYS).drop_duplicates()
    seeds = expected_seeds or max(1, len({c.seed for c in grid}))
    ours = aggregate(records_frame(records, by_body))
    out = want.merge(ours, on=KEYS, how="left")
    # the paper's numbers sit beside the row the paper printed, its method's default reading; a variant row
    # (another reading, or REPTILE [pretrained], not the paper's protocol) gets none, as in REPORT.md
    out = out.merge(paper_numbers(table, source), on=KEYS, how="left")

    def status(row):
        if row["dataset"].split("|")[0] in missing_data:
            return "missing data"
        if pd.isna(row["n_seeds"]):
            return "not run"
        return "ok" if row["n_seeds"] >= seeds else f"partial ({int(row['n_seeds'])}/{seeds} seeds)"

    out["status"] = [status(row) for _, row in out.iterrows()]      # (an empty grid gives an empty column)
    out["n_seeds"] = out["n_seeds"].fillna(0).astype(int)
    return out


def _pm(mean, std, digits=2) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "--"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} $\\pm$ {std:.{digits}f}"


DISPLAY = {"reptile": "REPTILE", "meta-baseline": "Meta-Baseline", "meta-hypernetwork": "Meta-Hypernetwork",
           "ghn3": "GHN3", "ocd": "OCD", "meta-diff": "Meta-Diff", "d2nwg": "D2NWG", "mv-di": "Mv-Di",
           "mc-di": "Mc-Di", "tw-di": "Tw-Di", "lt-di": "Lt-Di", "lv-di": "Lv-Di", "icis": "ICIS",
           "llo-vae": "LLO-VAE", "ref-target-head": "ref.: target heads", "ref-centroid": "ref.: nearest centroid",
           "ref-target-lora": "ref.: target LoRA",
           "full-ft": "Full-fine-tune", "lora": "LoRA", "adalora": "AdaLoRA", "dylora": "DyLoRA",
           "fourierft": "FourierFT", "mv-di-lora": "Mv-Di", "mc-di-lora": "Mc-Di", "lt-di-lora": "Lt-Di",
           "lv-di-lora": "Lv-Di"}
DATASETS = {"omniglot": "Omniglot", "mini-imagenet": "Mini-ImageNet", "tiered-imagenet": "Tiered-ImageNet",
            "synthetic": "Synthetic", "glue-mrpc": "MRPC", "glue-qnli": "QNLI", "domainnet": "DomainNet (Sketch)",
            "md-traffic_sign": "Traffic Sign", "md-mscoco": "MSCOCO", "md-mnist": "MNIST", "md-cifar100": "CIFAR-100",
            "md-cifar10": "CIFAR-10", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "stl10": "STL-10",
            "aircraft": "Aircraft", "pets": "Pets", "imagenet": "ImageNet-1k"}


def split_row(row: str) -> tuple:
    """``"mc-di-lora[ft]"`` -> ``("mc-di-lora", "ft")``; ``"lora"`` -> ``("lora", "")``.

    Example:
        >>> split_row("mc-di-lora[ft]"), split_row("lora")
        (('mc-di-lora', 'ft'), ('lora', ''))
    """
    return tuple(row[:-1].split("[", 1)) if row.endswith("]") and "[" in row else (row, "")


def display_name(method: str, variant: str = "") -> str:
    """The papers' spelling of a row: ``display_name("reptile", "pretrained")`` -> 'REPTILE [pretrained]'.

    Example:
        >>> display_name("reptile", "pretrained"), display_name("mc-di-lora[ft]"), display_name("ref-centroid")
        ('REPTILE [pretrained]', 'Mc-Di [ft]', 'ref.: nearest centroid')
    """
    if not variant:
        method, variant = split_row(method)
    return DISPLAY.get(method, method) + (f" [{variant}]" if variant else "")


BODIES = {"swin": "Swin Transformer", "resnet18": "ResNet18", "mobilenetv2": "MobileNetV2", "conv4": "Conv4",
          "resnet12": "ResNet-12"}


def dataset_name(dataset: str) -> str:
    """Display name of a column's dataset (``"omniglot|swin"`` -> 'Omniglot: Swin Transformer').

    Example:
        >>> dataset_name("omniglot|swin"), dataset_name("mini-imagenet"), dataset_name("glue-mrpc")
        ('Omniglot: Swin Transformer', 'Mini-ImageNet', 'MRPC')
    """
    if "|" in dataset:
        d, body = dataset.split("|", 1)
        return f"{DATASETS.get(d, d)}: {BODIES.get(body, body)}"
    return DATASETS.get(dataset, dataset)


def _tex(s: str) -> str:
    return s.replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")


def to_latex(df: pd.DataFrame, caption: str, label: str, paper_block: bool = True,
             latency: str = "per-sample") -> str:
    """The paper's shape: a dataset header over (way, shot) sub-columns, display names, the best of
    our method rows (references excluded) in bold per column, a latency column, and the paper's
    values as a second block (``paper_block``). ``latency="per-task"`` (Table 5): an Acc and a
    Latency (s) column under each dataset, the fine-tuning (or generation) time of the task.

    Example:
        >>> from benchmark.cells import Cell
        >>> recs = [{"cell": {"method": "reptile", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "acc": a, "ci95": 0.5, "latency_ms": 4.0} for s, a in enumerate([80.0, 84.0])]
        >>> df = build_table(recs, [Cell("table3", "reptile", "omniglot", 5, 1, s, "cpu") for s in range(2)], "table3")
        >>> for line in to_latex(df, "Omniglot, 5-way 1-shot.", "tab:table3").splitlines():
        ...     if line.startswith(("Method", "REPTILE")):
        ...         print(line)                                      # ours in bold, then the paper's
        Method & (5,1) & Latency (ms) ...
        REPTILE & ...textbf{82.00 $...pm$ 2.83} & 4.000 ...
        REPTILE & 95.39 $...pm$ 0.09 & 20.7 ...
    """
    if latency == "per-task":
        return _latex_per_task(df, caption, label, paper_block)
    cols = list(dict.fromkeys(zip(df["dataset"], df["way"], df["shot"])))
    datasets = list(dict.fromkeys(d for d, _, _ in cols))
    methods = list(dict.fromkeys(df["method"]))
    idx = {(r.method, r.dataset, r.way, r.shot): r for r in df.itertuples()}

    def ok(r):
        return r is not None and (r.status == "ok" or r.status.startswith("partial")) and not pd.isna(r.acc_mean)

    best = {}
    for c in cols:
        vals = [(idx[(m, *c)].acc_mean, m) for m in methods
                if not is_reference(m.split("[")[0]) and ok(idx.get((m, *c)))]
        if vals:
            best[c] = max(vals)[1]
    spec = "l" + "".join("c" * sum(1 for d2, _, _ in cols if d2 == d) for d in datasets) + "c"
    head1 = " & ".join(f"\\multicolumn{{{sum(1 for d2, _, _ in cols if d2 == d)}}}{{c}}{{{dataset_name(d)}}}"
                       for d in datasets)
    rules, j = [], 2
    for d in datasets:
        n = sum(1 for d2, _, _ in cols if d2 == d)
        rules.append(f"\\cmidrule(lr){{{j}-{j + n - 1}}}")
        j += n
    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{" + spec + "}", r"\toprule",
             f" & {head1} & \\\\", " ".join(rules),
             "Method & " + " & ".join(f"({w},{s})" for _, w, s in cols) + r" & Latency (ms) \\", r"\midrule"]

    def block(value, latency):
        for m in methods:
            cells, lat = [], []
            for c in cols:
                r = idx.get((m, *c))
                text, lt = value(m, c, r)
                cells.append(text)
                if lt is not None and not pd.isna(lt):
                    lat.append(lt)
            lat_s = latency(lat)
            if any(cells) or lat_s != "--":
                lines.append(f"{_tex(display_name(m))} & " + " & ".join(cells) + f" & {lat_s} \\\\")

    def ours(m, c, r):
        if r is None:
            return "", None
        if not ok(r):
            return r"\textit{" + r.status + "}", None
        text = _pm(r.acc_mean, r.acc_std)
        return (f"\\textbf{{{text}}}" if best.get(c) == m else text), r.latency_ms

    block(ours, lambda lat: f"{sum(lat) / len(lat):.3f}" if lat else "--")
    if paper_block and df["paper_acc_mean"].notna().any():
        lines += [r"\midrule", f"\\multicolumn{{{len(cols) + 2}}}{{l}}{{\\textit{{Paper}}}} \\\\"]

        def theirs(m, c, r):
            if r is None or pd.isna(r.paper_acc_mean):
                return "", None
            return _pm(r.paper_acc_mean, r.paper_acc_std), r.paper_latency_ms

        block(theirs, lambda lat: f"{lat[0]:.1f}" if lat else "--")
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{caption}}}", f"\\label{{{label}}}",
              r"\end{table}", ""]
    return "\n".join(lines)


def _latex_per_task(df: pd.DataFrame, caption: str, label: str, paper_block: bool) -> str:
    """Table 5's shape: per dataset, accuracy and the task's latency in seconds."""
    datasets = list(dict.fromkeys(df["dataset"]))
    methods = list(dict.fromkeys(df["method"]))
    idx = {(r.method, r.dataset): r for r in df.itertuples()}
    done = [r for r in df.itertuples() if r.n_seeds > 0 and not pd.isna(r.acc_mean)]
    best = {d: max(((r.acc_mean, r.method) for r in done if r.dataset == d), default=(None, None))[1]
            for d in datasets}
    head = " & ".join(f"\\multicolumn{{2}}{{c}}{{{dataset_name(d)}}}" for d in datasets)
    rules = " ".join(f"\\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(len(datasets)))
    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{l" + "cc" * len(datasets) + "}",
             r"\toprule", f" & {head} \\\\", rules,
             "Method & " + " & ".join("Acc & Latency (s)" for _ in datasets) + r" \\", r"\midrule"]
    for m in methods:
        cells = []
        for d in datasets:
            r = idx.get((m, d))
            if r is None or r.n_seeds == 0 or pd.isna(r.acc_mean):
                cells += [r"\textit{" + (r.status if r is not None else "") + "}", ""]
                continue
            text = _pm(r.acc_mean, r.acc_std)
            cells += [f"\\textbf{{{text}}}" if best[d] == m else text, f"{r.latency_ms / 1000:.1f}"]
        lines.append(f"{_tex(display_name(m))} & " + " & ".join(cells) + r" \\")
    if paper_block and df["paper_acc_mean"].notna().any():
        lines += [r"\midrule", f"\\multicolumn{{{1 + 2 * len(datasets)}}}{{l}}{{\\textit{{Paper (latency in s)}}}} \\\\"]
        for m in methods:
            cells = []
            for d in datasets:
                r = idx.get((m, d))
                if r is None or pd.isna(r.paper_acc_mean):
                    cells += ["", ""]
                    continue
                lat = "--" if pd.isna(r.paper_latency_ms) else f"{r.paper_latency_ms / 1000:.0f}"
                cells += [_pm(r.paper_acc_mean, r.paper_acc_std), lat]
            if any(cells):
                lines.append(f"{_tex(display_name(m))} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{caption}}}", f"\\label{{{label}}}",
              r"\end{table}", ""]
    return "\n".join(lines)


def plot_table(df: pd.DataFrame, path: Path, title: str) -> Path:
    """Ours vs the paper per (row, column): bars of the mean over seeds with the std as error bars
    (ours), the paper's mean as a marker; one panel per column, at most four to a row, one legend below.

    Example:
        >>> import tempfile
        >>> from benchmark.cells import Cell
        >>> recs = [{"cell": {"method": "reptile", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "acc": a, "ci95": 0.5, "latency_ms": 4.0} for s, a in enumerate([80.0, 84.0])]
        >>> df = build_table(recs, [Cell("table3", "reptile", "omniglot", 5, 1, s, "cpu") for s in range(2)], "table3")
        >>> plot_table(df, Path(tempfile.mkdtemp()) / "table3.png", "Table 3").name
        'table3.png'
    """
    import matplotlib.pyplot as plt

    from .plots import save_figure
    d = df[df["n_seeds"] > 0]
    cols = list(dict.fromkeys(zip(d["dataset"], d["way"], d["shot"])))
    n_rows = max(1, len(dict.fromkeys(d["method"])))
    per_row = min(4, max(1, len(cols)))                 # at most 4 panels side by side: wider grids wrap
    grid_rows = max(1, math.ceil(len(cols) / per_row))
    panel_h, legend_h = 1.2 + 0.3 * n_rows, 0.35
    height = grid_rows * panel_h + legend_h
    fig, axes = plt.subplots(grid_rows, per_row, figsize=(max(7.0, 4.6 * per_row), height), squeeze=False)
    flat = list(axes.flat)
    for ax, c in zip(flat, cols):
        sub = d[(d["dataset"] == c[0]) & (d["way"] == c[1]) & (d["shot"] == c[2])]
        names = [display_name(m) for m in sub["method"]]
        y = range(len(sub))
        ax.barh(list(y), sub["acc_mean"], xerr=sub["acc_std"], color="#4c72b0", alpha=0.8, label="ours")
        ax.scatter(sub["paper_acc_mean"], list(y), color="#c44e52", marker="D", zorder=3, label="paper")
        ax.set_yticks(list(y), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("accuracy (%)")
        lows = list((sub["acc_mean"] - sub["acc_std"].fillna(0)).dropna()) + list(sub["paper_acc_mean"].dropna())
        if lows:                                    # zoom on the values: differences of a point stay visible
            ax.set_xlim(max(0.0, 5 * (min(lows) // 5) - 5), 100)
        ax.set_title(f"{dataset_name(c[0])} ({c[1]},{c[2]})", fontsize=9)
    for ax in flat[len(cols):]:
        ax.set_visible(False)
    # one legend for the figure, under the panels, where no bar can hide it
    fig.legend(*flat[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=8, frameon=False)
    import textwrap
    fig.suptitle("\n".join(textwrap.wrap(title, 90)), fontsize=9)
    fig.tight_layout(rect=(0, legend_h / height, 1, 1))
    return save_figure(fig, path)


def write_table(df: pd.DataFrame, out_stem: Path, caption: str, latency: str = "per-sample",
                note: str = "") -> tuple:
    """Write ``<stem>.csv`` and ``<stem>.tex`` (its caption followed by ``note``, e.g.
    :func:`latency_note`), and ``<stem>.png`` where any cell has records; returns the first two paths.

    Example:
        >>> import tempfile
        >>> from benchmark.cells import Cell
        >>> recs = [{"cell": {"method": "reptile", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "acc": a, "ci95": 0.5, "latency_ms": 4.0} for s, a in enumerate([80.0, 84.0])]
        >>> df = build_table(recs, [Cell("table3", "reptile", "omniglot", 5, 1, s, "cpu") for s in range(2)], "table3")
        >>> stem = Path(tempfile.mkdtemp()) / "table3"
        >>> [p.name for p in write_table(df, stem, "Table 3.", note=latency_note(recs))]
        ['table3.csv', 'table3.tex']
        >>> stem.with_suffix(".png").exists()                      # a plot too: some cell has records
        True
        >>> stem.with_suffix(".csv").read_text().splitlines()[1]
        'reptile,omniglot,5,1,2,82.0,2.8284,0.5,4.0,95.39,0.09,20.7,ok'
    """
    csv_path, tex_path = Path(f"{out_stem}.csv"), Path(f"{out_stem}.tex")
    cols = ["method", "dataset", "way", "shot", "n_seeds", "acc_mean", "acc_std", "ci95_mean", "latency_ms",
            "paper_acc_mean", "paper_acc_std", "paper_latency_ms", "status"]
    write_text_atomic(df[cols].round(4).to_csv(index=False), csv_path)
    write_text_atomic(to_latex(df, f"{caption} {note}".strip(), f"tab:{Path(out_stem).name}", latency=latency),
                      tex_path)
    if (df["n_seeds"] > 0).any():
        plot_table(df, Path(f"{out_stem}.png"), caption.replace("\\%", "%"))
    return csv_path, tex_path
