"""Table 3 of Mc-Di: few-shot accuracy (5-way 1-shot / 5-shot) and per-sample latency
on Omniglot, Mini-ImageNet and Tiered-ImageNet, mean +- std over 5 seeds.

    python reproduce/table3.py --profile cpu --data ../shared/data
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid, grid_main

GRID = Grid(
    table="table3",
    caption="Few-shot accuracy (\\%) and per-sample latency; ours (paper).",
    methods=["reptile", "meta-baseline", "meta-hypernetwork", "ghn3", "ocd", "meta-diff", "d2nwg", "mv-di", "mc-di",
             "ref-target-head", "ref-centroid"],
    datasets=["omniglot", "mini-imagenet", "tiered-imagenet"],
    settings=[(5, 1), (5, 5)],
    seeds=(0, 1, 2, 3, 4),
    # REPTILE from scratch is the paper's protocol; "pretrained" starts it from the shared body every
    # other row gets. GHN3 "no-ft": the hypernetwork's prediction alone, without its 5 test-time steps.
    variants=[("pretrained", "reptile", {"init_body": "pretrained"}), ("no-ft", "ghn3", {"ft_steps": 0})],
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
