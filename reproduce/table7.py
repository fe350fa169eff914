"""Table 7 of Mc-Di (Appendix F.2): Mini-ImageNet 5-way 1-shot with other bodies - Swin Transformer, ResNet18,
MobileNetV2 (timm, trained from scratch on the meta-training classes, no hub weights) - for REPTILE,
Tw-Di, Mv-Di and Mc-Di; one column per body.

    python reproduce/table7.py --profile cpu --data ../shared/data
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid, grid_main

GRID = Grid(
    table="table7",
    caption="Mini-ImageNet 5-way 1-shot accuracy (\\%) with other bodies; ours (paper).",
    methods=["reptile", "tw-di", "mv-di", "mc-di"],
    datasets=["mini-imagenet"],
    settings=[(5, 1)],
    backbones=("swin", "resnet18", "mobilenetv2"),
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
