"""Run cells: meta-train (or load the cached meta-trained method), evaluate, and
write one JSON record per cell atomically. Finished cells are skipped unless
``force``; a killed run leaves no partial record, so a rerun redoes only what
is missing.

Example:
    >>> import tempfile
    >>> from benchmark.cells import Cell
    >>> cell, res = Cell("demo", "meta-baseline", "synthetic", 5, 1, 0, "smoke"), tempfile.mkdtemp()
    >>> rec = run_cell(cell, data_root=None, cache_dir=None, results_dir=res)
    >>> rec["cell"]["method"], rec["episodes"], 0 <= rec["acc"] <= 100, cell.record_path(res).is_file()
    ('meta-baseline', 20, True, True)
"""
from __future__ import annotations

import functools
import glob
import hashlib
import json
import logging
import platform
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .cells import Cell, load_record
from .config import ConfigError, check_settings, compile_sampler, cpu_threads, profile_settings, torch_threads
from .context import Context
from .data import ClusterEpisodeSampler, DataMissingError, EpisodeSampler, check_available, is_text, \
    load_for_settings, needed_datasets, queries_per_class
from .atomic import atomic_torch_save, write_json_atomic  # noqa: F401  (write_json_atomic re-exported)
from .evaluate_core import evaluate
from .progress import resumable
from .selection import Selector
from .timing import cell_timer, stage

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe`` of the harness, with ``-dirty`` if a tracked file outside ``results/`` is
    modified (the reproduce scripts rewrite the generated tables there after every run, which
    changes no code), or ``unknown``.

    Example:
        >>> code_version() is code_version()        # one git call per process (cached)
        True
    """
    try:
        out = subprocess.run(["git", "describe", "--always", "--abbrev=12"], cwd=REPO,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results"], cwd=REPO, capture_output=True, text=True, timeout=10)
        if out and (dirty.returncode != 0 or dirty.stdout.strip()):
            out += "-dirty"
        return out or "unknown"
    except Exception:
        return "unknown"


@functools.lru_cache(maxsize=1)
def environment() -> dict:
    """What besides the code decides a record's floats: the CPU model and the versions of the libraries that
    decode images and compute (the same code in another environment can round differently, and meta-training
    amplifies it; results/README.md, "Table 1 from an empty cache").

    Example:
        >>> sorted(environment())
        ['cpu', 'cpu_capability', 'numpy', 'pillow', 'python', 'timm', 'torchvision']
    """
    from importlib.metadata import PackageNotFoundError, version

    def ver(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    isa = getattr(torch.backends.cpu, "get_cpu_capability", lambda: None)()   # the kernels torch dispatches to
    return {"cpu": cpu, "cpu_capability": isa, "python": platform.python_version(), "numpy": ver("numpy"),
            "pillow": ver("pillow"), "torchvision": ver("torchvision"), "timm": ver("timm")}


# settings read only by the meta-test evaluation: a method meta-trained under either value is the same
# (the other evaluation settings predate this rule and stay in the key, so existing caches keep their keys)
TEST_ONLY_SETTINGS = ("test_query", "transfer_labels")


def training_scope(cell: Cell) -> tuple:
    """``(dataset, shot, options)`` of the cell as its method's meta-training sees them: ``"any"``
    for the shot (``SHOT_INDEPENDENT_TRAINING``), ``"anytask"`` for the dataset
    (``TASK_INDEPENDENT_TRAINING``), the options without the test-time ones (``TEST_TIME_HP``).
    Cells with one scope (same method, seed, ...) share one meta-training.

    Example:
        >>> c = Cell("table5", "mc-di-lora", "glue-qnli", 2, 0, 3, "cpu", options=(("finetune", True),))
        >>> training_scope(c)
        ('anytask', 'any', ())
    """
    from methods import get_method
    cls = get_method(cell.method)
    return ("anytask" if cls.TASK_INDEPENDENT_TRAINING else cell.dataset,
            "any" if cls.SHOT_INDEPENDENT_TRAINING else cell.shot,
            tuple((k, v) for k, v in cell.options if k not in cls.TEST_TIME_HP))


def method_checkpoint_key(cell: Cell, hp: dict, settings: dict) -> str:
    """Cache key of a meta-trained method: everything that determines it (not the table; not what
    its meta-training does not read, :func:`training_scope`).

    Example:
        >>> c = Cell("table3", "reptile", "omniglot", 5, 1, 0, "cpu")
        >>> method_checkpoint_key(c, *expected_config(c))           # REPTILE's training ignores the shot
        'reptile-omniglot-5wanys-seed0-...'
    """
    from methods import get_method
    dataset, shot, _ = training_scope(cell)
    hp = {k: v for k, v in hp.items() if k not in get_method(cell.method).TEST_TIME_HP}
    settings = {k: v for k, v in settings.items() if k not in TEST_ONLY_SETTINGS}
    parts = [cell.method, dataset, cell.way, shot, cell.seed, cell.profile, cell.backbone, hp, settings]
    if cpu_threads() != 1:                       # a method trained with other threads is another method
        parts.append({"threads": cpu_threads()})
    blob = json.dumps(parts, sort_keys=True, default=str)
    return f"{cell.method}-{dataset}-{cell.way}w{shot}s-seed{cell.seed}-" + \
        hashlib.sha1(blob.encode()).hexdigest()[:12]


def build_method(cell: Cell, ctx: Context):
    """The cell's method built on ``ctx`` with the cell's method options (not meta-trained yet).

    Example:
        >>> from types import SimpleNamespace
        >>> c = Cell("table3", "reptile", "omniglot", 5, 1, 0, "smoke")
        >>> type(build_method(c, SimpleNamespace(profile="smoke", cell=c))).__name__
        'Reptile'
    """
    from methods import get_method
    return get_method(cell.method)(ctx, **cell.method_options())


def shared_dataset(cell: Cell, data_root, cache_dir, datasets: dict):
    """Load ``cell``'s dataset once per (name, image size) across the cells of a grid.

    Example:
        >>> datasets = {}
        >>> ds = shared_dataset(Cell("demo", "reptile", "synthetic", 5, 1, 0, "smoke"), None, None, datasets)
        >>> again = shared_dataset(Cell("demo", "mc-di", "synthetic", 5, 5, 1, "smoke"), None, None, datasets)
        >>> again is ds, list(datasets)
        (True, [('synthetic', 16, None)])
    """
    s = profile_settings(cell.profile, cell.dataset)
    s.update(cell.settings_overrides())
    key = (cell.dataset, s["image_size"], s.get("transfer_source"))
    if key not in datasets:
        datasets[key] = load_for_settings(cell.dataset, data_root, s, cache_dir)
    return datasets[key]


def trained_method(cell: Cell, data_root, cache_dir, device="cpu", force=False, progress=False,
                   datasets: dict | None = None) -> tuple:
    """The cell's method, meta-trained (or loaded from the cache of meta-trained methods).

    Returns ``(method, ctx, meta_train_s, reused)``. Computes with :func:`cpu_threads` threads.

    Example:
        >>> trained_method(Cell("t", "lora", "synthetic", 5, 1, 0, "smoke"), None, None)   # checked before any work
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: t/smoke/lora/synthetic (5,1) seed 0: lora is a text method for GLUE tasks, but ...
    """
    with torch_threads(cpu_threads()):
        return _trained_method(cell, data_root, cache_dir, device, force, progress, datasets)


def _trained_method(cell: Cell, data_root, cache_dir, device, force, progress, datasets) -> tuple:
    validate_cell(cell)                          # unknown name, bad option or setting -> clear error before any work
    check_cell_data(cell, data_root)
    if is_text(cell.dataset):                    # Table 5: a GLUE task and the pretrained encoder
        from .text.context import TextContext
        ctx = TextContext.build(cell, data_root, cache_dir, device, progress)
    else:
        dataset = shared_dataset(cell, data_root, cache_dir, datasets) if datasets is not None else None
        ctx = Context.build(cell, data_root, cache_dir, device, progress, dataset=dataset)
    torch.manual_seed(cell.seed)
    method = build_method(cell, ctx)
    key = method_checkpoint_key(cell, method.hp, ctx.settings)
    ckpt = Path(cache_dir) / "methods" / f"{key}.pt" if cache_dir else None
    t0 = time.perf_counter()
    if ckpt is not None and ckpt.exists() and not force:
        bundle = torch.load(ckpt, map_location=ctx.device, weights_only=False)
        method.load_state_dict(bundle["state"])
        method.selection = bundle.get("selection")
        method.meta_trained_by = bundle.get("code_version", "unknown")
        return method, ctx, None, True
    method.selector = Selector.for_method(method)
    with resumable(ckpt.parent / "progress" / key if ckpt is not None else None) as store, stage("meta_train"):
        ctx.store = store                        # long loops save progress there; a rerun continues from it
        method.meta_train()
        method.resumed_at = dict(store.resumed) if store is not None else {}
        ctx.store = None
    if method.selector is not None:              # one model-selection rule for every method
        method.selector.finish()
        method.selection = method.selector.summary()
    meta_train_s = time.perf_counter() - t0
    assert_finite_state(method.state_dict(), f"{cell.method} (meta-trained)")   # never cache a diverged model
    if ckpt is not None:
        atomic_torch_save({"state": method.state_dict(), "selection": getattr(method, "selection", None),
                           "code_version": code_version()}, ckpt)
    method.meta_trained_by = code_version()
    return method, ctx, meta_train_s, False


def method_readings(method) -> dict:
    """The readings of the papers' ambiguities this cell ran with (docs/readings.md): the method's
    own (``readings()``) and, for generators trained on Algorithm 1's heads, the theta_0 reading and
    the distribution of M.

    Example:
        >>> from types import SimpleNamespace
        >>> c = Cell("table5", "lora", "glue-mrpc", 2, 0, 0, "smoke")
        >>> method_readings(build_method(c, SimpleNamespace(profile="smoke", cell=c)))
        {'hyper_parameters_from': 'LoRA (Hu et al. 2022) Table 9, ...'}
    """
    out = dict(method.readings()) if hasattr(method, "readings") else {}
    if hasattr(method, "preparation_summary"):
        out["preparation"] = method.preparation_summary()
    return out


def expected_config(cell: Cell) -> tuple:
    """``(hparams, settings)`` the cell will run with, from the registry and the profile alone (no data):
    what a finished record must hold to stand for this cell.

    Example:
        >>> hp, settings = expected_config(Cell("table3", "reptile", "omniglot", 5, 1, 0, "cpu"))
        >>> settings["image_size"], settings["test_episodes"], "inner_lr" in hp
        (28, 600, True)
    """
    from methods import get_method
    hp = get_method(cell.method).hyper_parameters(cell.profile, cell.dataset, cell.method_options(), cell.way)
    settings = profile_settings(cell.profile, cell.dataset)
    settings.update(cell.settings_overrides())
    return hp, settings


def json_key(x) -> str:
    """``x`` as canonical JSON (sorted keys, other values by ``str``): a key for settings and hyper-parameters.

    Example:
        >>> json_key({"body_width": 64, "image_size": 28}) == json_key({"image_size": 28, "body_width": 64})
        True
        >>> json_key({"root": Path("data")})
        '{"root": "data"}'
    """
    return json.dumps(x, sort_keys=True, default=str)


def _same_json(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def assert_finite_state(state, what: str) -> None:
    """Raise if any floating tensor in a (nested) state dict is NaN/inf.

    Example:
        >>> assert_finite_state({"w": torch.ones(2), "steps": torch.tensor([3])}, "demo")
        >>> assert_finite_state({"w": torch.ones(2), "opt": [{"m": torch.tensor([float("nan")])}]}, "demo")
        Traceback (most recent call last):
        ...
        FloatingPointError: demo: opt[0].m is non-finite; the training diverged (lower its learning rate), ...
    """
    def walk(x, name):
        if isinstance(x, torch.Tensor):
            if x.is_floating_point() and not torch.isfinite(x).all():
                raise FloatingPointError(f"{what}: {name} is non-finite; the training diverged (lower its "
                                         f"learning rate), nothing was cached or recorded")
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{name}.{k}" if name else str(k))
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(v, f"{name}[{i}]")
    walk(state, "")


def validate_cell(cell: Cell) -> None:
    """Check a cell's method options and pipeline settings without data: an unknown method or
    option, inconsistent settings (e.g. T not divisible by k with strict segments) or an
    out-of-range value is one :class:`ConfigError` naming the cell.

    Example:
        >>> validate_cell(Cell("table3", "reptile", "omniglot", 5, 1, 0, "cpu"))
        >>> validate_cell(Cell("table3", "reptile", "omniglot", 5, 1, 0, "cpu", options=(("body_width", 0),)))
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: --set body_width=0: must be >= 1
    """
    from types import SimpleNamespace

    from methods import get_method
    cls = get_method(cell.method)
    if (cls.MODALITY == "text") != is_text(cell.dataset):
        kind = "a GLUE task (Table 5)" if is_text(cell.dataset) else "an image dataset"
        raise ConfigError(f"{cell}: {cell.method} is a{'' if cls.MODALITY == 'images' else ' text'} method for "
                          f"{'GLUE tasks' if cls.MODALITY == 'text' else 'few-shot image episodes'}, but "
                          f"{cell.dataset} is {kind}")
    _, settings = expected_config(cell)
    check_settings(settings)
    try:
        cls(SimpleNamespace(profile=cell.profile, cell=cell), **cell.method_options())
    except ConfigError as exc:
        raise ConfigError(f"{cell}: {exc}") from None
    except ValueError as exc:                     # a method's own consistency check
        raise ConfigError(f"{cell}: {exc}") from None


def preflight(cells: list, data_root, cache_dir) -> dict:
    """Everything that can be checked before any training, for every cell: options and settings
    (:func:`validate_cell`), and, for each dataset present, that its splits hold the episodes the
    cells ask for (way, shot + query images per class; the validation split too). Returns
    ``{missing dataset: message}``; raises :class:`ConfigError` / data errors otherwise.

    Example:
        >>> import tempfile
        >>> cells = [Cell("demo", "reptile", d, 5, 1, 0, "smoke") for d in ("synthetic", "omniglot")]
        >>> list(preflight(cells, tempfile.mkdtemp(), None))          # an empty data root: omniglot is missing
        ['omniglot']
    """
    for c in {(c.method, c.options, c.profile, c.dataset): c for c in cells}.values():
        validate_cell(c)
    todo, missing = split_available(cells, data_root)
    datasets: dict = {}
    seen = set()
    for c in todo:
        _, settings = expected_config(c)
        if is_text(c.dataset):                   # the TSVs parse, the model loads, the subsets fit
            from .text.context import TextContext
            key = (c.dataset, json_key(settings))
            if key not in seen:
                seen.add(key)
                TextContext.build(c, data_root, cache_dir).task()
            continue
        key = (c.dataset, c.way, c.shot, json_key(settings))
        if key in seen:
            continue
        seen.add(key)
        ds = shared_dataset(c, data_root, cache_dir, datasets)
        test_labels = ds.splits["test"].labels
        if settings.get("transfer_labels") == "none":          # label-free cluster episodes (Table 2)
            try:
                ClusterEpisodeSampler.check_shape(test_labels, c.way, c.shot)
            except ConfigError as exc:
                raise ConfigError(f"{c.dataset} test split: {exc}") from None
        needs = [("test", queries_per_class(settings, test_labels, c.shot)), ("train", 0)]
        if settings.get("budget_cpu_s") or settings.get("mse_episodes"):   # the figures' curves need them;
            needs.append(("val", settings["query"]))      # selection="val" falls back to the last iterate
        for split, query in needs:
            try:
                EpisodeSampler(ds.splits[split].labels, c.way, c.shot, query, 0)
            except ConfigError as exc:
                raise ConfigError(f"{c.dataset} {split} split, {c.way}-way {c.shot}-shot: {exc}") from None
    return missing


def same_cell_elsewhere(cell: Cell, results_dir) -> Path | None:
    """A finished record of the same computation under another table: the same cell but for the
    table, *and* the same hyper-parameters and pipeline settings as this cell would run with now
    (a record made under superseded defaults is never reused), its latency timed the same way
    (``--compile`` or not). Failing that, a record of the row that computes the same thing under
    another name (:meth:`methods.base.Method.same_computation`: Lv-Di's cells are Mv-Di's), in any table.

    Example:
        >>> import tempfile
        >>> res = tempfile.mkdtemp(); a = Cell("table3", "reptile", "omniglot", 5, 1, 0, "cpu")
        >>> hp, settings = expected_config(a)
        >>> write_json_atomic({"cell": a.to_json(), "acc": 91.5, "hparams": hp, "settings": settings,
        ...                    "compiled_sampler": compile_sampler()}, a.record_path(res))
        >>> same_cell_elsewhere(replace(a, table="table9"), res).relative_to(res).as_posix()
        'runs/table3/cpu/reptile/omniglot_5w1s_seed0.json'
        >>> same_cell_elsewhere(replace(a, table="table9", seed=1), res) is None
        True
    """
    from methods import get_method
    hp, settings = expected_config(cell)
    candidates = [(cell, hp)]
    twin = get_method(cell.method).same_computation(hp)
    if twin is not None:                         # the same computation under another row's name
        candidates.append((replace(cell, method=twin[0]), twin[1]))
    for source, source_hp in candidates:
        rel = source.record_path(results_dir).relative_to(Path(results_dir) / "runs" / source.table)
        for p in sorted((Path(results_dir) / "runs").glob(f"*/{glob.escape(rel.as_posix())}")):  # rows may hold [...]
            rec = load_record(p)
            other = Cell.from_json(rec["cell"])
            if other != cell and replace(other, table=source.table) == source \
                    and _same_json(rec.get("hparams"), source_hp) and _same_json(rec.get("settings"), settings) \
                    and bool(rec.get("compiled_sampler", False)) == compile_sampler():   # latency timed the same way
                return p
    return None


def run_cell(cell: Cell, data_root, cache_dir, results_dir, device="cpu", force=False, progress=False,
             datasets: dict | None = None) -> dict:
    """Run one cell (or return its existing record) and write ``cell.record_path(results_dir)``.
    A per-cell lock makes a second run on the same results folder wait for a cell in progress and
    then take its record, instead of computing it twice.

    Example:
        >>> import tempfile
        >>> res = tempfile.mkdtemp(); c = Cell("demo", "reptile", "synthetic", 5, 1, 0, "smoke")
        >>> write_json_atomic({"cell": c.to_json(), "acc": 91.5}, c.record_path(res))
        >>> run_cell(c, None, None, res)["acc"]                     # finished: its record, nothing run
        91.5
    """
    path = cell.record_path(results_dir)
    if path.exists() and not force:
        return load_record(path)
    validate_cell(cell)                          # bad options/settings: an error before anything is written
    cpu_threads()
    check_cell_data(cell, data_root)
    with cell_lock(cell, results_dir):
        if path.exists() and not force:          # finished by another run while we waited
            return load_record(path)
        return _run_cell(cell, data_root, cache_dir, results_dir, device, force, progress, datasets)


@contextmanager
def cell_lock(cell: Cell, results_dir):
    """An exclusive ``flock`` on ``results/.locks/<record path>.lock`` (released if the process dies).

    Example:
        >>> import tempfile
        >>> res = tempfile.mkdtemp(); c = Cell("table3", "reptile", "omniglot", 5, 1, 0, "cpu")
        >>> with cell_lock(c, res):
        ...     (Path(res) / ".locks" / "runs/table3/cpu/reptile/omniglot_5w1s_seed0.lock").exists()
        True
    """
    import fcntl
    lock = _lock_path(cell, results_dir)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        except BaseException:                    # a failed cell leaves no lock files behind
            lock.unlink(missing_ok=True)
            for d in lock.parents:
                if d == Path(results_dir) or not d.is_dir() or any(d.iterdir()):
                    break
                d.rmdir()
            if Path(results_dir).is_dir() and not any(Path(results_dir).iterdir()):
                Path(results_dir).rmdir()
            raise
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _lock_path(cell: Cell, results_dir) -> Path:
    rel = cell.record_path(results_dir).relative_to(results_dir)
    return Path(results_dir) / ".locks" / rel.with_suffix(".lock")


def cell_running_here(cell: Cell, results_dir) -> bool:
    """Whether a process on this machine is computing ``cell`` now (it holds :func:`cell_lock`).

    Example:
        >>> import tempfile
        >>> res = tempfile.mkdtemp(); c = Cell("table3", "reptile", "omniglot", 5, 1, 0, "cpu")
        >>> cell_running_here(c, res)
        False
    """
    import fcntl
    lock = _lock_path(cell, results_dir)
    if not lock.exists():
        return False
    with open(lock) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def _run_cell(cell: Cell, data_root, cache_dir, results_dir, device, force, progress, datasets) -> dict:
    path = cell.record_path(results_dir)
    if not force:
        twin = same_cell_elsewhere(cell, results_dir)
        if twin is not None:                     # the same computation, finished for another table
            record = load_record(twin)
            source = Cell.from_json(record["cell"])
            if source.method != cell.method:     # another row's name for this computation: say which
                record["computed_as"] = {"method": source.method, "hparams": record["hparams"]}
                record["hparams"] = expected_config(cell)[0]
            record["cell"] = cell.to_json()
            record["copied_from"] = str(twin.relative_to(results_dir))
            write_json_atomic(record, path)
            return record
    code_version()
    t_start = time.perf_counter()
    with torch_threads(cpu_threads()), cell_timer() as stages_s:     # meta-training and evaluation alike
        method, ctx, meta_train_s, reused = _trained_method(cell, data_root, cache_dir, device, force, progress,
                                                            datasets)
        with stage("evaluate"):
            metrics = evaluate(method, ctx)
        threads = torch.get_num_threads()
    record = {
        "cell": cell.to_json(),
        "hparams": method.hp,
        "settings": ctx.settings,
        **metrics,
        "meta_train_s": meta_train_s,
        "meta_train_reused": reused,
        "meta_trained_by": getattr(method, "meta_trained_by", None),    # code version that meta-trained it
        "body": body_provenance_of(ctx),                              # the shared body's fingerprint, who pretrained it
        "meta_train_resumed_at": getattr(method, "resumed_at", {}),   # {loop: iteration} after a requeue/kill
        "selection": getattr(method, "selection", None),              # validation curve, chosen iteration
        "readings": method_readings(method),
        "wall_time_s": round(time.perf_counter() - t_start, 3),
        "stages_s": {k: round(v, 3) for k, v in stages_s.items()},   # benchmark/timing.py (exclusive; cache loads are no stage)
        "code_version": code_version(),
        "torch": torch.__version__,
        "env": environment(),                                         # CPU model, image/compute library versions
        "device": str(ctx.device),
        "host": platform.node(),
        "threads": threads,
        "compiled_sampler": compile_sampler(),                        # --compile: the timed generation compiled
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(record, path)
    return record


def body_provenance_of(ctx) -> dict | None:
    """The shared body's ``provenance`` (:func:`benchmark.body.body_provenance`) if the cell used one, else None
    (REPTILE from scratch, the text tasks).

    Example:
        >>> body_provenance_of(object()) is None
        True
    """
    body = getattr(ctx, "__dict__", {}).get("body")          # a cached property: present only once used
    return getattr(body, "provenance", None)


def _worker_init() -> None:
    torch.set_num_threads(cpu_threads())


@contextmanager
def workers_die_with_us(pool):
    """While inside, a SIGTERM to this process (``kill PID``, a scheduler's stop) terminates ``pool``'s
    worker processes too, instead of leaving them to compute on as orphans; records stay atomic, so the
    rerun redoes their cells. (Ctrl-C already reaches the workers: they share the terminal's process group.)

    Example:
        >>> from concurrent.futures import ThreadPoolExecutor
        >>> with ThreadPoolExecutor(1) as pool, workers_die_with_us(pool):
        ...     signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        True
    """
    if threading.current_thread() is not threading.main_thread():     # signal handlers: main thread only
        yield
        return

    def stop(signum, frame):
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        raise SystemExit(128 + signum)

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _cells_job(args) -> list:
    """Run a group of cells in order in one worker (cells that share a meta-trained method)."""
    cells, data_root, cache_dir, results_dir, device, force = args
    datasets: dict = {}
    return [(c, run_cell(c, data_root, cache_dir, results_dir, device, force, False, datasets)) for c in cells]


def _training_group(cell: Cell) -> tuple:
    """Cells with the same group share one meta-training (e.g. REPTILE's (5,1) and (5,5); Table 5's
    generated rows on MRPC and QNLI, with and without fine-tuning after generation)."""
    return (cell.method, cell.way, cell.seed, cell.profile, cell.backbone, *training_scope(cell))


def _body_job(args) -> str:
    cell, data_root, cache_dir, device = args
    Context.build(cell, data_root, cache_dir, device).body        # pretrains and caches the shared body
    return str(cell)


def _uses_body(cell: Cell) -> bool:
    from methods import get_method
    return get_method(cell.method).uses_body_with(cell.method_options())


def check_cell_data(cell: Cell, data_root) -> None:
    """Raise :class:`DataMissingError` at once if a dataset the cell reads is absent (a transfer
    target's meta-training source included).

    Example:
        >>> import tempfile
        >>> check_cell_data(Cell("demo", "reptile", "synthetic", 5, 1, 0, "smoke"), None)    # generated: no files
        >>> check_cell_data(Cell("demo", "reptile", "omniglot", 5, 1, 0, "smoke"), tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        benchmark.data.base.DataMissingError: omniglot: data not found at .../omniglot-py/images_background.zip...
    """
    if is_text(cell.dataset):
        check_available(cell.dataset, data_root)
        return
    for name in needed_datasets(cell.dataset, expected_config(cell)[1]):
        check_available(name, data_root)


def split_available(cells: list, data_root) -> tuple:
    """``(cells whose dataset is present, {missing dataset: message})``.

    Example:
        >>> import tempfile
        >>> cells = [Cell("demo", "reptile", d, 5, 1, 0, "smoke") for d in ("synthetic", "omniglot")]
        >>> todo, missing = split_available(cells, tempfile.mkdtemp())
        >>> [c.dataset for c in todo], list(missing)
        (['synthetic'], ['omniglot'])
    """
    todo, missing = [], {}
    for c in cells:
        try:
            check_cell_data(c, data_root)
            todo.append(c)
        except DataMissingError as exc:
            missing.setdefault(c.dataset, str(exc))
    return todo, missing


def run_grid(cells: list, data_root, cache_dir, results_dir, device="cpu", force=False, progress=True,
             jobs: int = 1) -> dict:
    """Run every cell; cells whose dataset is missing are reported, not run.

    ``jobs > 1`` runs cells in that many worker processes (``$MCDI_THREADS`` torch threads each, default 1): the
    shared bodies the pending cells need are pretrained first, then the cells, grouped so
    that cells sharing one meta-training (same method, dataset, seed; shot too unless the
    method's training ignores it) run in order in one worker. Every
    cell still writes its own record atomically, so a killed run resumes the same way.

    Returns ``{"done": [records], "missing_data": {dataset: message}}``.

    Example:
        >>> import tempfile
        >>> res = tempfile.mkdtemp(); finished = Cell("demo", "reptile", "synthetic", 5, 1, 0, "smoke")
        >>> write_json_atomic({"cell": finished.to_json(), "acc": 91.5}, finished.record_path(res))
        >>> cells = [finished, Cell("demo", "reptile", "omniglot", 5, 1, 0, "smoke")]
        >>> out = run_grid(cells, tempfile.mkdtemp(), None, res, progress=False)    # nothing left to run
        >>> [r["acc"] for r in out["done"]], list(out["missing_data"])
        ([91.5], ['omniglot'])
    """
    done, datasets = [], {}
    todo, missing = split_available(cells, data_root)
    for ds, msg in missing.items():
        log.warning("skipping %s cells (missing data): %s", ds, msg.splitlines()[0])

    def report(c, rec, existed):
        if not existed:
            tqdm.write(f"{c}: acc {rec['acc']:.2f} +- {rec['ci95']:.2f}  latency {rec['latency_ms']:.3f} ms/sample"
                       f"  ({rec['wall_time_s']:.0f}s)")
        done.append(rec)

    if jobs <= 1:
        bar = tqdm(todo, desc="cells", disable=not progress)
        for c in bar:
            bar.set_postfix_str(str(c))
            existed = c.record_path(results_dir).exists() and not force
            report(c, run_cell(c, data_root, cache_dir, results_dir, device, force, progress, datasets), existed)
        return {"done": done, "missing_data": missing}

    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    pending = [c for c in todo if force or not c.record_path(results_dir).exists()]
    for c in todo:
        if c not in pending:
            done.append(load_record(c.record_path(results_dir)))
    for c in {(c.dataset, c.profile, c.options): c for c in pending if not is_text(c.dataset)}.values():
        shared_dataset(c, data_root, cache_dir, {})                 # decode once, into the cache
    bodies = {(c.dataset, c.seed, c.profile, c.backbone, c.settings_overrides().__repr__()): c
              for c in pending if _uses_body(c)}
    code_version()
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init) as pool, \
            workers_die_with_us(pool):
        for f in tqdm(as_completed([pool.submit(_body_job, (c, data_root, cache_dir, device))
                                    for c in bodies.values()]), total=len(bodies), desc="bodies",
                      disable=not progress):
            f.result()
        groups: dict = {}
        for c in pending:
            groups.setdefault(_training_group(c), []).append(c)
        futures = [pool.submit(_cells_job, (g, data_root, cache_dir, results_dir, device, force))
                   for g in groups.values()]
        for f in tqdm(as_completed(futures), total=len(futures), desc="cell groups", disable=not progress):
            for c, rec in f.result():
                report(c, rec, False)
    return {"done": done, "missing_data": missing}
