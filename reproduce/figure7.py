"""Figure 7 of Mc-Di (Lt-Di Figure 6: ``ltdi_figure6.py``): Mc-Di without SAM and augmentation, with
SAM, and with SAM and augmentation in Algorithm 1 - validation accuracy against the compute spent
(CPU seconds, weight preparation included), Omniglot 5-way 1-shot, 5 seeds. The paper measures the
curve on the meta-test set; ours uses the meta-validation episodes of model selection and reports the
test accuracy of the chosen state (docs/readings.md, "Figure 7").

    python reproduce/figure7.py --profile cpu --jobs 2
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid
from benchmark.figures import FIGURES, figure_main

COMPONENTS = ({"sam": False, "augment": False}, {"sam": True, "augment": False}, {"sam": True, "augment": True})


def grid(name: str = "figure7", datasets=("omniglot",)) -> Grid:
    spec = FIGURES[name]
    return Grid(table=name, methods=[], datasets=list(datasets), settings=[(5, 1)],
                variants=[spec.row(3, **c) for c in COMPONENTS], caption=f"{spec.title}: accuracy (\\%) of its cells.")


GRID = grid()

if __name__ == "__main__":
    raise SystemExit(figure_main(GRID, FIGURES[GRID.table].draw))
