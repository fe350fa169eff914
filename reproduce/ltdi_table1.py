"""Table 1 of the Lt-Di paper (trajectory diffusion): incremental ablation - REPTILE (no component),
LLO-VAE (C1: meta-learned VAE on theta_M), Lv-Di (C1+C2: diffusion on theta_M), Lt-Di (C1+C2+C3:
the optimisation trajectory) - Omniglot and Mini-ImageNet 5-way 1-shot, 5 seeds, beside the Lt-Di
paper's values. Cells it shares with Mc-Di's tables (REPTILE, the reference rows) are computed once.

    python reproduce/ltdi_table1.py --profile cpu --data ../shared/data
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid, grid_main

GRID = Grid(
    table="ltdi_table1",
    paper_table="table1",
    source="lt-di",
    caption="Lt-Di paper, ablation of the main components, 5-way 1-shot accuracy (\\%); ours (paper).",
    methods=["reptile", "llo-vae", "lv-di", "lt-di", "ref-target-head", "ref-centroid"],
    datasets=["omniglot", "mini-imagenet"],
    settings=[(5, 1)],
    variants=[("pretrained", "reptile", {"init_body": "pretrained"})],   # REPTILE from the shared body
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
