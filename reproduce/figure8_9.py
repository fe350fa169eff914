"""Figures 8-9 of Mc-Di (Lt-Di Figures 7-8: ``ltdi_figure7_8.py``): test accuracy of Mc-Di over a grid of
segment numbers k and diffusion steps T, Omniglot (Figure 8) and Mini-ImageNet (Figure 9), 5-way
1-shot, 5 seeds, as heatmaps with mean ± std in each cell. The papers do not print their grid; ours
covers k = 1 (vanilla, i.e. Mv-Di) to k = 6 (beyond the default 3; k must divide the 12-point
trajectory grid) and T = 6 to 40 around the default 20.

    python reproduce/figure8_9.py --profile cpu --jobs 2
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid
from benchmark.figures import FIGURES, figure_main

KS = (1, 2, 3, 4, 6)
TS = (6, 10, 20, 40)


def grid(name: str = "figure8_9") -> Grid:
    spec = FIGURES[name]
    return Grid(table=name, methods=[], datasets=["omniglot", "mini-imagenet"], settings=[(5, 1)],
                variants=[spec.row(k, steps=T) for k in KS for T in TS],
                caption=f"{spec.title}: accuracy (\\%) of its cells.")


GRID = grid()

if __name__ == "__main__":
    raise SystemExit(figure_main(GRID, FIGURES[GRID.table].draw))
