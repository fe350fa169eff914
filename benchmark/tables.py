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
    >>> aggregate(records_frame(recs))[["acc_mean", "acc_std", "n_seeds"]].values.tolist()
    [[91.0, 1.4142135623730951, 2]]
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

PAPER_NUMBERS = Path(__file__).with_name("paper_numbers.csv")
KEYS = ["method", "dataset", "way", "shot"]


def records_frame(records: list) -> pd.DataFrame:
    """One row per cell record."""
    rows = []
    for r in records:
        c = r["cell"]
        rows.append({"method": c["method"] + (f"[{c['variant']}]" if c.get("variant") else ""),
                     "dataset": c["dataset"], "way": int(c["way"]), "shot": int(c["shot"]), "seed": int(c["seed"]),
                     "acc": float(r["acc"]), "ci95": float(r["ci95"]), "latency_ms": float(r["latency_ms"])})
    return pd.DataFrame(rows, columns=KEYS + ["seed", "acc", "ci95", "latency_ms"])


def load_records(results_dir: Path | str, table: str, profile: str) -> list:
    """All JSON records under ``results/runs/<table>/<profile>/``."""
    base = Path(results_dir) / "runs" / table / profile
    return [json.loads(p.read_text()) for p in sorted(base.glob("*/*.json"))]


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """Mean +- std over seeds per (method, dataset, way, shot)."""
    g = df.groupby(KEYS, sort=False)
    out = g.agg(n_seeds=("seed", "nunique"), acc_mean=("acc", "mean"), acc_std=("acc", "std"),
                ci95_mean=("ci95", "mean"), latency_ms=("latency_ms", "mean")).reset_index()
    out["acc_std"] = out["acc_std"].fillna(0.0)
    return out


def paper_numbers(table: str, source: str = "mc-di") -> pd.DataFrame:
    p = pd.read_csv(PAPER_NUMBERS)
    p = p[(p["table"] == table) & (p["source"] == source)]
    return p.rename(columns={"acc_mean": "paper_acc_mean", "acc_std": "paper_acc_std",
                             "latency_ms": "paper_latency_ms"}).drop(columns=["table", "source"])


def build_table(records: list, grid: list, table: str, missing_data: dict | None = None,
                source: str = "mc-di", expected_seeds: int | None = None) -> pd.DataFrame:
    """The table's rows: every (method row, dataset, way, shot) of ``grid`` (a list of cells),
    with ours (or a status) beside the paper's numbers."""
    missing_data = missing_data or {}
    want = pd.DataFrame([{"method": c.row, "dataset": c.dataset, "way": c.way, "shot": c.shot} for c in grid],
                        columns=KEYS).drop_duplicates()
    seeds = expected_seeds or max(1, len({c.seed for c in grid}))
    ours = aggregate(records_frame(records)) if records else aggregate(records_frame([]))
    out = want.merge(ours, on=KEYS, how="left")
    base_method = out["method"].str.replace(r"\[.*\]$", "", regex=True)
    paper = paper_numbers(table, source)
    out = out.assign(_m=base_method).merge(paper.rename(columns={"method": "_m"}), on=["_m", "dataset", "way", "shot"],
                                           how="left").drop(columns="_m")

    def status(row):
        if row["dataset"] in missing_data:
            return "missing data"
        if pd.isna(row["n_seeds"]):
            return "not run"
        return "ok" if row["n_seeds"] >= seeds else f"partial ({int(row['n_seeds'])}/{seeds} seeds)"

    out["status"] = out.apply(status, axis=1)
    out["n_seeds"] = out["n_seeds"].fillna(0).astype(int)
    return out


def _pm(mean, std, digits=2) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "--"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} $\\pm$ {std:.{digits}f}"


def to_latex(df: pd.DataFrame, caption: str, label: str) -> str:
    """A method x (dataset, setting) LaTeX table: 'ours (paper)' per cell and a latency column."""
    cols = list(dict.fromkeys(zip(df["dataset"], df["way"], df["shot"])))
    methods = list(dict.fromkeys(df["method"]))
    idx = {(r.method, r.dataset, r.way, r.shot): r for r in df.itertuples()}
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{l" + "c" * len(cols) + "cc}", r"\toprule",
             "Method & " + " & ".join(f"{d} ({w},{s})" for d, w, s in cols) + r" & Latency (ms) & paper \\",
             r"\midrule"]
    for m in methods:
        cells, lat, plat = [], [], None
        for d, w, s in cols:
            r = idx.get((m, d, w, s))
            if r is None:
                cells.append("")
                continue
            ours = _pm(r.acc_mean, r.acc_std) if r.status in ("ok",) or r.status.startswith("partial") \
                else r"\textit{" + r.status + "}"
            paper = _pm(r.paper_acc_mean, r.paper_acc_std)
            cells.append(f"{ours} ({paper})")
            if not pd.isna(r.latency_ms):
                lat.append(r.latency_ms)
            if not pd.isna(r.paper_latency_ms):
                plat = r.paper_latency_ms
        lat_s = f"{sum(lat) / len(lat):.3f}" if lat else "--"
        plat_s = f"{plat:.1f}" if plat is not None else "--"
        lines.append(f"{m.replace('_', '-')} & " + " & ".join(cells) + f" & {lat_s} & {plat_s} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{caption}}}", f"\\label{{{label}}}",
              r"\end{table}", ""]
    return "\n".join(lines)


def write_text_atomic(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_table(df: pd.DataFrame, out_stem: Path, caption: str) -> tuple:
    """Write ``<stem>.csv`` and ``<stem>.tex``; returns their paths."""
    csv_path, tex_path = Path(f"{out_stem}.csv"), Path(f"{out_stem}.tex")
    cols = ["method", "dataset", "way", "shot", "n_seeds", "acc_mean", "acc_std", "ci95_mean", "latency_ms",
            "paper_acc_mean", "paper_acc_std", "paper_latency_ms", "status"]
    write_text_atomic(df[cols].round(4).to_csv(index=False), csv_path)
    write_text_atomic(to_latex(df, caption, f"tab:{Path(out_stem).name}"), tex_path)
    return csv_path, tex_path
