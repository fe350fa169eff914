"""Figure 6 of Mc-Di (Lt-Di Figure 5: ``ltdi_figure5.py``): vanilla (Mv-Di) vs local consistency diffusion
(Mc-Di) on Omniglot and Mini-ImageNet 5-way 1-shot, 5 seeds. Left: validation MSE to theta_M against the
training compute spent (CPU seconds; the papers use GPU-hours). Right: test MSE against the number of
diffusion steps used at inference (the trained T = 20-step chain respaced to fewer steps; docs/readings.md,
"Figure 6").

    python reproduce/figure6.py --profile cpu --jobs 2
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid
from benchmark.figures import FIGURES, figure_main


def grid(name: str = "figure6") -> Grid:
    spec = FIGURES[name]
    return Grid(table=name, methods=[], datasets=["omniglot", "mini-imagenet"], settings=[(5, 1)],
                variants=[spec.row(1), spec.row(3)], caption=f"{spec.title}: accuracy (\\%) of its cells.")


GRID = grid()

if __name__ == "__main__":
    raise SystemExit(figure_main(GRID, FIGURES[GRID.table].draw))
