"""Table 3 of the Lt-Di paper: few-shot accuracy and per-sample latency on Omniglot and Mini-ImageNet,
5-way and 20-way, 1-shot and 5-shot, every method at every setting, 5 seeds, beside the Lt-Di paper's
values. The 5-way cells it shares with Mc-Di's Table 3 are computed once.

    python reproduce/ltdi_table3.py --profile cpu --data ../shared/data
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid, grid_main

GRID = Grid(
    table="ltdi_table3",
    paper_table="table3",
    source="lt-di",
    caption="Lt-Di paper, few-shot accuracy (\\%) and per-sample latency; ours (paper).",
    methods=["reptile", "meta-baseline", "meta-hypernetwork", "ocd", "ghn3", "meta-diff", "lv-di", "lt-di",
             "ref-target-head", "ref-centroid"],
    datasets=["omniglot", "mini-imagenet"],
    settings=[(5, 1), (5, 5), (20, 1), (20, 5)],
    variants=[("pretrained", "reptile", {"init_body": "pretrained"}), ("no-ft", "ghn3", {"ft_steps": 0})],
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
