"""Table 7 of the Lt-Di paper (Appendix): Omniglot 5-way 1-shot with other bodies (Swin Transformer,
ResNet18, MobileNetV2 from timm, trained from scratch) for REPTILE, LLO-VAE, Lv-Di and Lt-Di - Mc-Di's
Table 6 grid (reproduce/table6.py) with the Lt-Di paper's rows and values, and Table 6's two extra rows
(REPTILE from the shared body, the nearest-centroid reference), whose cells are Table 6's.

    python reproduce/ltdi_table7.py --profile cpu --data ../shared/data
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from dataclasses import replace

from benchmark.cli import grid_main
from table6 import GRID as TABLE6

GRID = replace(TABLE6, table="ltdi_table7", paper_table="table7", source="lt-di",
               methods=["reptile", "llo-vae", "lv-di", "lt-di", "ref-centroid"],
               caption="Lt-Di paper, Omniglot 5-way 1-shot accuracy (\\%) with other bodies; ours (paper).")

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
