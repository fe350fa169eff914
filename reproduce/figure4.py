"""Figure 4 of Mc-Di (Lt-Di Figure 3: ``ltdi_figure3.py``): segment number k vs the reconstruction MSE
of the final generated heads, 5-way 1-shot and 5-shot, Omniglot and Mini-ImageNet, 5 seeds.

k = 1 is Mv-Di (Proposition 1). "The same 3 GPU-hours": every k trains the same meta-iterations, and
one iteration costs the same whatever k (B (task, target) pairs x K steps x D draws); each record holds
the CPU seconds it spent (``selection.trace``) so the CSV shows the meta-training budgets are equal
(``meta_cpu_s_mean``; the preparation, shared by every k, apart). The other reading,
a budget in CPU seconds: ``--set budget_cpu_s=120`` (docs/readings.md, "Figure 4").

    python reproduce/figure4.py --profile cpu --jobs 2
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid
from benchmark.figures import FIGURES, figure_main

KS = (1, 2, 3, 4, 6)                       # k must divide the trajectory grid (12 points)


def grid(name: str = "figure4") -> Grid:
    spec = FIGURES[name]
    return Grid(table=name, methods=[], datasets=["omniglot", "mini-imagenet"], settings=[(5, 1), (5, 5)],
                variants=[spec.row(k) for k in KS], caption=f"{spec.title}: accuracy (\\%) of its cells.")


GRID = grid()

if __name__ == "__main__":
    raise SystemExit(figure_main(GRID, FIGURES[GRID.table].draw))
