"""Table 4 of Mc-Di: few-shot domain generalisation on DomainNet, 5-way 1-shot and 20-way 5-shot,
meta-trained on Clipart, Infograph, Painting, Quickdraw and Real, tested on Sketch (ResNet-12 body).

    python reproduce/table4.py --profile cpu --data /path/with/domainnet

DomainNet is not at hand here: without it every cell says *missing data*. Readings (which images form
the splits, what a class is): docs/readings.md, "Table 4".
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid, grid_main

GRID = Grid(
    table="table4",
    caption="DomainNet (Sketch held out): few-shot accuracy (\\%) and per-sample latency; ours (paper).",
    methods=["reptile", "meta-baseline", "meta-hypernetwork", "ghn3", "ocd", "meta-diff", "d2nwg", "mv-di", "mc-di",
             "ref-target-head", "ref-centroid"],
    datasets=["domainnet"],
    settings=[(5, 1), (20, 5)],
    backbone="resnet12",
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
