"""Table 6 of Mc-Di (Appendix F.2): Omniglot 5-way 1-shot with other bodies - Swin Transformer, ResNet18,
MobileNetV2 (timm, trained from scratch on the meta-training classes, no hub weights) - for REPTILE,
Tw-Di, Mv-Di and Mc-Di; one column per body. Two rows that are not the paper's, as in Table 1: REPTILE
started from the shared body every other row uses (``reptile[pretrained]``: the paper's REPTILE meta-trains
the whole network from scratch, which the cpu profile's 100 iterations cannot do for a Swin-T), and the
nearest-centroid reference on that body (what the body alone gives).

    python reproduce/table6.py --profile cpu --data ../shared/data
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid, grid_main

GRID = Grid(
    table="table6",
    caption="Omniglot 5-way 1-shot accuracy (\\%) with other bodies; ours (paper).",
    methods=["reptile", "tw-di", "mv-di", "mc-di", "ref-centroid"],
    datasets=["omniglot"],
    settings=[(5, 1)],
    backbones=("swin", "resnet18", "mobilenetv2"),
    variants=[("pretrained", "reptile", {"init_body": "pretrained"})],   # REPTILE from the shared body
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
