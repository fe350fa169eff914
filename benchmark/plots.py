"""Seaborn plots for the figures, written atomically as PNG.

Example:
    >>> import pandas as pd
    >>> line_plot(pd.DataFrame({"x": [0, 1], "y": [1.0, 0.5], "h": ["a", "a"]}), "x", "y", "h",
    ...           Path("/tmp/doc_plot.png"), "t")                          # doctest: +SKIP
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402


def line_plot(df, x: str, y: str, hue: str, path: Path, title: str, logy: bool = False) -> Path:
    """A seaborn line plot of ``df`` (mean and 95% band over repeated x) saved to ``path``."""
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(data=df, x=x, y=y, hue=hue, ax=ax)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
