"""results/REPORT.md from the committed records: every table's cells ours vs the paper, and the
papers' claims as paired tests with verdicts (see benchmark/report.py).

    python reproduce/report.py --profile cpu
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
import argparse
from pathlib import Path

from benchmark.report import write_report

REPO = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--results", default=str(REPO / "results"))
    args = p.parse_args()
    print(f"wrote {write_report(Path(args.results), args.profile)}")
