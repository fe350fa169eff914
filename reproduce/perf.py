"""Performance benchmark: ratios measured in one run on this machine.

(a) head generation latency per task (T = 20 denoiser steps, body forward included), as the
    harness runs it and compiled whole (``--compile``), vs REPTILE's gradient adaptation of the same
    tasks (cpu-profile 5 steps and the paper's 50), at the threads set and at one (the tables');
(b) batched weight preparation (Algorithm 1) of 1,024 tasks vs a per-task loop;
(c) batched (one pass over the B copies, and vmap) vs sequential REPTILE inner loops of the denoiser at B = 16;
(d) the denoiser's achieved GFLOP/s while sampling many tasks (as the harness runs it and with
    ``--compile``) vs a plain fp32 matmul;
(e) Table 5's LoRA trajectories (Algorithm 1 on the pretrained MiniLM's top 2 layers, r = 4 on
    query/value, batches of 16 x 64 tokens): 8 tasks batched with torch.func vs one at a time;
(g) generating many long heads at once (Tables 6-7's bodies: ResNet18's 512 and MobileNetV2's 1,280
    features, 5-way heads of 2,565 and 6,405 weights): the chain in row chunks (``chain_rows``, the
    harness) vs the whole batch in one U-Net call, and one gradient of Algorithm 2's inner loops in
    passes of a few copies (``copies_per_pass``) vs one pass over all 8.

(f) a whole table's wall time split into stages (body pretraining, features, weight preparation,
    meta-training, evaluation; each record's ``stages_s``, benchmark/timing.py): with
    ``--table table1`` it runs ``reproduce/table1.py --profile cpu --jobs 2`` into an empty cache
    and results folder (hours on 2 cores; with ``--table-dir DIR`` resumable over several sittings, its
    time the sum of theirs); ``--records DIR`` alone sums a finished run's records
    (stage times, and every cell's own wall time, a copied cell counted from its source) and runs no
    benchmark.

    python reproduce/perf.py [--quick] [--device cuda] [--table table1 [--table-dir DIR] | --records DIR]
    python reproduce/perf.py --only f --table table1 --table-dir DIR     # (f) alone, resumable: rerun to continue

Shapes are those of the cpu profile on Omniglot (Conv4-64 body, 28x28, 5-way linear
head of 325 weights, the denoiser's widths from Mc-Di's cpu defaults; (d) also at the paper
profile's widths); the models are freshly initialised (timing does not depend on training).
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from benchmark.config import torch_threads
from benchmark.models.backbones import Conv4
from benchmark.timing import STAGES
from benchmark.weights import PrepConfig, prepare_heads
from methods.diffusion.denoiser import UNet1D, chain_rows, copies_per_pass
from methods.diffusion.losses import coefficients
from methods.diffusion.meta_train import denoiser_losses
from methods.diffusion.sampler import chain_coefficients, compiled, run_chain, sample
from methods.diffusion.schedule import linear_alphas
from methods.inner_loop import batched_adam, sequential_adam, stack_params
from methods.mcdi import McDi

WAY, D, SIZE, T = 5, 64, 28, 20
P = WAY * D + WAY


def timeit(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def denoiser(profile: str = "cpu", features: int = D) -> UNet1D:
    """Mc-Di's U-Net at a profile's widths (``channels``, ``cond_dim``) for a 5-way linear head on
    ``features``-d features (default the Omniglot Conv4's: P weights)."""
    hp = McDi.DEFAULTS[profile]
    layout = torch.cat([torch.arange(WAY * features), torch.full((WAY,), -1)])
    return UNet1D(WAY * features + WAY, WAY * features, channels=hp["channels"], cond_dim=hp["cond_dim"],
                  emb_layout=layout).eval()


class _Denoise(nn.Module):
    """``UNet1D.denoise`` with flat tensor inputs, for ``torch.jit.trace``."""

    def __init__(self, net: UNet1D):
        super().__init__()
        self.net = net

    def forward(self, x, aligned, *conds):
        return self.net.denoise(x, (list(conds), aligned))


def interleaved(fns: dict, rounds: int, repeat: int) -> dict:
    """Median ms of each function over ``rounds`` rounds that run them in turn (a slow spell of a
    shared machine then hits every contender, not one)."""
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            times[k].append(timeit(fn, repeat) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_a(quick: bool, threads: int | None = None) -> dict:
    """One task's generation (body forward + T = 20 denoiser calls) four ways - the plain U-Net call
    per step, the harness's path (``UNet1D.chain``: the (t, Emb) conditioning of all steps computed
    once), that chain compiled whole as ``--compile`` runs it (``sampler.run_chain`` under
    ``sampler.compiled``: torch.compile with the C++ wrapper; None where no compiler is available) and
    its U-Net traced by TorchScript (no Python between the kernels; the same numbers) - against
    REPTILE's test-time Adam steps two ways: the harness's path (``batched_adam`` on one copy: a plain
    autograd pass and ``_foreach`` Adam) and a loop with ``torch.optim.Adam``; the ratio uses the faster.
    The contenders run in interleaved rounds at ``threads`` torch threads (default: as set)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    torch.manual_seed(0)
    body = Conv4(1, D).eval()
    net = denoiser()
    alphas = linear_alphas(T)
    coefs = chain_coefficients(alphas)
    told = torch.arange(T)
    sx = torch.randn(WAY, 1, SIZE, SIZE)

    def generate(kind, denoise=None):
        @torch.inference_mode()
        def run():
            e = body(sx).flatten().unsqueeze(0)
            model = (lambda x, t: net(x, t, e)) if kind == "plain" else net.chain(e, told)
            if denoise is not None:
                chain = model
                model = lambda x, t: denoise(x, chain.conditioning[int(t[0])])
            sample(model, torch.randn(1, P), alphas)
        return run

    def whole_chain(x0):                             # what --compile compiles (WeightDiffusion._chain)
        return run_chain(net.chain(body(sx).flatten().unsqueeze(0), told).at, x0, coefs)

    full = nn.Sequential(Conv4(1, D, track_running_stats=False), nn.Linear(D, WAY))
    phi = {k: v.detach() for k, v in full.named_parameters()}
    y = torch.arange(WAY)

    def loss(p, x, yy):
        return F.cross_entropy(functional_call(full, p, (x,)), yy)

    def reptile(steps, kind):
        adam = batched_adam if kind == "harness" else sequential_adam
        return lambda: adam(loss, stack_params(phi, 1), lambda s: (sx.unsqueeze(0), y.unsqueeze(0)),
                            steps, 1e-3, (0.0, 0.999))

    with torch.no_grad():
        cond = net.chain(torch.randn(1, WAY * D), told).conditioning[0]
        traced = torch.jit.trace(_Denoise(net), (torch.randn(1, P), cond[1], *cond[0]))
    fns = {"plain": generate("plain"), "chain": generate("chain"),
           "traced": generate("chain", lambda x, c: traced(x, c[1], *c[0])),
           "reptile5_harness": reptile(5, "harness"), "reptile5_optim": reptile(5, "optim")}
    out = {"threads": torch.get_num_threads(), "compile_error": None}
    try:
        fast = compiled(whole_chain)
        with torch.inference_mode():
            fast(torch.randn(1, P))                  # compiles (10-150 s; inductor caches it on disk)
        fns["compiled"] = torch.inference_mode()(lambda: fast(torch.randn(1, P)))
    except Exception as err:  # noqa: BLE001  (no C++ compiler, unsupported platform, ...)
        out["compile_error"] = f"{type(err).__name__}: {str(err)[:80]}"
    with torch.no_grad(), FlopCounterMode(display=False) as fc:     # the work, apart from how fast it runs
        whole_chain(torch.randn(1, P))
    out["generate_mflop"] = fc.get_total_flops() / 1e6
    with FlopCounterMode(display=False) as fc:
        reptile(5, "optim")()
    out["reptile5_mflop"] = fc.get_total_flops() / 1e6
    med = interleaved(fns, 3 if quick else 9, 3)
    out.update({f"{k}_ms": v for k, v in med.items()})
    out.setdefault("compiled_ms", None)
    for kind in ("harness", "optim"):
        out[f"reptile50_{kind}_ms"] = timeit(reptile(50, kind), 2 if quick else 5) * 1e3
    for steps in (5, 50):
        out[f"reptile{steps}_ms"] = min(out[f"reptile{steps}_harness_ms"], out[f"reptile{steps}_optim_ms"])
    out["generate_ms"] = out["chain_ms"]
    for k in ("chain", "plain", "traced", "compiled"):
        out[f"ratio_{k}_vs_5"] = out["reptile5_ms"] / out[f"{k}_ms"] if out[f"{k}_ms"] else None
    out["ratio_vs_5"], out["ratio_vs_50"] = out["ratio_chain_vs_5"], out["reptile50_ms"] / out["chain_ms"]
    out["ratio_compiled_vs_50"] = out["reptile50_ms"] / out["compiled_ms"] if out["compiled_ms"] else None
    torch.set_num_threads(before)
    return out


def print_a(a: dict) -> None:
    comp = (f"{a['compiled_ms']:.2f} ms ({a['ratio_compiled_vs_5']:.1f}x)" if a["compiled_ms"]
            else f"unavailable ({a['compile_error']})")
    print(f"(a) {a['threads']} thread{'s' if a['threads'] > 1 else ''}: generation {a['generate_ms']:.2f} ms/task vs "
          f"REPTILE 5 steps {a['reptile5_ms']:.2f} ms ({a['ratio_vs_5']:.1f}x), 50 steps {a['reptile50_ms']:.2f} ms "
          f"({a['ratio_vs_50']:.1f}x)   target >= 5x\n"
          f"    --compile (the chain compiled whole): {comp}   target >= 5x\n"
          f"    work: generation {a['generate_mflop']:.0f} MFLOP vs REPTILE 5 steps {a['reptile5_mflop']:.0f} MFLOP "
          f"({a['reptile5_mflop'] / a['generate_mflop']:.1f}x: the ratio at equal FLOP/s)\n"
          f"    generation: plain U-Net calls {a['plain_ms']:.2f} ms ({a['ratio_plain_vs_5']:.1f}x), harness "
          f"(conditioning precomputed) {a['chain_ms']:.2f} ms, U-Net traced by TorchScript "
          f"{a['traced_ms']:.2f} ms ({a['ratio_traced_vs_5']:.1f}x)\n"
          f"    REPTILE 5 steps: the harness (batched_adam) {a['reptile5_harness_ms']:.2f} ms, torch.optim.Adam "
          f"{a['reptile5_optim_ms']:.2f} ms; 50 steps: {a['reptile50_harness_ms']:.2f} / "
          f"{a['reptile50_optim_ms']:.2f} ms (the ratios use the faster)")


def bench_b(quick: bool) -> dict:
    torch.manual_seed(0)
    n_tasks, loop_tasks = 1024, (16 if quick else 64)
    feats = torch.randn(n_tasks, 4, WAY, D)
    labels = torch.arange(WAY).expand(n_tasks, WAY)
    cfg = PrepConfig(max_steps=100)
    t_batch = timeit(lambda: prepare_heads(feats, labels, WAY, cfg, seed=0), 1)
    t0 = time.perf_counter()
    for j in range(loop_tasks):
        prepare_heads(feats[j:j + 1], labels[j:j + 1], WAY, cfg, seed=0)
    t_loop = (time.perf_counter() - t0) / loop_tasks * n_tasks
    return {"batched_s": t_batch, "loop_s_extrapolated": t_loop, "loop_tasks_timed": loop_tasks,
            "ratio": t_loop / t_batch}


def bench_c(quick: bool) -> dict:
    torch.manual_seed(0)
    net = denoiser()
    phi = {k: v.detach() for k, v in net.named_parameters()}
    alphas = linear_alphas(T)
    B, K, Dr = 16, 3, 8
    theta, emb = torch.randn(B, P), torch.randn(B, WAY * D)
    t = torch.randint(0, T, (K, B, Dr))
    eps = torch.randn(K, B, Dr, P)
    coef = [tuple(c.view(B, Dr).float() for c in coefficients("local", alphas, t[s].reshape(-1),
                                                                torch.full((B * Dr,), T))) for s in range(K)]

    loss_fn, copies_loss = denoiser_losses(net, torch.arange(T))            # Algorithm 2's inner losses
    batch_fn = lambda s: (theta, emb, t[s], eps[s]) + coef[s]
    tb = timeit(lambda: batched_adam(loss_fn, stack_params(phi, B), batch_fn, K, 0.005,
                                     copies_loss=copies_loss), 3)
    tv = timeit(lambda: batched_adam(loss_fn, stack_params(phi, B), batch_fn, K, 0.005), 3)
    ts = timeit(lambda: sequential_adam(loss_fn, stack_params(phi, B), batch_fn, K, 0.005), 3)
    return {"batched_s": tb, "vmap_s": tv, "sequential_s": ts, "ratio": ts / tb, "ratio_vmap": ts / tv}


def bench_d(quick: bool, profile: str = "cpu") -> dict:
    torch.manual_seed(0)
    net = denoiser(profile)
    alphas = linear_alphas(T)
    E = 600
    emb, x0 = torch.randn(E, WAY * D), torch.randn(E, P)
    run = lambda: sample(net.chain(emb, torch.arange(T)), x0, alphas)
    with FlopCounterMode(display=False) as fc:
        run()
    flops = fc.get_total_flops()
    t_sample = timeit(run, 3)
    t_compiled = None
    try:                                             # --compile's path (first compile of a shape: ~3 min here)
        coefs = chain_coefficients(alphas)
        fast = compiled(lambda e, x: run_chain(net.chain(e, torch.arange(T)).at, x, coefs))
        with torch.no_grad():
            fast(emb, x0)
            t_compiled = timeit(lambda: fast(emb, x0), 3)
    except Exception:  # noqa: BLE001  (no C++ compiler, ...)
        pass
    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    t_mm = timeit(lambda: a @ b, 10)
    gf_sample, gf_mm = flops / t_sample / 1e9, 2 * n ** 3 / t_mm / 1e9
    gf_compiled = flops / t_compiled / 1e9 if t_compiled else None
    return {"sample_gflops": gf_sample, "matmul_gflops": gf_mm, "ratio": gf_sample / gf_mm,
            "compiled_gflops": gf_compiled, "ratio_compiled": gf_compiled / gf_mm if gf_compiled else None,
            "sample_s": t_sample, "flops": flops, "profile": profile}


def bench_g(quick: bool) -> dict:
    """For each long head: ms per head for ``E`` heads generated in row chunks vs one call, and ms of one
    inner-loop gradient of Algorithm 2 (B = 8 copies x 8 draws) in passes of a few copies vs one pass
    (one thread)."""
    E, B, Dr, out = (20 if quick else 100), 8, 8, {}
    with torch_threads(1):
        for body, d in (("resnet18", 512), ("mobilenetv2", 1280)):
            torch.manual_seed(0)
            net = denoiser("cpu", d)
            emb, x0 = torch.randn(E, WAY * d), torch.randn(E, net.length)
            chain = lambda rows: sample(net.chain(emb, torch.arange(T), rows=rows), x0, linear_alphas(T))
            with torch.no_grad():
                ms = interleaved({"chunks": lambda: chain(-1), "one call": lambda: chain(None)},
                                 rounds=1 if quick else 2, repeat=1)
            p = {k: v.detach().expand(B, *v.shape).clone() for k, v in net.named_parameters()}
            t = torch.randint(0, T, (B, Dr))
            data = (torch.randn(B, net.length), torch.randn(B, WAY * d), t, torch.randn(B, Dr, net.length),
                    *(c.view(B, Dr).float() for c in coefficients("local", linear_alphas(T), t.reshape(-1),
                                                                   torch.full((B * Dr,), T))))

            def grads(per_pass):
                q = {k: v.clone().requires_grad_(True) for k, v in p.items()}
                torch.autograd.grad(denoiser_losses(net, torch.arange(T), per_pass=per_pass)[1](q, *data),
                                    list(q.values()), allow_unused=True)
            ms.update(interleaved({"passes": lambda: grads(-1), "one pass": lambda: grads(None)},
                                  rounds=1 if quick else 3, repeat=1 if quick else 2))
            out[body] = {"weights": net.length, "heads": E, "rows": chain_rows(net.padded, "cpu"),
                         "copies": copies_per_pass(net.padded, Dr, "cpu"), "chunks": ms["chunks"] / E,
                         "one call": ms["one call"] / E, "passes": ms["passes"], "one pass": ms["one pass"]}
    return out


def bench_e(quick: bool, device: str) -> dict:
    from peft import LoraConfig, get_peft_model

    from benchmark.text.encoder import load_encoder
    from benchmark.text.finetune import Batches, FinetuneConfig, finetune, plateau_batched
    enc = load_encoder("minilm", top_layers=2)
    E, n, L, steps = 8, 64, 64, (3 if quick else 10)
    torch.manual_seed(0)
    model = get_peft_model(enc.new_top(0), LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"],
                                                      modules_to_save=["classifier"])).to(device)
    params = [(k, v) for k, v in model.base_model.named_parameters() if v.requires_grad]
    init = {k: v.detach().clone() for k, v in params}
    data = [Batches(torch.randn(n, L, enc.hidden, device=device), torch.ones(n, L, dtype=torch.long, device=device),
                    torch.randint(0, 2, (n,), device=device)) for _ in range(E)]
    cfg = FinetuneConfig(lr=0.005, batch=16, max_steps=steps, warmup=0.0, decay=False)
    never = (steps, steps, float("-inf"))                     # a fixed number of steps for both
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def loop():
        for j in range(E):
            with torch.no_grad():
                for k, v in params:
                    v.copy_(init[k])
            finetune(model.base_model, [v for _, v in params], data[j], None, cfg, j, plateau=never)
        sync()

    def batched():
        plateau_batched(model.base_model, [init] * E, data, cfg, list(range(E)), never)
        sync()

    ts, tb = timeit(loop, 1 if quick else 2), timeit(batched, 1 if quick else 2)
    return {"sequential_s": ts, "batched_s": tb, "ratio": ts / tb, "tasks": E, "steps": steps, "device": device}


def stage_split(records_dir) -> dict:
    """Sum the records' ``stages_s`` (cells copied from another table excluded) and the run's wall
    span (first start to last finish, from ``finished_at`` and ``wall_time_s``); and ``cells_wall_s``,
    every cell's own wall time summed - a cell copied from another table counted once, from the record
    it was copied from (``copied_from``, relative to the results folder above ``runs/``), and records
    made before stage times were recorded included - the run's cost if one cell ran at a time."""
    import json
    from datetime import datetime, timedelta
    from pathlib import Path
    root = Path(records_dir).resolve()
    results = next((p.parent for p in (root, *root.parents) if p.name == "runs"), root)
    totals, starts, ends, n, missing, cell_wall, sources, copied = {}, [], [], 0, 0, 0.0, set(), 0
    for f in sorted(root.rglob("*.json")):
        r = json.loads(f.read_text())
        if "cell" not in r:
            continue
        if r.get("copied_from"):
            src = (results / r["copied_from"]).resolve()
            if src not in sources and src.exists():
                sources.add(src)
                copied += 1
                cell_wall += json.loads(src.read_text()).get("wall_time_s", 0.0)
            continue
        if f.resolve() not in sources:                 # not already counted as another cell's source
            sources.add(f.resolve())
            cell_wall += r.get("wall_time_s", 0.0)
        if "stages_s" not in r:
            missing += 1
            continue
        n += 1
        for k, v in r["stages_s"].items():
            totals[k] = totals.get(k, 0.0) + v
        end = datetime.fromisoformat(r["finished_at"])
        ends.append(end)
        starts.append(end - timedelta(seconds=r["wall_time_s"]))
    span = (max(ends) - min(starts)).total_seconds() if n else 0.0
    return {"cells": n, "without_stages": missing, "stages_s": totals, "wall_span_s": span,
            "cells_wall_s": cell_wall, "copied": copied}


def run_table(table: str, jobs: int = 2, folder=None, profile: str = "cpu") -> dict:
    """``reproduce/<table>.py --profile cpu --jobs 2`` into an empty cache and results folder: a fresh
    temporary one, or ``folder`` - resumable across sittings (a session's end, a reboot), since the table
    run is resumable cell by cell: the wall time of each sitting goes to ``folder/perf_ledger.json``
    (rewritten every 30 s, so a killed sitting loses at most that much of its count) and the table's
    time is their sum. Work a kill interrupts is redone (a meta-training continues from its last saved
    iteration), so a sum over sittings is at most a little above one uninterrupted run. ``table``: a
    reproduce script's name, or the path of a grid script (the tests' tiny one)."""
    import json
    import os
    import subprocess
    import tempfile
    import threading
    from pathlib import Path

    from benchmark.atomic import write_json_atomic
    tmp = Path(folder) if folder else Path(tempfile.mkdtemp(prefix=f"perf-{table}-"))
    ledger_path = tmp / "perf_ledger.json"
    if ledger_path.exists():
        ledger = json.loads(ledger_path.read_text())
        if ledger.get("table") != table:
            raise SystemExit(f"error: {tmp} holds a perf run of {ledger.get('table')!r}, not {table!r}")
    elif tmp.exists() and any(tmp.iterdir()):
        raise SystemExit(f"error: {tmp} is not empty and holds no perf_ledger.json: (f) must start from an "
                         "empty cache; give a new folder")
    else:
        tmp.mkdir(parents=True, exist_ok=True)
        ledger = {"table": table, "jobs": jobs, "segments_s": [], "finished": False}
    if not ledger["finished"]:
        script = Path(table) if table.endswith(".py") else Path(__file__).with_name(f"{table}.py")
        cmd = [sys.executable, str(script), "--profile", profile, "--jobs", str(jobs), "--cache", str(tmp / "cache"),
               "--results", str(tmp / "results"), "--no-progress"]
        ledger["segments_s"].append(0.0)
        t0, done = time.perf_counter(), threading.Event()

        def beat():
            while not done.wait(30):
                ledger["segments_s"][-1] = time.perf_counter() - t0
                write_json_atomic(ledger, ledger_path)
        write_json_atomic(ledger, ledger_path)
        heart = threading.Thread(target=beat, daemon=True)
        heart.start()
        try:
            subprocess.run(cmd, check=True, env=dict(os.environ))
        finally:
            done.set()
            heart.join()
        ledger["segments_s"][-1] = time.perf_counter() - t0
        ledger["finished"] = True
        write_json_atomic(ledger, ledger_path)
    out = stage_split(tmp / "results" / "runs")
    out.update(wall_s=sum(ledger["segments_s"]), sittings=len(ledger["segments_s"]), folder=str(tmp))
    return out


def print_split(name: str, f: dict, jobs: int = 2) -> None:
    parts = ", ".join(f"{k} {f['stages_s'].get(k, 0.0) / 60:.1f}" for k in STAGES)
    wall = f.get("wall_s", f["wall_span_s"])
    sittings = f" over {f['sittings']} sittings" if f.get("sittings", 1) > 1 else ""
    print(f"(f) {name}: {f['cells']} cells in {wall / 60:.1f} min wall{sittings} (target <= 30 min); "
          f"summed over cells, in minutes: {parts}"
          + (f"; {f['without_stages']} records without stage times" if f["without_stages"] else ""))
    print(f"    every cell's own wall time summed ({f['copied']} copied from another table's records, timed there): "
          f"{f['cells_wall_s'] / 60:.1f} min, i.e. about {f['cells_wall_s'] / 60 / jobs:.1f} min wall at {jobs} cells "
          "at a time")
    if "wall_s" in f:                             # a timed run: what no cell's record holds
        print(f"    outside the cells' records (data decoding and, with --jobs > 1, the shared bodies pretrained "
              f"before the cells: the split's body time is then 0): about "
              f"{max(0.0, f['wall_s'] - f['cells_wall_s'] / jobs) / 60:.1f} min")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="performance ratios (one run, this machine)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", default="cpu", help="for (e), Table 5's LoRA trajectories (default: cpu)")
    p.add_argument("--table", help="(f): run reproduce/<TABLE>.py --profile cpu --jobs 2 from an empty cache (hours)")
    p.add_argument("--records", help="(f) only: sum the stage times of a finished run's records under this "
                                      "folder (no benchmarks run)")
    p.add_argument("--table-dir", help="(f): run the table in this folder (empty or a previous --table-dir run "
                                        "of the same table), resumable: rerun the same command to continue")
    p.add_argument("--only", nargs="+", choices=list("abcdefg"), default=list("abcdefg"),
                   help="measure only these (e.g. --only f --table table1 --table-dir DIR)")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.records and not args.table:                # a finished run's records: no benchmark to run
        print_split(args.records, stage_split(args.records))
        return 0
    if args.table_dir and not args.table:
        p.error("--table-dir needs --table")
    if "a" in args.only:
        for threads in (None, 1):                     # as set (2 here), and one thread as the tables time it
            print_a(bench_a(args.quick, threads))
    if "b" in args.only:
        b = bench_b(args.quick)
        print(f"(b) weight preparation of 1024 tasks: batched {b['batched_s']:.2f} s vs per-task loop "
              f"{b['loop_s_extrapolated']:.1f} s (timed on {b['loop_tasks_timed']} tasks, scaled): "
              f"{b['ratio']:.0f}x   target >= 20x")
    if "c" in args.only:
        c = bench_c(args.quick)
        print(f"(c) denoiser inner loops, B=16, K=3: batched {c['batched_s'] * 1e3:.0f} ms vs sequential "
              f"{c['sequential_s'] * 1e3:.0f} ms: {c['ratio']:.1f}x   target >= 3x\n"
              f"    batched as UNet1D.forward_copies (the harness) {c['batched_s'] * 1e3:.0f} ms, as vmap "
              f"{c['vmap_s'] * 1e3:.0f} ms ({c['ratio_vmap']:.1f}x)")
    for profile in ("cpu", "paper") if "d" in args.only else ():
        d = bench_d(args.quick, profile)
        print(f"(d) sampling 600 tasks x {T} steps, {profile} denoiser widths: {d['sample_gflops']:.1f} GFLOP/s vs "
              f"fp32 matmul {d['matmul_gflops']:.1f} GFLOP/s: {100 * d['ratio']:.0f}%   target >= 30%\n"
              f"    --compile: " + (f"{d['compiled_gflops']:.1f} GFLOP/s: {100 * d['ratio_compiled']:.0f}%"
                                    if d["compiled_gflops"] else "unavailable (no C++ compiler?)"))
    if "e" in args.only:
        e = bench_e(args.quick, args.device)
        print(f"(e) LoRA trajectories on MiniLM ({e['device']}), {e['tasks']} tasks x {e['steps']} steps: batched "
              f"{e['batched_s']:.2f} s vs one at a time {e['sequential_s']:.2f} s: {e['ratio']:.2f}x   "
              f"(prep_batch > 1 only where this is > 1)")
    if "g" in args.only:
        for body, g in bench_g(args.quick).items():
            print(f"(g) {g['heads']} {body} heads ({g['weights']} weights) x {T} steps, 1 thread: in chunks of "
                  f"{g['rows']} rows {g['chunks']:.0f} ms/head vs one call {g['one call']:.0f} ms/head: "
                  f"{g['one call'] / g['chunks']:.1f}x\n"
                  f"    an inner-loop gradient (8 copies x 8 draws): in passes of {g['copies']} "
                  f"cop{'y' if g['copies'] == 1 else 'ies'} "
                  f"{g['passes']:.0f} ms vs one pass {g['one pass']:.0f} ms: {g['one pass'] / g['passes']:.1f}x")
    if args.table and "f" in args.only:
        print_split(f"reproduce/{args.table}.py --profile cpu --jobs 2, empty cache",
                    run_table(args.table, folder=args.table_dir))
        if args.records:
            print_split(args.records, stage_split(args.records))
    if "f" in args.only and not (args.records or args.table):
        print("(f) whole table: not measured (--table table1 runs it from an empty cache; --records DIR sums a run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
