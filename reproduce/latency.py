"""A latency sitting of a table: every row of each column timed in one process, by this code, on the
same test tasks, in interleaved rounds (benchmark/latency.py); REPORT.md then judges the table's
latency claim on it instead of on the records' latency column, whose rows may come from different
commits and loads.

    python reproduce/latency.py --table table3 --profile cpu --seeds 0
    python reproduce/report.py

Each row's meta-trained model comes from the cache (``--cache``/``$MCDI_CACHE``); one that is not
there is meta-trained first (and cached), so a sitting on a fresh cache costs a meta-training per row.
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
import argparse
import importlib.util
import sys
from pathlib import Path

from benchmark.cli import check_names
from benchmark.config import PROFILES, ConfigError, cache_root, data_root
from benchmark.data import DataMissingError, is_text
from benchmark.latency import run_sitting
from benchmark.report import REPORT_TABLES
from benchmark.runner import split_available
from methods import UnknownMethodError

REPO = Path(__file__).resolve().parent.parent


def load_grid(table: str):
    """The GRID a table's reproduce script declares."""
    path = REPO / "reproduce" / f"{table}.py"
    if not path.exists() or not table.replace("_", "").isalnum():
        raise ConfigError(f"no reproduce script {path}")
    if table not in REPORT_TABLES:
        raise ConfigError(f"{table} is not a table with a latency claim (a sitting serves one of: "
                          f"{', '.join(REPORT_TABLES)})")
    spec = importlib.util.spec_from_file_location(f"_grid_{table}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.GRID


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", required=True, help="a reproduce script's name, e.g. table3")
    p.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    p.add_argument("--data", default=None)
    p.add_argument("--cache", default=None)
    p.add_argument("--results", default=str(REPO / "results"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="whose meta-trained models (default: 0)")
    p.add_argument("--methods", nargs="+")
    p.add_argument("--datasets", nargs="+")
    p.add_argument("--rounds", type=int, default=5, help="timing rounds, each in another row order")
    p.add_argument("--episodes", type=int, default=20, help="test tasks timed per round (after one warm-up)")
    args = p.parse_args(argv)
    try:
        grid = load_grid(args.table)
        check_names(grid, args.methods, args.datasets)
        if args.rounds < 2 or args.episodes < 1:
            raise ConfigError("--rounds must be >= 2 (rounds are the pairing unit) and --episodes >= 1")
        cells = grid.cells(args.profile, args.seeds, args.methods, args.datasets)
        if any(is_text(c.dataset) for c in cells):
            raise ConfigError(f"{args.table}: text cells time a whole fine-tuning per task (Table 5), already in "
                              "thread CPU time in every record; a sitting times few-shot adapts only")
        root = data_root(args.data) if not all(c.dataset == "synthetic" for c in cells) else None
        cells, missing = split_available(cells, root)
        for name, msg in missing.items():
            print(f"WARNING skipping {name} columns (missing data): {msg.splitlines()[0]}", file=sys.stderr)
        if not cells:
            raise ConfigError(f"no column of {args.table} has its data here: {next(iter(missing.values()))}")
        path = run_sitting(cells, root, cache_root(args.cache), args.results, grid.out_name or grid.table,
                           args.profile, args.device, args.rounds, args.episodes)
    except (ConfigError, DataMissingError, UnknownMethodError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
