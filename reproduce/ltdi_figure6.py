"""Figure 6 of Lt-Di: Lt-Di without SAM and augmentation, with SAM, with both - accuracy against compute,
Omniglot and Mini-ImageNet 5-way 1-shot (the Lt-Di paper's figure has both datasets); the grid of
``figure7.py`` with Lt-Di rows.

    python reproduce/ltdi_figure6.py --profile cpu --jobs 2
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.figures import FIGURES, figure_main
from figure7 import grid

GRID = grid("ltdi_figure6", datasets=("omniglot", "mini-imagenet"))

if __name__ == "__main__":
    raise SystemExit(figure_main(GRID, FIGURES[GRID.table].draw))
