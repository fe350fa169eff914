"""Table 8 of Mc-Di: 5-way 1-shot on the last five Meta-Dataset sources (Traffic Signs, MSCOCO, MNIST,
CIFAR-100, CIFAR-10), meta-trained on the first eight (ResNet-12 body).

    python reproduce/table8.py --profile cpu --data /path/with/meta-dataset

Meta-Dataset is not at hand here: without it every cell says *missing data*. The reader
(benchmark/data/metadataset.py) takes the official conversion's tfrecords without TensorFlow.
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from benchmark.cli import Grid, grid_main
from benchmark.data.metadataset import TEST_SOURCES

GRID = Grid(
    table="table8",
    caption="Meta-Dataset, 5-way 1-shot on the five unseen sources: accuracy (\\%) and per-sample latency; "
            "ours (paper).",
    methods=["reptile", "meta-baseline", "meta-hypernetwork", "ghn3", "ocd", "meta-diff", "d2nwg", "mv-di", "mc-di",
             "ref-target-head", "ref-centroid"],
    datasets=[f"md-{s}" for s in TEST_SOURCES],
    settings=[(5, 1)],
    backbone="resnet12",
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
