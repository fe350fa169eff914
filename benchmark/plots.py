"""Seaborn plots for the figures, written atomically as PNG.

Example:
    >>> import pandas as pd, tempfile
    >>> path = line_plot(pd.DataFrame({"x": [0, 1], "y": [1.0, 0.5], "h": ["a", "a"]}), "x", "y", "h",
    ...                  Path(tempfile.mkdtemp()) / "doc_plot.png", "t")
    >>> path.name, path.read_bytes()[:4]
    ('doc_plot.png', b'\\x89PNG')
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from .atomic import atomic_write  # noqa: E402


def line_plot(df, x: str, y: str, hue: str, path: Path, title: str, logy: bool = False) -> Path:
    """A seaborn line plot of ``df`` (mean and 95% band over repeated x) saved to ``path``.

    Example:
        >>> import pandas as pd, tempfile
        >>> df = pd.DataFrame({"step": [0, 1, 0, 1], "loss": [1.0, 0.5, 1.2, 0.4], "method": "mc-di"})   # 2 seeds
        >>> line_plot(df, "step", "loss", "method", Path(tempfile.mkdtemp()) / "loss.png", "Training loss").name
        'loss.png'
    """
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(data=df, x=x, y=y, hue=hue, ax=ax)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def save_figure(fig, path: Path) -> Path:
    """Save ``fig`` as PNG atomically (no metadata that changes run to run) and close it.

    Example:
        >>> import tempfile
        >>> fig, ax = plt.subplots(); _ = ax.plot([0, 1], [1, 0])
        >>> path = save_figure(fig, Path(tempfile.mkdtemp()) / "fig.png")
        >>> path.suffix, path.stat().st_size > 0, plt.fignum_exists(fig.number)        # written, and closed
        ('.png', True, False)
    """
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png", metadata={"Software": None}))
    finally:
        plt.close(fig)
    return path
