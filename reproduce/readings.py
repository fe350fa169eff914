"""Which reading of the papers' ambiguous sentences decides Mc-Di vs Mv-Di vs Tw-Di?

Mc-Di, Mv-Di and Tw-Di on Omniglot and Mini-ImageNet 5-way 1-shot, 5 seeds, under the
default readings (docs/readings.md) and under each alternative, one at a time: theta_0
(``init``), the loss weighting (``weighting``) and the noise schedule (``schedule``). A
reading that cannot change a method (the weighting of Eq. 3 for the vanilla-loss Mv-Di and
Tw-Di under ``unweighted``; Eq. 1's for Mc-Di under ``weighted-all``) reuses its default
row. Writes results/readings.csv/.tex (every row) and results/readings_claims.md:
Mc-Di minus Mv-Di and minus Tw-Di per reading, paired over seeds and over test episodes,
with 95% intervals and a verdict on the paper's ordering.

    python reproduce/readings.py --profile cpu --jobs 2
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from pathlib import Path

from benchmark.cli import Grid, grid_main, parser
from benchmark.report import write_readings

METHODS = ["mc-di", "mv-di", "tw-di"]
READINGS = {                                   # label -> method options (the default reading is "")
    "init=shared": {"init": "shared"},
    "init=zero": {"init": "zero"},
    "weighting=unweighted": {"weighting": "unweighted"},
    "weighting=weighted-all": {"weighting": "weighted-all"},
    "schedule=linear": {"schedule": "linear"},
}
NO_EFFECT = {("mv-di", "weighting=unweighted"), ("tw-di", "weighting=unweighted"),
             ("mc-di", "weighting=weighted-all")}

GRID = Grid(
    table="readings",
    caption="Mc-Di, Mv-Di and Tw-Di under each reading, 5-way 1-shot accuracy (\\%).",
    methods=METHODS,
    datasets=["omniglot", "mini-imagenet"],
    settings=[(5, 1)],
    variants=[(label, m, opts) for label, opts in READINGS.items() for m in METHODS if (m, label) not in NO_EFFECT],
    paper_table="table1",
)

if __name__ == "__main__":
    code = grid_main(GRID)
    if code == 0:
        args = parser(GRID).parse_args()
        print(write_readings(Path(args.results), args.profile).read_text())
    raise SystemExit(code)
