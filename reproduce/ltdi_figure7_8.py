"""Figures 7-8 of Lt-Di: sensitivity of Lt-Di to the trajectory length (k + 1) and T; the grid of ``figure8_9.py`` with Lt-Di / Lv-Di rows.

    python reproduce/ltdi_figure7_8.py --profile cpu --jobs 2
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.figures import FIGURES, figure_main
from figure8_9 import grid

GRID = grid("ltdi_figure7_8")

if __name__ == "__main__":
    raise SystemExit(figure_main(GRID, FIGURES[GRID.table].draw))
