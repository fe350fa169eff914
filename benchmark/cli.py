"""The command line shared by every ``reproduce/*.py`` script: a script declares its
grid (methods x datasets x settings x seeds) and calls :func:`grid_main`.

Example (a reproduce script):
    >>> GRID = Grid("table3", methods=["reptile"], datasets=["omniglot"], settings=[(5, 1)])
    >>> len(GRID.cells("smoke", seeds=range(2)))
    2
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .cells import Cell
from .config import PROFILES, ConfigError, cache_root, compile_sampler, data_root, parse_setting
from .data import DataCorruptError, DataMissingError
from .runner import run_grid
from .sweep import EXECUTORS, ExecutorOptions, print_status, submit_grid, sweep_status
from .tables import build_table, latency_note, load_records, write_table

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Grid:
    """A reproduce script's grid: rows (methods, then variants) x datasets x (way, shot) settings x seeds.

    Example:
        >>> grid = Grid("table3", methods=["reptile", "mc-di"], datasets=["omniglot"], settings=[(5, 1), (5, 5)])
        >>> [m for _, m, _ in grid.rows()], len(grid.cells("cpu", seeds=[0]))
        (['reptile', 'mc-di'], 4)
    """
    table: str
    methods: list
    datasets: list
    settings: list                          # [(way, shot), ...]
    seeds: tuple = (0, 1, 2, 3, 4)
    caption: str = ""
    source: str = "mc-di"                   # which paper's numbers to put beside ours
    variants: dict | list = field(default_factory=dict)   # label -> (method, options), or [(label, method, options)]
    backbone: str = "conv4"
    backbones: tuple = ()                   # a grid over bodies (Tables 6-7): one table column per body
    out_name: str = ""                      # output file stem (default: the table name)
    paper_table: str = ""                   # which of the paper's tables holds its numbers (default: table)
    latency: str = "per-sample"             # "per-task": Table 5's fine-tuning time per task (s)
    dataset_settings: dict = field(default_factory=dict)   # dataset -> its own [(way, shot), ...] (Table 2)

    def rows(self) -> list:
        """(row label, method, options) for every row: plain methods, then variants."""
        out = [("", m, ()) for m in self.methods]
        items = self.variants.items() if isinstance(self.variants, dict) else \
            [(label, (m, opts)) for label, m, opts in self.variants]
        out += [(label, m, tuple(sorted(opts.items()))) for label, (m, opts) in items]
        return out

    def cells(self, profile: str, seeds=None, methods=None, datasets=None, overrides=(), tag: str = "",
              hp=()) -> list:
        """Every cell of the grid; ``overrides`` (pipeline settings, see :func:`parse_overrides`)
        are added to every row's options and ``tag`` to its label; ``hp`` (method hyper-parameters,
        see :func:`parse_hp_options`) likewise, and only the rows whose method has every one of them
        are kept."""
        seeds = list(self.seeds if seeds is None else seeds)
        cells = []
        for variant, m, opts in self.rows():
            if hp and not _has_hp(m, profile, dict(hp)):
                continue
            extra = tuple(overrides) + tuple(hp)
            if extra:
                opts = tuple(sorted({**dict(opts), **dict(extra)}.items()))
                variant = f"{variant}+{tag}" if variant else tag
            if methods and m not in methods and variant not in methods:
                continue
            for d in self.datasets:
                if datasets and d not in datasets:
                    continue
                for body in self.backbones or (self.backbone,):
                    for way, shot in self.dataset_settings.get(d, self.settings):
                        for s in seeds:
                            cells.append(Cell(self.table, m, d, way, shot, s, profile, body, opts, variant))
        return cells


def parser(grid: Grid) -> argparse.ArgumentParser:
    """The command line of a reproduce script running ``grid``.

    Example:
        >>> grid = Grid("table3", methods=["reptile"], datasets=["omniglot"], settings=[(5, 1)])
        >>> args = parser(grid).parse_args(["--seeds", "0", "1", "--jobs", "2"])
        >>> args.profile, args.seeds, args.jobs, args.executor
        ('cpu', [0, 1], 2, 'inline')
    """
    p = argparse.ArgumentParser(description=f"Reproduce {grid.table}: {grid.caption}")
    p.add_argument("--profile", default="cpu", choices=PROFILES)
    p.add_argument("--data", help="data root (default: $MCDI_DATA)")
    p.add_argument("--cache", help="cache dir for decoded data, bodies, meta-trained methods "
                                   "(default: $MCDI_CACHE or ~/.cache/mcdi)")
    p.add_argument("--results", default=str(REPO / "results"), help="results directory")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (default: 0 1 2 3 4)")
    p.add_argument("--methods", nargs="+", help="only these methods")
    p.add_argument("--datasets", nargs="+", help="only these datasets")
    p.add_argument("--force", action="store_true", help="redo finished cells")
    p.add_argument("--jobs", type=int, default=1, help="cells run in parallel worker processes ($MCDI_THREADS torch threads each, default 1)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--table-only", action="store_true", help="only aggregate the records present (all of the grid's)")
    p.add_argument("--allow-shrink", action="store_true",
                   help="write the table even if it has fewer measured rows or seeds than the file it replaces")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="pipeline settings for every cell, e.g. --set body_width=64 body_epochs=5; the rows "
                        "are labelled with them and the table goes to <table>[_<profile>]_<tag>")
    p.add_argument("--compile", action="store_true",
                   help="time the diffusion methods' generation compiled whole (torch.compile, C++ wrapper; "
                        "$MCDI_COMPILE): the same numbers, less latency; needs a C++ compiler; the other methods run as "
                        "always (no latency verdicts in REPORT.md). One table is timed one way: use another "
                        "--results folder than the other way's records")
    p.add_argument("--option", nargs="+", default=[], metavar="KEY=VALUE", dest="hp_options",
                   help="method hyper-parameters, e.g. --option prep_max_steps=200: only the rows whose method "
                        "has them run; labelled and tabled as with --set")
    p.add_argument("--tag", help="name of a --set / --option run's rows and table (default: built from them)")
    p.add_argument("--model", help="text tables: a local Hugging Face checkpoint folder (same as --set model=PATH)")
    g = p.add_argument_group("sweeps (submitit)")
    g.add_argument("--executor", default="inline", choices=EXECUTORS,
                   help="inline: in this process (default); local: submitit's local executor; slurm: a SLURM job array")
    g.add_argument("--status", action="store_true", help="show pending/running/done/failed cells of the sweep and exit")
    g.add_argument("--partition", help="SLURM partition")
    g.add_argument("--gpus-per-node", type=int, help="GPUs per task")
    g.add_argument("--cpus-per-task", type=int, help="CPU cores per task (default 1)")
    g.add_argument("--mem", type=float, dest="mem_gb", help="memory per task in GB")
    g.add_argument("--timeout-min", type=int, help="time limit per task in minutes (default 120)")
    g.add_argument("--array-parallelism", type=int, help="tasks of the array running at once (default 64)")
    g.add_argument("--slurm-extra", nargs="*", default=[], metavar="KEY=VALUE",
                   help="more sbatch options, e.g. --slurm-extra qos=high constraint=a100")
    return p


def parse_overrides(pairs: list, tag: str | None = None) -> tuple:
    """``--set KEY=VALUE ...`` -> (sorted option pairs, tag). Only pipeline settings
    (:data:`benchmark.config.SETTING_RULES`) are accepted, each type- and range-checked.

    Example:
        >>> parse_overrides(["body_width=64", "body_epochs=5"])
        ((('body_epochs', 5), ('body_width', 64)), 'body_epochs5-body_width64')
    """
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not raw:
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key] = parse_setting(key, raw)                  # typed and range-checked, or one clear error
    opts = tuple(sorted(out.items()))
    if tag is None:
        tag = "-".join(f"{k}{Path(str(v)).name if k == 'model' else v}" for k, v in opts)
    if opts:
        check_tag(tag)
    return opts, tag


def check_tag(tag: str) -> None:
    """A run's row and table label: letters, digits, '-', '_' or '.' (one clear error otherwise).

    Example:
        >>> check_tag("body_width64-lr0.1")
        >>> check_tag("wide body")
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: --tag must be letters, digits, '-', '_' or '.', got 'wide body'
    """
    if not tag.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"--tag must be letters, digits, '-', '_' or '.', got {tag!r}")


def _has_hp(method: str, profile: str, hp: dict) -> bool:
    """Whether a registered ``method`` has every key of ``hp`` among its ``profile`` hyper-parameters."""
    from methods import get_method, registered
    return method in registered() and set(hp) <= set(get_method(method).DEFAULTS.get(profile, {}))


def _typed(key: str, raw: str, default):
    """``raw`` read as the type of ``default`` (bool, int, float or str): one clear error otherwise."""
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes"):
            return True
        if raw.lower() in ("0", "false", "no"):
            return False
        raise ConfigError(f"--option {key}={raw}: expected true or false")
    if isinstance(default, (int, float)):
        try:
            value = type(default)(raw)
            if isinstance(default, int) and float(raw) != value:
                raise ValueError
        except ValueError:
            raise ConfigError(f"--option {key}={raw}: expected {'an integer' if isinstance(default, int) else 'a number'}"
                              ) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"--option {key}={raw}: not a finite number")
        return value
    return raw


def parse_hp_options(pairs: list, grid: Grid, profile: str, methods=None) -> tuple:
    """``--option KEY=VALUE ...`` -> sorted (key, value) pairs of method hyper-parameters, each typed
    as the default of a row's method that has it. A key no row's method has is one clear error naming
    the rows' methods; a row whose method lacks a key is left out of the run (see :meth:`Grid.cells`).

    Example:
        >>> parse_hp_options(["prep_max_steps=200"], Grid("table5", methods=["lora", "mc-di-lora"],
        ...                  datasets=["glue-mrpc"], settings=[(2, 0)]), "cpu")
        (('prep_max_steps', 200),)
    """
    from methods import get_method, registered
    rows = [m for label, m, _ in grid.rows() if m in registered() and (not methods or m in methods or label in methods)]
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not raw:
            raise ConfigError(f"--option expects KEY=VALUE, got {pair!r}")
        having = [m for m in dict.fromkeys(rows) if key in get_method(m).DEFAULTS.get(profile, {})]
        if not having:
            known = sorted({k for m in rows for k in get_method(m).DEFAULTS.get(profile, {})})
            raise ConfigError(f"--option: no row of {grid.table} has a hyper-parameter {key!r} (profile {profile}); "
                              f"theirs: {', '.join(known)}")
        out[key] = _typed(key, raw, get_method(having[0]).DEFAULTS[profile][key])
    return tuple(sorted(out.items()))


def table_stem(results_dir: Path, table: str, profile: str) -> Path:
    """``results/<table>`` for the cpu profile, ``results/<table>_<profile>`` otherwise.

    Example:
        >>> table_stem("results", "table3", "cpu").as_posix(), table_stem("results", "table3", "paper").as_posix()
        ('results/table3', 'results/table3_paper')
    """
    return Path(results_dir) / (table if profile == "cpu" else f"{table}_{profile}")


def check_names(grid: Grid, methods, datasets) -> None:
    """``--methods`` / ``--datasets`` must name rows and datasets of this grid (exact spelling).

    Example:
        >>> grid = Grid("table3", methods=["reptile"], datasets=["omniglot"], settings=[(5, 1)])
        >>> check_names(grid, ["reptile"], ["omniglot"])
        >>> check_names(grid, None, ["Omniglot"])
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: --datasets: 'Omniglot' is not a dataset of table3; choose from omniglot (...)
    """
    from methods import get_method
    labels = {m for _, m, _ in grid.rows()} | {v for v, _, _ in grid.rows() if v}
    for m in methods or []:
        if m not in labels:
            get_method(m)                                  # not registered at all: the registered list
            raise ConfigError(f"--methods: {m!r} is not a row of {grid.table}; its rows: {', '.join(sorted(labels))}")
    for d in datasets or []:
        if d not in grid.datasets:
            raise ConfigError(f"--datasets: {d!r} is not a dataset of {grid.table}; choose from "
                              f"{', '.join(grid.datasets)} (names are lower case)")


def check_not_shrinking(df, csv_path: Path) -> None:
    """Refuse to replace a table by one with fewer measured rows or fewer seeds in a row.

    Example:
        >>> import pandas as pd, tempfile
        >>> csv = Path(tempfile.mkdtemp()) / "table3.csv"
        >>> row = {"method": "reptile", "dataset": "omniglot", "way": 5, "shot": 1}
        >>> pd.DataFrame([{**row, "n_seeds": 5}]).to_csv(csv, index=False)
        >>> check_not_shrinking(pd.DataFrame([{**row, "n_seeds": 5}]), csv)
        >>> check_not_shrinking(pd.DataFrame([{**row, "n_seeds": 2}]), csv)
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: .../table3.csv has more measured rows or seeds than the records give now (...
    """
    import pandas as pd
    if not csv_path.exists():
        return
    try:
        old = pd.read_csv(csv_path)
    except Exception:
        return                                             # unreadable: it is replaced
    key = ["method", "dataset", "way", "shot"]
    old = old[old["n_seeds"] > 0].set_index(key)["n_seeds"]
    new = df[df["n_seeds"] > 0].set_index(key)["n_seeds"]
    lost = [k for k in old.index if k not in new.index or new[k] < old[k]]
    if lost:
        shown = ", ".join(f"{m} {d} ({w},{s})" for m, d, w, s in lost[:4])
        raise ConfigError(f"{csv_path} has more measured rows or seeds than the records give now ({shown}"
                          f"{', ...' if len(lost) > 4 else ''}); its records were removed or moved. Pass "
                          f"--allow-shrink to write the smaller table anyway")


def check_one_sampler_path(records: list, compiled: bool) -> None:
    """One table's latencies are timed one way: raise if its records present were timed with the other
    sampler path (``--compile`` or not; a record without the field predates it: not compiled).

    Example:
        >>> check_one_sampler_path([{"compiled_sampler": False}, {}], compiled=False)
        >>> check_one_sampler_path([{"compiled_sampler": True}], compiled=False)
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: 1 of this table's records were timed with the compiled sampler (--compile); ...
    """
    other = [r for r in records if bool(r.get("compiled_sampler", False)) != compiled]
    if other:
        theirs, ours = ("without", "with") if compiled else ("with", "without")
        raise ConfigError(f"{len(other)} of this table's records were timed {theirs} the compiled sampler (--compile); "
                          f"one table's latencies are timed one way: run {theirs} --compile, or pass another "
                          f"--results folder than theirs for the run {ours} it")


def grid_main(grid: Grid, argv=None) -> int:
    """Run a grid from the command line, then write its table. Returns an exit code.

    Names, options and settings are checked before anything runs; the table is always built from
    every record present for the whole grid (a run restricted by ``--methods``, ``--datasets`` or
    ``--seeds`` adds its cells, it never replaces the others), and never replaces a table that has
    more measured rows or seeds unless ``--allow-shrink``.

    Example:
        >>> import tempfile
        >>> grid = Grid("demo", methods=["reptile"], datasets=["synthetic"], settings=[(5, 1)], seeds=(0,))
        >>> grid_main(grid, ["--status", "--results", tempfile.mkdtemp()])
        not: 1
          not submitted               demo/cpu/reptile/synthetic (5,1) seed 0
        0
    """
    from methods import UnknownMethodError, registered
    from .cells import CorruptRecordError
    from .runner import preflight, split_available
    args = parser(grid).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        check_names(grid, args.methods, args.datasets)
        if args.seeds is not None and any(s < 0 for s in args.seeds):
            raise ConfigError("--seeds must be non-negative integers")
        root = data_root(args.data) if not all(d == "synthetic" for d in grid.datasets) else None
        cache = cache_root(args.cache)
        overrides, tag = parse_overrides(args.overrides + ([f"model={args.model}"] if args.model else []),
                                         args.tag)
        hp = parse_hp_options(args.hp_options, grid, args.profile, args.methods)
        if hp and not args.tag:
            tag = "-".join(t for t in (tag if overrides else "", "-".join(f"{k}{v}" for k, v in hp)) if t)
        if hp:
            check_tag(tag)
        overridden = bool(overrides or hp)
        if args.compile:
            os.environ["MCDI_COMPILE"] = "1"             # read by every cell, in this process and its workers
        all_cells = grid.cells(args.profile, args.seeds, args.methods, args.datasets, overrides, tag, hp)
        sweep_name = f"{grid.table}_{tag}" if overridden else grid.table
        runnable = [c for c in all_cells if c.method in registered()]
        absent = sorted({c.method for c in all_cells} - set(registered()))
        if absent:
            print(f"not implemented yet (rows left out, not faked): {', '.join(absent)}")
        if args.status:
            print_status(sweep_status(runnable, args.results, sweep_name, args.profile))
            return 0
        opts = ExecutorOptions.parse(args.executor, args.slurm_extra, partition=args.partition,
                                     gpus_per_node=args.gpus_per_node, cpus_per_task=args.cpus_per_task,
                                     mem_gb=args.mem_gb, timeout_min=args.timeout_min,
                                     array_parallelism=args.array_parallelism)
        # everything checkable before training: options, settings, episode shapes on the data present
        missing = preflight(runnable, root, cache) if not args.table_only else split_available(runnable, root)[1]
        if runnable and all(c.dataset in missing for c in runnable) and not args.table_only:
            for msg in missing.values():
                print(f"error: {msg}", file=sys.stderr)
            return 2
        if not args.table_only:
            check_one_sampler_path(load_records(args.results, grid.table, args.profile), compile_sampler())
        failed = []
        if not args.table_only and opts.kind == "inline":
            out = run_grid(runnable, root, cache, args.results, args.device, args.force, not args.no_progress,
                           args.jobs)
        elif not args.table_only:
            out = submit_grid(runnable, root, cache, args.results, args.device, args.force, opts, sweep_name,
                              args.profile)
            failed = out["failed"]
        # the table: every registered row of the whole grid that has records, over all seeds present
        shown = [c for c in grid.cells(args.profile, None, None, None, overrides, tag, hp) if c.method in registered()]
        all_records = load_records(args.results, grid.table, args.profile)
        have = {(r["cell"]["method"], r["cell"].get("variant") or "") for r in all_records}
        if not (args.table_only and not all_records and shown and all(c.dataset in missing for c in shown)):
            shown = [c for c in shown if (c.method, c.variant) in have]
        # else: --table-only on a grid none of whose data is here: every row "missing data", the paper's beside
        wanted = {(c.method, c.dataset, c.way, c.shot, c.variant, c.backbone) for c in shown}
        records = [r for r in all_records
                   if (r["cell"]["method"], r["cell"]["dataset"], r["cell"]["way"], r["cell"]["shot"],
                       r["cell"].get("variant") or "", r["cell"].get("backbone", "conv4")) in wanted]
        df = build_table(records, shown, grid.paper_table or grid.table, missing, grid.source,
                         expected_seeds=len(grid.seeds), by_body=bool(grid.backbones))
        if df.empty:
            raise ConfigError(f"no records of {grid.table} ({args.profile}) under {args.results}/runs: nothing to "
                              f"tabulate, no table written")
        stem = table_stem(args.results, grid.out_name or grid.table, args.profile)
        if overridden:
            stem = stem.with_name(f"{stem.name}_{tag}")
        if not args.allow_shrink:
            check_not_shrinking(df, Path(f"{stem}.csv"))
        csv_path, tex_path = write_table(df, stem, grid.caption, grid.latency,
                                         latency_note(records, "task" if grid.latency == "per-task" else "query sample"))
    except (UnknownMethodError, ConfigError, DataMissingError, DataCorruptError, CorruptRecordError,
            FloatingPointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with_pd = df[["method", "dataset", "way", "shot", "n_seeds", "acc_mean", "acc_std", "paper_acc_mean",
                  "latency_ms", "status"]]
    print(with_pd.round(2).to_string(index=False))
    print(f"wrote {csv_path} and {tex_path}")
    if failed:
        print(f"{len(failed)} task(s) ended without their records; rerun the same command to resubmit only those",
              file=sys.stderr)
        return 1
    return 0
