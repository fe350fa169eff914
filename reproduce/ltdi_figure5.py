"""Figure 5 of Lt-Di: vanilla (Lv-Di) vs trajectory diffusion (Lt-Di), MSE vs compute and vs inference steps; the grid of ``figure6.py`` with Lt-Di / Lv-Di rows.

    python reproduce/ltdi_figure5.py --profile cpu --jobs 2
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.figures import FIGURES, figure_main
from figure6 import grid

GRID = grid("ltdi_figure5")

if __name__ == "__main__":
    raise SystemExit(figure_main(GRID, FIGURES[GRID.table].draw))
