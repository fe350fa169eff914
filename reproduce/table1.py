"""Table 1 of Mc-Di: incremental ablation of the main components (C1 meta-learning +
diffusion, C2 local targets, C3 local consistency) on 5-way 1-shot Omniglot and
Mini-ImageNet, mean +- std over 5 seeds; with two reference rows (the target heads
theta_M themselves, and nearest centroid on the same body).

    python reproduce/table1.py --profile cpu --data ../shared/data
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid, grid_main

GRID = Grid(
    table="table1",
    caption="Ablation of the main components, 5-way 1-shot accuracy (\\%); ours (paper).",
    methods=["reptile", "ocd", "mv-di", "tw-di", "mc-di", "ref-target-head", "ref-centroid"],
    datasets=["omniglot", "mini-imagenet"],
    settings=[(5, 1)],
    seeds=(0, 1, 2, 3, 4),
    variants=[("pretrained", "reptile", {"init_body": "pretrained"})],   # REPTILE from the shared body
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
