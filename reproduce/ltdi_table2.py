"""Table 2 of the Lt-Di paper: "zero-shot" transfer learning - Mc-Di's Table 2 protocol
(reproduce/table2.py: targets, readings, cpu stand-in for ImageNet-1k) with the Lt-Di paper's rows
REPTILE, Meta-Baseline, ICIS, GHN3, Lv-Di and Lt-Di and its values (e.g. GHN3 on CIFAR-10: 61.18
here, 51.80 in Mc-Di's Table 2). Shared cells (ICIS, GHN3) are computed once.

    python reproduce/ltdi_table2.py --profile cpu --data ../shared/data
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from dataclasses import replace

from benchmark.cli import grid_main
from table2 import GRID as TABLE2

GRID = replace(
    TABLE2, table="ltdi_table2", paper_table="table2", source="lt-di",
    caption=TABLE2.caption.replace("Transfer learning", "Lt-Di paper, zero-shot transfer learning"),
    methods=["reptile", "meta-baseline", "icis", "ghn3", "lv-di", "lt-di", "ref-centroid"],
    variants=[("labels=none", "lv-di", {"transfer_labels": "none"}),
              ("labels=none", "lt-di", {"transfer_labels": "none"})],
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
