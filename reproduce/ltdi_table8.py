"""Table 8 of the Lt-Di paper (Appendix): Lt-Di's Table 7 grid (REPTILE, LLO-VAE, Lv-Di, Lt-Di x Swin
Transformer, ResNet18, MobileNetV2, 5-way 1-shot) on Mini-ImageNet.

    python reproduce/ltdi_table8.py --profile cpu --data ../shared/data
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from dataclasses import replace

from benchmark.cli import grid_main
from ltdi_table7 import GRID as TABLE7

GRID = replace(TABLE7, table="ltdi_table8", paper_table="table8", datasets=["mini-imagenet"],
               caption="Lt-Di paper, Mini-ImageNet 5-way 1-shot accuracy (\\%) with other bodies; ours (paper).")

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
