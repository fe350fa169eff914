"""The figures of both papers as grids of cells (issue 10): each point is a cell with a record, so a
figure is resumable, SLURM-able and seeded like a table. A ``reproduce/figureN.py`` declares its grid
with :func:`figure_row` and calls :func:`figure_main`, which runs the cells (``grid_main``: the
cells' accuracy table goes to ``results/<figure>_cells.csv``) and then draws the figure from the
records alone: ``results/<figure>.csv`` (the plotted numbers) and ``results/<figure>.png``.

What the figures read from a record (written by the runner when the cell's settings ask for it,
:data:`FIGURE_SETTINGS`):

- ``acc``: test accuracy (Figures 8-9);
- ``mse``: reconstruction MSE of the generated heads to the theta_M that Algorithm 1 reaches on the
  same test support sets, and ``mse_by_steps``: the same with the chain run on fewer steps
  (Figures 4 and 6);
- ``selection.trace``: the training curve - CPU seconds spent, validation accuracy and validation
  MSE at each checkpoint (Figures 6 and 7).

Example:
    >>> figure_row("mc-di", segments=3, steps=20)[0]          # the defaults: no option in the label
    'fig'
    >>> figure_row("mc-di", segments=2, steps=20)[:2]
    ('fig,segments=2', 'mc-di')
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import write_text_atomic
from .claims import fmt_diff, paired_difference, verdict
from .tables import dataset_name, display_name, load_records

# every figure cell: the MSE on 100 episodes (validation curve and test) and 10 curve checkpoints. The
# same settings for every figure, so a cell two figures share (Mc-Di at k = 3, T = 20) is computed once.
FIGURE_SETTINGS = {"mse_episodes": 100, "val_checkpoints": 10}


def figure_row(method: str, **opts) -> tuple:
    """``(label, method, options)`` of a figure's row: ``opts`` that differ from the method's defaults
    name the row (``fig,segments=2``), and every row carries :data:`FIGURE_SETTINGS`.

    Example:
        >>> figure_row("mc-di", segments=2, steps=20)                 # T = 20 is the default: not in the label
        ('fig,segments=2', 'mc-di', {'segments': 2, 'mse_episodes': 100, 'val_checkpoints': 10})
    """
    from methods import get_method
    defaults = get_method(method).DEFAULTS["cpu"]
    changed = {k: v for k, v in sorted(opts.items()) if defaults.get(k) != v}
    label = ",".join(["fig"] + [f"{k}={v}" for k, v in changed.items()])
    return label, method, {**changed, **FIGURE_SETTINGS}


# -- the records as frames ---------------------------------------------------------------------------
CELL_COLUMNS = ["method", "variant", "dataset", "way", "shot", "seed", "k", "T", "sam", "augment", "acc", "mse",
                "train_cpu_s", "meta_cpu_s", "prep_cpu_s"]


def cell_frame(records: list) -> pd.DataFrame:
    """One row per record: the cell, k, T, SAM/augmentation, accuracy, MSE, compute spent.

    Example:
        >>> recs = [{"cell": {"method": "mc-di", "dataset": "omniglot", "way": 5, "shot": 1, "seed": 0},
        ...          "hparams": {"segments": 3, "steps": 20}, "acc": 91.5, "mse": 0.02,
        ...          "selection": {"trace": [{"it": 0, "cpu_s": 1.0, "val_acc": 60.0},
        ...                                  {"it": 50, "cpu_s": 31.0, "val_acc": 90.0}]},
        ...          "readings": {"preparation": {"cpu_s": 12.0}}}]
        >>> print(cell_frame(recs)[["k", "T", "acc", "mse", "meta_cpu_s", "train_cpu_s"]].to_string(index=False))
         k  T  acc  mse  meta_cpu_s  train_cpu_s
         3 20 91.5 0.02        30.0         42.0
    """
    rows = []
    for r in records:
        c, hp = r["cell"], r.get("hparams", {})
        trace = (r.get("selection") or {}).get("trace") or []
        prep = (r.get("readings") or {}).get("preparation") or {}
        rows.append({"method": c["method"], "variant": c.get("variant") or "", "dataset": c["dataset"],
                     "way": c["way"], "shot": c["shot"], "seed": c["seed"], "k": hp.get("segments"),
                     "T": hp.get("steps"), "sam": hp.get("sam"), "augment": hp.get("augment"),
                     "acc": r["acc"], "mse": r.get("mse", math.nan),
                     # compute: Algorithm 1 (as measured when prepared) + meta-training (see trace_frame)
                     "train_cpu_s": prep.get("cpu_s", 0.0) + trace[-1]["cpu_s"] - trace[0]["cpu_s"] if trace
                     else math.nan,
                     "meta_cpu_s": trace[-1]["cpu_s"] - trace[0]["cpu_s"] if trace else math.nan,
                     "prep_cpu_s": prep.get("cpu_s", math.nan)})
    return pd.DataFrame(rows, columns=CELL_COLUMNS)        # the columns even without records (no KeyError)


def trace_frame(records: list) -> pd.DataFrame:
    """One row per (record, curve checkpoint): iteration, CPU seconds, validation accuracy and MSE.

    Example:
        >>> recs = [{"cell": {"method": "mc-di", "dataset": "omniglot", "way": 5, "shot": 1, "seed": 0}, "acc": 91.5,
        ...          "selection": {"trace": [{"it": 0, "cpu_s": 1.0, "val_acc": 60.0},
        ...                                  {"it": 50, "cpu_s": 31.0, "val_acc": 90.0}]},
        ...          "readings": {"preparation": {"cpu_s": 12.0}}}]
        >>> print(trace_frame(recs)[["it", "cpu_s", "val_acc", "val_mse"]].to_string(index=False))   # 12 s preparing
         it  cpu_s  val_acc  val_mse
          0   12.0     60.0      NaN
         50   42.0     90.0      NaN
    """
    rows = []
    for r in records:
        c = r["cell"]
        trace = (r.get("selection") or {}).get("trace") or []
        # compute axis: Algorithm 1's CPU seconds (measured by the run that prepared the heads; a cell that
        # found them cached did not spend them again) + the meta-training's since its first checkpoint
        prep = ((r.get("readings") or {}).get("preparation") or {}).get("cpu_s", 0.0)
        for p in trace:
            rows.append({"method": c["method"], "variant": c.get("variant") or "", "dataset": c["dataset"],
                         "shot": c["shot"], "seed": c["seed"], "it": p["it"],
                         "cpu_s": prep + p["cpu_s"] - trace[0]["cpu_s"],
                         "val_acc": p["val_acc"], "val_mse": p.get("val_mse", math.nan)})
    return pd.DataFrame(rows, columns=["method", "variant", "dataset", "shot", "seed", "it", "cpu_s", "val_acc",
                                       "val_mse"])


def steps_frame(records: list) -> pd.DataFrame:
    """One row per (record, inference steps S): test MSE of the chain run on S of its T steps.

    Example:
        >>> recs = [{"cell": {"method": "mc-di", "dataset": "omniglot", "way": 5, "shot": 1, "seed": 0},
        ...          "hparams": {"steps": 20}, "acc": 91.5, "mse": 0.02, "mse_by_steps": {"5": 0.05}}]
        >>> print(steps_frame(recs)[["steps", "mse"]].to_string(index=False))
         steps  mse
             5 0.05
            20 0.02
    """
    rows = []
    for r in records:
        c, T = r["cell"], r.get("hparams", {}).get("steps")
        if "mse" not in r:
            continue
        pts = {int(s): v for s, v in (r.get("mse_by_steps") or {}).items()} | {int(T): r["mse"]}
        for s, v in sorted(pts.items()):
            rows.append({"method": c["method"], "variant": c.get("variant") or "", "dataset": c["dataset"],
                         "shot": c["shot"], "seed": c["seed"], "steps": s, "mse": v})
    return pd.DataFrame(rows, columns=["method", "variant", "dataset", "shot", "seed", "steps", "mse"])


def mean_std(df: pd.DataFrame, by: list, value: str) -> pd.DataFrame:
    """Mean, std and seed count of ``value`` per ``by``.

    Example:
        >>> df = pd.DataFrame({"k": [1, 1, 3, 3], "seed": [0, 1, 0, 1], "acc": [90.0, 92.0, 93.0, 93.0]})
        >>> print(mean_std(df, ["k"], "acc").to_string(index=False))
         k  acc_mean  acc_std  acc_min  acc_max  n_seeds
         1      91.0 1.414214     90.0     92.0        2
         3      93.0 0.000000     93.0     93.0        2
    """
    g = df.groupby(by, sort=True)[value]
    out = g.agg(["mean", "std", "min", "max", "count"]).reset_index()
    return out.rename(columns={"mean": f"{value}_mean", "std": f"{value}_std", "min": f"{value}_min",
                               "max": f"{value}_max", "count": "n_seeds"})


# -- plots ---------------------------------------------------------------------------------------------
def _suptitle(fig, text: str, width_in: float) -> None:
    import textwrap
    fig.suptitle(textwrap.fill(text, max(40, int(width_in * 13))), fontsize=10)


def _axes(n: int, width: float = 5.0, height: float = 4.0):
    import matplotlib.pyplot as plt
    import seaborn as sns
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, list(axes[0])


def _cell_label(mean: float, std: float, n: float, n_full: int) -> str:
    """A heatmap cell's text: mean ± std, or with fewer seeds than the grid's others the seed count
    (a single seed has no std: ``93.1 (1 seed)``, never a made-up ``±0.0``).

    Example: ``_cell_label(91.9, float("nan"), 1, 5)`` -> ``"91.9\n(1 seed)"``
    """
    mean, std, n = float(mean), float(std), float(n)  # plain floats: no numpy NaN-comparison warnings
    if math.isnan(mean):
        return ""
    if math.isnan(n) or n < 2:
        return f"{mean:.1f}\n(1 seed)"
    text = f"{mean:.1f}\n±{std:.1f}"
    return text if n >= n_full else f"{text}\n({int(n)} seeds)"


def heatmap_kT(df: pd.DataFrame, path: Path, title: str, default=(3, 20)) -> Path:
    """Figures 8-9: mean accuracy over seeds on a k x T grid, one panel per dataset, each cell
    printed as mean ± std; the default (k, T) is outlined.

    Example:
        >>> import tempfile
        >>> recs = [{"cell": {"method": "mc-di", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "hparams": {"segments": k, "steps": T}, "acc": 90.0 + k + 0.5 * s}
        ...         for k in (1, 3) for T in (10, 20) for s in (0, 1)]
        >>> heatmap_kT(cell_frame(recs), Path(tempfile.mkdtemp()) / "kT.png", "k x T").name
        'kT.png'
    """
    import seaborn as sns
    from matplotlib.patches import Rectangle
    from .plots import save_figure
    agg = mean_std(df, ["dataset", "k", "T"], "acc")
    datasets = list(dict.fromkeys(agg["dataset"]))
    fig, axes = _axes(len(datasets), 5.5, 4.2)
    for ax, d in zip(axes, datasets):
        a = agg[agg["dataset"] == d]
        mean = a.pivot(index="k", columns="T", values="acc_mean")
        std = a.pivot(index="k", columns="T", values="acc_std").reindex_like(mean)
        n = a.pivot(index="k", columns="T", values="n_seeds").reindex_like(mean)
        labels = np.vectorize(_cell_label)(mean, std, n, agg["n_seeds"].max())
        sns.heatmap(mean, annot=labels, fmt="", cmap="viridis", ax=ax, cbar_kws={"label": "accuracy (%)"})
        if default[0] in mean.index and default[1] in mean.columns:
            ax.add_patch(Rectangle((list(mean.columns).index(default[1]), list(mean.index).index(default[0])),
                                   1, 1, fill=False, edgecolor="red", lw=2))
        ax.set_xlabel("diffusion steps T")
        ax.set_ylabel("segment number k")
        ax.set_title(f"{dataset_name(d)} 5-way 1-shot (red: default k={default[0]}, T={default[1]})", fontsize=9)
    _suptitle(fig, title, 5.5 * len(datasets))
    fig.tight_layout()
    return save_figure(fig, path)


def _band(ax, a: pd.DataFrame, x: str, y: str, label: str, log: bool = False, marker="o"):
    """The mean over seeds of ``y`` against ``x``, with a band: ± one std, or on a log axis (where
    mean - std can fall below 0) the seeds' min-max range."""
    mean = np.asarray(a[f"{y}_mean"], dtype=float)
    if log:
        lo, hi = np.asarray(a[f"{y}_min"], dtype=float), np.asarray(a[f"{y}_max"], dtype=float)
    else:
        std = np.nan_to_num(np.asarray(a[f"{y}_std"], dtype=float))
        lo, hi = mean - std, mean + std
    ax.plot(a[x], mean, marker=marker, label=label)
    ax.fill_between(a[x], lo, hi, alpha=0.2)


def _whole_ticks(ax, values) -> None:
    """A few whole-number settings on the x axis (k, T, steps, shots): a tick at each, not at 2.5, 7.5."""
    xs = sorted(set(values))
    if len(xs) <= 12 and all(float(v).is_integer() for v in xs):
        ax.set_xticks(xs)


def lines_by(df: pd.DataFrame, x: str, y: str, series: str, panel: str, path: Path, title: str,
             xlabel: str, ylabel: str, mark_x=None, logy: bool = False, order=None) -> Path:
    """One panel per value of ``panel``, one line (mean ± std band over seeds) per ``series`` (in
    ``order`` when given).

    Example:
        >>> import tempfile
        >>> df = pd.DataFrame({"k": [1, 3, 1, 3], "mse_mean": [0.04, 0.02, 0.05, 0.03], "mse_std": 0.005,
        ...                    "series": ["Omniglot"] * 2 + ["mini-ImageNet"] * 2, "panel": "5-way 1-shot"})
        >>> lines_by(df, "k", "mse", "series", "panel", Path(tempfile.mkdtemp()) / "mse_k.png", "MSE vs k",
        ...          "segment number k", "MSE", mark_x=3).name
        'mse_k.png'
    """
    from .plots import save_figure
    panels = list(dict.fromkeys(df[panel]))
    fig, axes = _axes(len(panels))
    for ax, p in zip(axes, panels):
        sub = df[df[panel] == p]
        for s in [o for o in order if o in set(sub[series])] if order else dict.fromkeys(sub[series]):
            a = sub[sub[series] == s].sort_values(x)
            _band(ax, a, x, y, str(s), log=logy)
        if mark_x is not None:
            ax.axvline(mark_x, color="red", ls="--", lw=1, label=f"default ({mark_x})")
        if logy:
            ax.set_yscale("log")
        _whole_ticks(ax, sub[x])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(str(p), fontsize=9)
        ax.legend(fontsize=8)
    _suptitle(fig, title, 5.0 * len(panels))
    fig.tight_layout()
    return save_figure(fig, path)


def trace_means(tr: pd.DataFrame, by: list, y: str) -> pd.DataFrame:
    """Curve points averaged over seeds at each checkpoint: mean CPU seconds, mean ± std of ``y``.

    Example:
        >>> tr = pd.DataFrame({"method": "mc-di", "seed": [0, 1, 0, 1], "it": [0, 0, 50, 50],
        ...                    "cpu_s": [0.0, 0.0, 30.0, 34.0], "val_acc": [60.0, 62.0, 90.0, 88.0]})
        >>> means = trace_means(tr, ["method"], "val_acc")
        >>> print(means[["it", "cpu_s", "val_acc_mean", "n_seeds"]].to_string(index=False))
         it  cpu_s  val_acc_mean  n_seeds
          0    0.0          61.0        2
         50   32.0          89.0        2
    """
    g = tr.groupby(by + ["it"], sort=True)
    out = g.agg(cpu_s=("cpu_s", "mean"), **{f"{y}_mean": (y, "mean"), f"{y}_std": (y, "std"),
                                            f"{y}_min": (y, "min"), f"{y}_max": (y, "max")},
                n_seeds=("seed", "nunique")).reset_index()
    return out


# -- claims (for results/REPORT.md) -------------------------------------------------------------------
def per_seed(df: pd.DataFrame, value: str, **where) -> dict:
    """``{seed: value}`` of the records matching ``where`` (column == value).

    Example:
        >>> df = pd.DataFrame({"k": [1, 1, 3, 3], "seed": [0, 1, 0, 1], "acc": [90.0, 92.0, 93.0, 93.5]})
        >>> per_seed(df, "acc", k=3)
        {0: 93.0, 1: 93.5}
    """
    sub = df
    for k, v in where.items():
        sub = sub[sub[k] == v]
    return {int(s): float(x) for s, x in zip(sub["seed"], sub[value]) if x == x}


def claim_line(claim: str, column: str, a: dict, b: dict, what: str, digits: int = 2) -> str:
    """A markdown row: the claim "A > B" (``a``, ``b``: seed -> value), paired over seeds, the
    difference printed with ``digits`` decimals (MSEs of ~0.02 need more than accuracies).

    Example:
        >>> claim_line("more segments improve", "Omniglot", {0: 93.0, 1: 93.5, 2: 92.5}, {0: 91.0, 1: 92.0, 2: 90.0},
        ...            "k=3 - k=1")
        '| more segments improve | Omniglot | k=3 - k=1 | 3 | +2.00 [+0.76, +3.24] | reproduced |'
        >>> claim_line("SAM improves accuracy", "Omniglot", {}, {0: 91.0}, "SAM - none")
        '| SAM improves accuracy | Omniglot | SAM - none | 0 | -- | no paired seeds yet |'
    """
    d = paired_difference(a, b)
    if d["n_seeds"] == 0:                      # one side has no records yet: nothing to judge
        return f"| {claim} | {column} | {what} | 0 | -- | no paired seeds yet |"
    if digits == 2 or d["n_seeds"] < 2:
        diff = fmt_diff(d)
    else:
        diff = f"{d['mean']:+.{digits}f} [{d['lo']:+.{digits}f}, {d['hi']:+.{digits}f}]"
    return f"| {claim} | {column} | {what} | {d['n_seeds']} | {diff} | {verdict(d, 0.0)} |"


CLAIM_HEADER = ["| claim | column | A - B | seeds | difference (95% CI) | verdict |", "|---|---|---|---|---|---|"]


def figure_section(name: str, records: list, spec) -> list:
    """The report's section of one figure: what the paper claims, what the records show.

    Example:
        >>> recs = [{"cell": {"method": "mc-di", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "hparams": {"segments": k, "steps": 20}, "acc": 90.0, "mse": 0.01 * (4 - k) + 0.001 * s}
        ...         for k in (1, 2, 3) for s in (0, 1)]
        >>> lines = figure_section("figure4", recs, FIGURES["figure4"])
        >>> for line in lines[:2] + lines[4:7]:
        ...     print(line)
        ## figure4: Mc-Di Figure 4: segment number k vs reconstruction MSE
        <BLANKLINE>
        | claim | column | A - B | seeds | difference (95% CI) | verdict |
        |---|---|---|---|---|---|
        | k > 1 lowers the MSE (k = 1 minus k = 3) | Omniglot (5,1) | ... | reproduced |
    """
    lines = [f"## {name}: {spec.title}", "", f"The paper: {spec.claim}", ""]
    body = spec.claims(records)
    lines += (CLAIM_HEADER + body) if body else ["(not enough records for a paired comparison yet)"]
    return lines + ["", "Verdicts: reproduced = the seed-paired 95% interval of A - B lies above 0; not reproduced ="
                    " it lies below 0; inconclusive otherwise.", ""]


def figure_main(grid, draw, argv=None) -> int:
    """Run a figure's cells (the table CLI, every option of ``grid_main``), then draw it from the records:
    ``draw(records, stem)`` writes ``<stem>.csv`` and ``<stem>.png``.

    Example:
        >>> import tempfile
        >>> from benchmark.cli import Grid
        >>> grid = Grid("demo_fig", methods=["mc-di"], datasets=["synthetic"], settings=[(5, 1)], seeds=(0,))
        >>> figure_main(grid, FIGURES["figure4"].draw, ["--status", "--results", tempfile.mkdtemp()])   # nothing run
        not: 1
          not submitted               demo_fig/cpu/mc-di/synthetic (5,1) seed 0
        0
    """
    import sys
    from dataclasses import replace
    from .cli import grid_main, parser, table_stem
    cells_grid = replace(grid, out_name=f"{grid.out_name or grid.table}_cells")
    code = grid_main(cells_grid, argv)
    args = parser(grid).parse_args(argv)
    if code != 0 or args.status:
        return code
    records = load_records(args.results, grid.table, args.profile)
    if not records:
        print(f"error: no records of {grid.table} to draw", file=sys.stderr)
        return 2
    stem = table_stem(args.results, grid.out_name or grid.table, args.profile)
    for p in draw(records, stem):
        print(f"wrote {p}")
    return 0


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` to ``path`` as CSV atomically (6 significant digits); returns ``path``.

    Example:
        >>> import tempfile
        >>> df = pd.DataFrame({"k": [1, 3], "acc": [90.123456789, 93.0]})
        >>> path = write_csv(df, Path(tempfile.mkdtemp()) / "f.csv")
        >>> print(path.read_text(), end="")
        k,acc
        1,90.1235
        3,93
    """
    write_text_atomic(df.to_csv(index=False, float_format="%.6g"), path)
    return path


def names(df: pd.DataFrame) -> pd.DataFrame:
    """Display names for a frame's ``method``/``variant`` and ``dataset`` columns (plots, CSVs).

    Example:
        >>> df = pd.DataFrame({"method": ["mc-di", "mv-di"], "variant": ["fig,segments=2", "fig"],
        ...                    "dataset": "omniglot"})
        >>> names(df)[["row", "Dataset"]].values.tolist()
        [['Mc-Di [segments=2]', 'Omniglot'], ['Mv-Di', 'Omniglot']]
    """
    out = df.copy()
    if "method" in out:
        out["row"] = [display_name(m, v.removeprefix("fig").lstrip(",")) for m, v in
                      zip(out["method"], out.get("variant", [""] * len(out)))]
    if "dataset" in out:
        out["Dataset"] = [dataset_name(d) for d in out["dataset"]]
    return out


# -- the figures of both papers: what each plots, what its paper claims, how it is tested --------------
class FigureSpec:
    """A figure: its ``kind`` (``"kT"``, ``"mse_k"``, ``"vanilla_vs_local"``, ``"sam_aug"``), the paper's
    method (``ours``: Mc-Di, or Lt-Di for the Lt-Di paper's figures) and its vanilla counterpart
    (k = 1: Mv-Di / Lv-Di), a title and the paper's claim in its own words.

    Example:
        >>> spec = FIGURES["ltdi_figure3"]
        >>> spec.kind, spec.ours, spec.row(1)[:2], spec.row(2)[:2]
        ('mse_k', 'lt-di', ('fig', 'lv-di'), ('fig,segments=2', 'lt-di'))
    """

    def __init__(self, kind: str, title: str, claim: str, ours: str = "mc-di", vanilla: str = "mv-di"):
        self.kind, self.title, self.claim, self.ours, self.vanilla = kind, title, claim, ours, vanilla

    # rows of each figure's grid -------------------------------------------------------------------
    def row(self, k: int, **opts) -> tuple:
        """The row of segment number ``k`` (k = 1 is the vanilla method, Proposition 1)."""
        return figure_row(self.vanilla, **opts) if k == 1 else figure_row(self.ours, segments=k, **opts)

    def draw(self, records: list, stem: Path) -> list:
        return DRAW[self.kind](self, records, Path(stem))

    def claims(self, records: list) -> list:
        return CLAIMS[self.kind](self, records)


def _kT_frame(spec, records):
    df = cell_frame(records)
    return df[df["method"].isin([spec.ours, spec.vanilla])]


def draw_kT(spec, records, stem):
    """Figures 8-9 (``spec.kind == "kT"``): the accuracy on the k x T grid, ``<stem>.csv`` and ``<stem>.png``.

    Example:
        >>> import tempfile
        >>> recs = [{"cell": {"method": "mc-di", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "hparams": {"segments": k, "steps": T}, "acc": 90.0 + k + 0.5 * s}
        ...         for k in (1, 3) for T in (10, 20) for s in (0, 1)]
        >>> [p.name for p in draw_kT(FIGURES["figure8_9"], recs, Path(tempfile.mkdtemp()) / "figure8_9")]
        ['figure8_9.csv', 'figure8_9.png']
    """
    df = _kT_frame(spec, records)
    csv = write_csv(mean_std(df, ["dataset", "k", "T"], "acc"), Path(f"{stem}.csv"))
    png = heatmap_kT(df, Path(f"{stem}.png"), f"{spec.title}: test accuracy (%), mean ± std over seeds")
    return [csv, png]


def claims_kT(spec, records):
    """The report's rows of a k x T figure: the grid's spread, larger k, larger T (:func:`claim_line`).

    Example:
        >>> recs = [{"cell": {"method": "mc-di", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "hparams": {"segments": k, "steps": T}, "acc": 90.0 + k + 0.5 * s}
        ...         for k in (1, 3) for T in (10, 20) for s in (0, 1)]
        >>> for line in claims_kT(FIGURES["figure8_9"], recs):
        ...     print(line)
        | stable across (k, T): ... | Omniglot | 4 (k, T) points | 2 | 2.00 | inconclusive (points with < 5 seeds) |
        | more segments improve (largest k > k = 1, T = 20) | ... | 2 | +2.00 [+2.00, +2.00] | reproduced |
        | more steps improve (largest T > smallest T, k = 3) | ... | 2 | +0.00 [+0.00, +0.00] | inconclusive |
    """
    df = _kT_frame(spec, records)
    out = []
    for d in dict.fromkeys(df["dataset"]):
        sub = df[df["dataset"] == d]
        agg = mean_std(sub, ["k", "T"], "acc")
        spread = agg["acc_mean"].max() - agg["acc_mean"].min()
        vd = "reproduced" if spread <= 2.0 else "not reproduced"
        if agg["n_seeds"].min() < 5:                 # a grid still running: no verdict on a partial spread
            vd = "inconclusive (points with < 5 seeds)"
        out.append(f"| stable across (k, T): max - min of the grid's means <= 2 points | {dataset_name(d)} | "
                   f"{len(agg)} (k, T) points | {int(agg['n_seeds'].min())} | {spread:.2f} | {vd} |")
        kmax, tmax, tmin = sub["k"].max(), sub["T"].max(), sub["T"].min()
        out.append(claim_line("more segments improve (largest k > k = 1, T = 20)", dataset_name(d),
                              per_seed(sub, "acc", k=kmax, T=20), per_seed(sub, "acc", k=1, T=20),
                              f"k={kmax} - k=1"))
        out.append(claim_line("more steps improve (largest T > smallest T, k = 3)", dataset_name(d),
                              per_seed(sub, "acc", k=3, T=tmax), per_seed(sub, "acc", k=3, T=tmin),
                              f"T={tmax} - T={tmin}"))
    return out


def _col(d, shot):
    return f"{dataset_name(d)} (5,{shot})"


def draw_mse_k(spec, records, stem):
    """Figure 4 (``spec.kind == "mse_k"``): the test MSE against k, ``<stem>.csv`` and ``<stem>.png``.

    Example:
        >>> import tempfile
        >>> recs = [{"cell": {"method": "mc-di", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "hparams": {"segments": k, "steps": 20}, "acc": 90.0, "mse": 0.01 * (4 - k) + 0.001 * s}
        ...         for k in (1, 2, 3) for s in (0, 1)]
        >>> [p.name for p in draw_mse_k(FIGURES["figure4"], recs, Path(tempfile.mkdtemp()) / "figure4")]
        ['figure4.csv', 'figure4.png']
    """
    df = _kT_frame(spec, records)
    keys = ["dataset", "shot", "k"]
    # the cost held equal: meta-training CPU seconds. Algorithm 1's preparation is one file per seed that
    # every k reads, timed in whichever cell computed it first (so under that moment's load): its own column
    agg = mean_std(df, keys, "mse")
    for col in ("meta_cpu_s", "prep_cpu_s"):
        agg = agg.merge(mean_std(df, keys, col)[[*keys, f"{col}_mean"]])
    csv = write_csv(agg, Path(f"{stem}.csv"))
    agg = agg.assign(panel=[f"5-way {s}-shot" for s in agg["shot"]], series=[dataset_name(d) for d in agg["dataset"]])
    png = lines_by(agg, "k", "mse", "series", "panel", Path(f"{stem}.png"),
                   f"{spec.title}: MSE to theta_M of the final generated heads (test tasks), equal meta-training; "
                   "mean over seeds, band: min-max",
                   "segment number k (1 = vanilla)", "reconstruction MSE (per weight)", mark_x=3, logy=True)
    return [csv, png]


def claims_mse_k(spec, records):
    """The report's rows of an MSE-vs-k figure: k = 1 against k = 3, per (dataset, shot).

    Example:
        >>> recs = [{"cell": {"method": "mc-di", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "hparams": {"segments": k, "steps": 20}, "acc": 90.0, "mse": 0.01 * (4 - k) + 0.001 * s}
        ...         for k in (1, 2, 3) for s in (0, 1)]
        >>> claims_mse_k(FIGURES["figure4"], recs)        # MSE differences: 4 decimals
        ['| k > 1 lowers the MSE (k = 1 minus k = 3) | ... | 2 | +0.0200 [+0.0200, +0.0200] | reproduced |']
    """
    df = _kT_frame(spec, records)
    out = []
    for (d, shot), sub in df.groupby(["dataset", "shot"], sort=False):
        out.append(claim_line("k > 1 lowers the MSE (k = 1 minus k = 3)", _col(d, shot),
                              per_seed(sub, "mse", k=1), per_seed(sub, "mse", k=3), "MSE k=1 - k=3", 4))
    return out


def draw_vanilla_vs_local(spec, records, stem):
    """Figure 6: validation MSE against compute, test MSE against inference steps; ``<stem>.csv``, ``<stem>.png``.

    Example:
        >>> import tempfile
        >>> def rec(method, seed, mse):
        ...     trace = [{"it": i, "cpu_s": 10.0 * i, "val_acc": 90.0, "val_mse": mse * (2 - i)} for i in (0, 1)]
        ...     return {"cell": {"method": method, "dataset": "omniglot", "way": 5, "shot": 1, "seed": seed},
        ...             "hparams": {"segments": 3, "steps": 20}, "acc": 90.0 + seed, "mse": mse,
        ...             "mse_by_steps": {"5": 2 * mse}, "selection": {"trace": trace}}
        >>> recs = [rec(m, s, base + 0.001 * s) for m, base in (("mv-di", 0.04), ("mc-di", 0.02)) for s in (0, 1)]
        >>> [p.name for p in draw_vanilla_vs_local(FIGURES["figure6"], recs, Path(tempfile.mkdtemp()) / "figure6")]
        ['figure6.csv', 'figure6.png']
    """
    tr = names(trace_frame(records))
    left = trace_means(tr, ["row", "Dataset"], "val_mse").assign(plot="compute")
    right = mean_std(names(steps_frame(records)), ["row", "Dataset", "steps"], "mse").assign(plot="steps")
    csv = write_csv(pd.concat([left, right], ignore_index=True), Path(f"{stem}.csv"))
    import matplotlib.pyplot as plt
    from .plots import save_figure
    datasets = list(dict.fromkeys(tr["Dataset"])) or list(dict.fromkeys(right["Dataset"]))
    fig, axes = plt.subplots(len(datasets), 2, figsize=(10, 3.8 * len(datasets)), squeeze=False)
    for (axl, axr), d in zip(axes, datasets):
        for r in dict.fromkeys(left["row"]):
            a = left[(left["row"] == r) & (left["Dataset"] == d)]
            _band(axl, a, "cpu_s", "val_mse", r, log=True)
            b = right[(right["row"] == r) & (right["Dataset"] == d)]
            _band(axr, b, "steps", "mse", r, log=True)
        axl.set(xlabel="meta-training compute (CPU seconds, weight preparation included)",
                ylabel="validation MSE to theta_M", yscale="log", title=f"{d} 5-way 1-shot: MSE during training")
        axr.axvline(20, color="red", ls="--", lw=1, label="trained T = 20")
        axr.set(xlabel="diffusion steps used at inference", ylabel="test MSE to theta_M", yscale="log",
                title=f"{d} 5-way 1-shot: MSE vs inference steps")
        _whole_ticks(axr, right.loc[right["Dataset"] == d, "steps"])
        axl.legend(fontsize=8)
        axr.legend(fontsize=8)
    _suptitle(fig, f"{spec.title} (mean over seeds, band: min-max)", 10)
    fig.tight_layout()
    return [csv, save_figure(fig, Path(f"{stem}.png"))]


def claims_vanilla_vs_local(spec, records):
    """The report's rows of a vanilla-vs-local figure: MSE during training, at test, with fewer steps.

    Example:
        >>> def rec(method, seed, mse):
        ...     trace = [{"it": i, "cpu_s": 10.0 * i, "val_acc": 90.0, "val_mse": mse * (2 - i)} for i in (0, 1)]
        ...     return {"cell": {"method": method, "dataset": "omniglot", "way": 5, "shot": 1, "seed": seed},
        ...             "hparams": {"segments": 3, "steps": 20}, "acc": 90.0 + seed, "mse": mse,
        ...             "mse_by_steps": {"5": 2 * mse}, "selection": {"trace": trace}}
        >>> recs = [rec(m, s, base + 0.001 * s) for m, base in (("mv-di", 0.04), ("mc-di", 0.02)) for s in (0, 1)]
        >>> [line.split(" | ")[-1] for line in claims_vanilla_vs_local(FIGURES["figure6"], recs)]
        ['reproduced |', 'reproduced |', 'inconclusive |', 'reproduced |']
    """
    cells, tr, st = cell_frame(records), trace_frame(records), steps_frame(records)
    last = tr.sort_values("it").groupby(["method", "dataset", "seed"], sort=False).tail(1)
    out = []
    v, o = display_name(spec.vanilla), display_name(spec.ours)
    for d in dict.fromkeys(cells["dataset"]):
        out.append(claim_line("lower MSE at the end of training", dataset_name(d),
                              per_seed(last, "val_mse", method=spec.vanilla, dataset=d),
                              per_seed(last, "val_mse", method=spec.ours, dataset=d), f"val MSE {v} - {o}", 4))
        out.append(claim_line("lower test MSE (T = 20 steps)", dataset_name(d),
                              per_seed(cells, "mse", method=spec.vanilla, dataset=d),
                              per_seed(cells, "mse", method=spec.ours, dataset=d), f"MSE {v} - {o}", 4))
        out.append(claim_line("(the same cells' test accuracy)", dataset_name(d),
                              per_seed(cells, "acc", method=spec.ours, dataset=d),
                              per_seed(cells, "acc", method=spec.vanilla, dataset=d), f"accuracy {o} - {v}"))
        s_min = st[st["dataset"] == d]["steps"].min() if len(st) else None
        if s_min == s_min and s_min is not None:
            s5 = 5 if 5 in set(st["steps"]) else s_min
            out.append(claim_line(f"tolerates fewer steps (test MSE with {s5} steps)", dataset_name(d),
                                  per_seed(st, "mse", method=spec.vanilla, dataset=d, steps=s5),
                                  per_seed(st, "mse", method=spec.ours, dataset=d, steps=s5), f"MSE {v} - {o}", 4))
    return out


SAM_LABELS = {(False, False): "no SAM, no augmentation", (True, False): "+ SAM", (True, True): "+ SAM + augmentation",
              (False, True): "+ augmentation"}


def _sam_label(sam, augment) -> str:
    return SAM_LABELS[(bool(sam), bool(augment))]


def draw_sam_aug(spec, records, stem):
    """Figure 7: validation accuracy against compute with and without SAM and augmentation.

    Example:
        >>> import tempfile
        >>> def rec(sam, aug, seed):
        ...     trace = [{"it": i, "cpu_s": 10.0 * i, "val_acc": 60.0 + 30 * i + sam + aug} for i in (0, 1)]
        ...     return {"cell": {"method": "mc-di", "variant": f"fig,sam={sam},augment={aug}", "dataset": "omniglot",
        ...                      "way": 5, "shot": 1, "seed": seed}, "hparams": {"sam": sam, "augment": aug},
        ...             "acc": 90.0 + sam + aug + 0.1 * seed, "selection": {"trace": trace}}
        >>> recs = [rec(s, a, seed) for s, a in ((False, False), (True, False), (True, True)) for seed in (0, 1)]
        >>> [p.name for p in draw_sam_aug(FIGURES["figure7"], recs, Path(tempfile.mkdtemp()) / "figure7")]
        ['figure7.csv', 'figure7.png']
    """
    cells = cell_frame(records)
    tr = trace_frame(records).merge(cells[["method", "variant", "dataset", "seed", "sam", "augment"]])
    tr["series"] = [_sam_label(s, a) for s, a in zip(tr["sam"], tr["augment"])]
    tr["Dataset"] = [f"{dataset_name(d)} 5-way 1-shot" for d in tr["dataset"]]
    agg = trace_means(tr, ["Dataset", "series"], "val_acc")
    csv = write_csv(agg, Path(f"{stem}.csv"))
    png = lines_by(agg, "cpu_s", "val_acc", "series", "Dataset", Path(f"{stem}.png"),
                   f"{spec.title}: validation accuracy during meta-training (mean ± std over seeds)",
                   "compute (CPU seconds, weight preparation included)", "validation accuracy (%)",
                   order=list(SAM_LABELS.values()))
    return [csv, png]


def claims_sam_aug(spec, records):
    """The report's rows of a SAM/augmentation figure: accuracy gains and the CPU time they cost.

    Example:
        >>> def rec(sam, aug, seed):
        ...     trace = [{"it": i, "cpu_s": 10.0 * i, "val_acc": 60.0 + 30 * i + sam + aug} for i in (0, 1)]
        ...     return {"cell": {"method": "mc-di", "variant": f"fig,sam={sam},augment={aug}", "dataset": "omniglot",
        ...                      "way": 5, "shot": 1, "seed": seed}, "hparams": {"sam": sam, "augment": aug},
        ...             "acc": 90.0 + sam + aug + 0.1 * seed, "selection": {"trace": trace}}
        >>> recs = [rec(s, a, seed) for s, a in ((False, False), (True, False), (True, True)) for seed in (0, 1)]
        >>> for line in claims_sam_aug(FIGURES["figure7"], recs):
        ...     print(line)
        | SAM improves accuracy | Omniglot | SAM - none | 2 | +1.00 [+1.00, +1.00] | reproduced |
        | augmentation improves it further | Omniglot | SAM+aug - SAM | 2 | +1.00 [+1.00, +1.00] | reproduced |
        | no additional time: meta-training CPU s, SAM+aug / none <= 1.10 | ... | 2 | 1.00x | reproduced |
        | no additional time: preparation + meta-training CPU s, ... | 2 | 1.00x | reproduced |
    """
    df = cell_frame(records)
    df = df[df["method"] == spec.ours]
    out = []
    for d in dict.fromkeys(df["dataset"]):
        sub = df[df["dataset"] == d]
        none, sam, both = (per_seed(sub, "acc", sam=s, augment=a) for s, a in
                           ((False, False), (True, False), (True, True)))
        out.append(claim_line("SAM improves accuracy", dataset_name(d), sam, none, "SAM - none"))
        out.append(claim_line("augmentation improves it further", dataset_name(d), both, sam, "SAM+aug - SAM"))
        for key, what in (("meta_cpu_s", "meta-training"), ("train_cpu_s", "preparation + meta-training")):
            cost = {lab: per_seed(sub, key, sam=s, augment=a) for lab, s, a in
                    (("none", False, False), ("both", True, True))}
            if cost["none"] and cost["both"]:
                ratio = np.mean(list(cost["both"].values())) / np.mean(list(cost["none"].values()))
                vd = "reproduced" if ratio <= 1.10 else "not reproduced"
                out.append(f"| no additional time: {what} CPU s, SAM+aug / none <= 1.10 | {dataset_name(d)} | "
                           f"ratio of means | {min(len(cost['none']), len(cost['both']))} | {ratio:.2f}x | {vd} |")
    return out


DRAW = {"kT": draw_kT, "mse_k": draw_mse_k, "vanilla_vs_local": draw_vanilla_vs_local, "sam_aug": draw_sam_aug}
CLAIMS = {"kT": claims_kT, "mse_k": claims_mse_k, "vanilla_vs_local": claims_vanilla_vs_local,
          "sam_aug": claims_sam_aug}

_LT = dict(ours="lt-di", vanilla="lv-di")
FIGURES = {
    "figure4": FigureSpec("mse_k", "Mc-Di Figure 4: segment number k vs reconstruction MSE",
                          '"When k > 1, our method improves generation accuracy by introducing additional local '
                          'target[s]" (MSE between the final predicted weight and the ground truth, same 3 '
                          'GPU-hours).'),
    "figure6": FigureSpec("vanilla_vs_local", "Mc-Di Figure 6: vanilla (Mv-Di) vs local consistency (Mc-Di)",
                          '"As training progresses, our method increasingly outperforms the vanilla diffusion" and '
                          '"local consistency diffusion can tolerate fewer diffusion steps for the same MSE".'),
    "figure7": FigureSpec("sam_aug", "Mc-Di Figure 7: SAM and augmentation",
                          '"The three curves in the figure exhibit identical convergence rates and progressively '
                          'increasing accuracy" ("without additional time overhead").'),
    "figure8_9": FigureSpec("kT", "Mc-Di Figures 8-9: sensitivity to k and T",
                            '"the accuracy remains stable across different parameter settings, with only minor '
                            'variations. While increasing segment number and diffusion steps can slightly improve '
                            'performance, excessive changes do not lead to significant degradation."'),
    "ltdi_figure3": FigureSpec("mse_k", "Lt-Di Figure 3: trajectory length (k + 1) vs reconstruction MSE",
                               '"all trajectory-based approaches outperform the vanilla version" (MSE, same 3 '
                               'GPU-hours).', **_LT),
    "ltdi_figure5": FigureSpec("vanilla_vs_local", "Lt-Di Figure 5: vanilla (Lv-Di) vs trajectory diffusion (Lt-Di)",
                               '"As training progresses, the trajectory diffusion increasingly outperforms the '
                               'vanilla version" and it "can tolerate fewer diffusion steps for the same MSE".', **_LT),
    "ltdi_figure6": FigureSpec("sam_aug", "Lt-Di Figure 6: SAM and augmentation",
                               '"adding functional components can improve the model\'s performance without '
                               'additional time overhead at any stage of training".', **_LT),
    "ltdi_figure7_8": FigureSpec("kT", "Lt-Di Figures 7-8: sensitivity to trajectory length and T",
                                 '"the accuracy remains stable across different parameter settings, with only '
                                 'minor variations."', **_LT),
}
