"""Table 2 of Mc-Di: transfer learning - meta-train on tasks of ImageNet-1k classes, then generate
the classifier of each target dataset (CIFAR-10, CIFAR-100, STL-10, Aircraft, Pets) "without any
labeled data to adjust the models"; ResNet-12 body with a linear probe; accuracy on the target's
whole test set and per-sample latency.

    python reproduce/table2.py --profile cpu --data ../shared/data        # CIFAR-10 (the target at hand)
    python reproduce/table2.py --profile paper --data /path/with/imagenet-and-targets

The cpu profile meta-trains on mini-ImageNet's 64 training classes (the stand-in for ImageNet-1k,
not at hand) with a ResNet-12 of width x0.25 at 32x32; the paper profile on ImageNet-1k
(``<data>/imagenet/{train,val}/<wnid>/``). Each task is the target's every class (way = its number
of classes); by the default reading 5 labelled images per class condition the generator and no
gradient step is taken; ``[labels=none]`` rows are the other reading (no label at all: k-means
clusters stand for the classes, scored after the best cluster-to-class matching). docs/readings.md,
"Table 2".
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid, grid_main

# way = the target's number of classes; shot = labelled images per class used only as conditioning
TARGETS = {"cifar10": 10, "cifar100": 100, "stl10": 10, "aircraft": 100, "pets": 37}
SHOT = 5

GRID = Grid(
    table="table2",
    caption="Transfer learning accuracy (\\%) on the targets' test sets and per-sample latency; ours (cpu "
            "profile: meta-trained on mini-ImageNet's training classes, a stand-in for ImageNet-1k, ResNet-12 "
            "x0.25 at 32x32) (paper: ImageNet-1k, ResNet-12).",
    methods=["icis", "ghn3", "d2nwg", "mv-di", "mc-di", "ref-centroid"],
    datasets=list(TARGETS),
    settings=[],
    dataset_settings={d: [(way, SHOT)] for d, way in TARGETS.items()},
    backbone="resnet12",
    # the other reading of "without any labeled data": no label at all (docs/readings.md, "Table 2")
    variants=[("labels=none", "mv-di", {"transfer_labels": "none"}),
              ("labels=none", "mc-di", {"transfer_labels": "none"})],
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
