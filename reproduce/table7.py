"""Table 7 of Mc-Di (Appendix F.2): Table 6's grid (REPTILE, Tw-Di, Mv-Di, Mc-Di x Swin Transformer,
ResNet18, MobileNetV2, 5-way 1-shot) on Mini-ImageNet.

    python reproduce/table7.py --profile cpu --data ../shared/data
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from dataclasses import replace

from benchmark.cli import grid_main
from table6 import GRID as TABLE6

GRID = replace(TABLE6, table="table7", datasets=["mini-imagenet"],
               caption="Mini-ImageNet 5-way 1-shot accuracy (\\%) with other bodies; ours (paper).")

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
