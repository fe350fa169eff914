"""Table 4 of the Lt-Di paper: few-shot domain generalisation on DomainNet (Sketch held out), 5-way
1-shot and 20-way 5-shot, ResNet-12 body - Mc-Di's Table 4 protocol (reproduce/table4.py) with the
Lt-Di paper's rows and values.

    python reproduce/ltdi_table4.py --profile cpu --data /path/with/domainnet
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from dataclasses import replace

from benchmark.cli import grid_main
from table4 import GRID as TABLE4

GRID = replace(
    TABLE4, table="ltdi_table4", paper_table="table4", source="lt-di",
    caption="Lt-Di paper, DomainNet (Sketch held out): few-shot accuracy (\\%) and per-sample latency; ours (paper).",
    methods=["reptile", "meta-baseline", "meta-hypernetwork", "ocd", "ghn3", "meta-diff", "lv-di", "lt-di",
             "ref-target-head", "ref-centroid"],
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
