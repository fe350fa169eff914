"""Figure 3 of Lt-Di: trajectory length (k + 1) vs reconstruction MSE; the grid of ``figure4.py`` with Lt-Di / Lv-Di rows.

    python reproduce/ltdi_figure3.py --profile cpu --jobs 2
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.figures import FIGURES, figure_main
from figure4 import grid

GRID = grid("ltdi_figure3")

if __name__ == "__main__":
    raise SystemExit(figure_main(GRID, FIGURES[GRID.table].draw))
