"""Why Meta-Hypernetwork's Omniglot 5-shot accuracy ranged from 80.9% to 96.4% over seeds (issue 6):
the same 5 seeds of its Omniglot 5-way 5-shot cell (Conv4-64 body) under three settings.

- ``A``: no gradient clipping, the last iterate (the former behaviour: it reproduces the former
  records exactly);
- ``D``: no clipping, the checkpoint chosen on meta-val episodes (its curve shows the training);
- ``C``: meta-gradients clipped to norm 1 and the checkpoint chosen on meta-val (the defaults).

    python reproduce/hypernetwork_stability.py --profile cpu --jobs 2
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid, grid_main

GRID = Grid(
    table="mh",
    caption="Meta-Hypernetwork, Omniglot 5-way 5-shot: A no clipping + last iterate; D no clipping + "
            "validation selection; C clipping + validation selection (the defaults).",
    methods=[],
    datasets=["omniglot"],
    settings=[(5, 5)],
    variants=[("A", "meta-hypernetwork", {"clip": 0.0, "selection": "last"}),
              ("D", "meta-hypernetwork", {"clip": 0.0}),
              ("C", "meta-hypernetwork", {})],
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
