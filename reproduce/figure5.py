"""Figure 5 of Mc-Di: the training curve of each local consistency loss L^i (k = 3) on
Omniglot 5-way 1-shot, from the meta-trained Mc-Di of one seed (training it if needed).

    python reproduce/figure5.py --profile cpu --data ../shared/data --seed 0
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
import argparse
import sys
from pathlib import Path

import pandas as pd

from benchmark.cells import Cell
from benchmark.config import PROFILES, cache_root, data_root
from benchmark.plots import line_plot
from benchmark.runner import trained_method
from benchmark.tables import write_text_atomic

REPO = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="cpu", choices=PROFILES)
    p.add_argument("--dataset", default="omniglot")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data")
    p.add_argument("--cache")
    p.add_argument("--device", default="cpu")
    p.add_argument("--results", default=str(REPO / "results"))
    args = p.parse_args(argv)
    root = data_root(args.data) if args.dataset != "synthetic" else None
    cell = Cell("table1", "mc-di", args.dataset, 5, 1, args.seed, args.profile)
    method, _, _, _ = trained_method(cell, root, cache_root(args.cache), args.device)
    df = pd.DataFrame(method.curves, columns=["iteration", "i", "loss"])
    df["objective"] = "L^" + df["i"].astype(str)
    stem = Path(args.results) / ("figure5" if args.profile == "cpu" else f"figure5_{args.profile}")
    write_text_atomic(df.to_csv(index=False), Path(f"{stem}.csv"))
    line_plot(df, x="iteration", y="loss", hue="objective", path=Path(f"{stem}.png"),
              title=f"Mc-Di local consistency losses, {args.dataset} 5-way 1-shot (seed {args.seed})",
              logy=True)
    print(df.groupby(["objective"]).loss.describe().to_string())
    print(f"wrote {stem}.csv and {stem}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
