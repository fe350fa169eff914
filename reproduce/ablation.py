"""One component of Table 1 at a time (the same cells as Table 1, so finished cells are shared):

    python reproduce/ablation.py --component C1   # REPTILE, OCD (no C1) vs Mv-Di
    python reproduce/ablation.py --component C2   # Mv-Di vs Tw-Di (local targets without consistency)
    python reproduce/ablation.py --component C3   # Tw-Di vs Mc-Di (local consistency loss)
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
import argparse

from benchmark.cli import Grid, grid_main

COMPONENTS = {
    "C1": ["reptile", "ocd", "mv-di"],
    "C2": ["mv-di", "tw-di"],
    "C3": ["tw-di", "mc-di"],
}


def grid_for(component: str) -> Grid:
    return Grid(table="table1", out_name=f"ablation_{component}",
                caption=f"Ablation of component {component}, 5-way 1-shot accuracy (\\%); ours (paper).",
                methods=COMPONENTS[component], datasets=["omniglot", "mini-imagenet"], settings=[(5, 1)])


if __name__ == "__main__":
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--component", required=True, choices=sorted(COMPONENTS))
    known, rest = pre.parse_known_args()
    raise SystemExit(grid_main(grid_for(known.component), rest))
