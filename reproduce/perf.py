"""Performance benchmark: ratios measured in one run on this machine.

(a) head generation latency per task (T = 20 denoiser steps, body forward included) vs
    REPTILE's gradient adaptation of the same tasks (cpu-profile 5 steps and the paper's 50);
(b) batched weight preparation (Algorithm 1) of 1,024 tasks vs a per-task loop;
(c) batched (vmap) vs sequential REPTILE inner loops of the denoiser at B = 16;
(d) the denoiser's achieved GFLOP/s while sampling many tasks vs a plain fp32 matmul;
(e) Table 5's LoRA trajectories (Algorithm 1 on the pretrained MiniLM's top 2 layers, r = 4 on
    query/value, batches of 16 x 64 tokens): 8 tasks batched with torch.func vs one at a time.

    python reproduce/perf.py [--quick] [--device cuda]

Shapes are those of the cpu profile on Omniglot (Conv4-32 body, 28x28, 5-way linear
head of 165 weights); the models are freshly initialised (timing does not depend on
training).
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

from benchmark.models.backbones import Conv4
from benchmark.weights import PrepConfig, prepare_heads
from methods.diffusion.denoiser import UNet1D
from methods.diffusion.losses import coefficients, denoising_loss
from methods.diffusion.sampler import sample
from methods.diffusion.schedule import linear_alphas
from methods.inner_loop import batched_adam, sequential_adam, stack_params

WAY, D, SIZE, T = 5, 32, 28, 20
P = WAY * D + WAY


def timeit(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def denoiser() -> UNet1D:
    layout = torch.cat([torch.arange(WAY * D), torch.full((WAY,), -1)])
    return UNet1D(P, WAY * D, channels=16, cond_dim=64, emb_layout=layout).eval()


def bench_a(quick: bool) -> dict:
    torch.manual_seed(0)
    body = Conv4(1, D).eval()
    net = denoiser()
    alphas = linear_alphas(T)
    sx = torch.randn(WAY, 1, SIZE, SIZE)

    @torch.no_grad()
    def generate():
        protos = body(sx).unsqueeze(0)
        sample(lambda x, t: net(x, t, protos.flatten(1)), torch.randn(1, P), alphas)

    full = nn.Sequential(Conv4(1, D, track_running_stats=False), nn.Linear(D, WAY))
    phi = {k: v.detach() for k, v in full.named_parameters()}
    y = torch.arange(WAY)

    def loss(p, x, yy):
        return F.cross_entropy(functional_call(full, p, (x,)), yy)

    def reptile(steps):
        return lambda: batched_adam(loss, stack_params(phi, 1), lambda s: (sx.unsqueeze(0), y.unsqueeze(0)),
                                    steps, 1e-3, (0.0, 0.999))

    gen = timeit(generate, 10)
    r5 = timeit(reptile(5), 5)
    r50 = timeit(reptile(50), 2 if quick else 5)
    return {"generate_ms": gen * 1e3, "reptile5_ms": r5 * 1e3, "reptile50_ms": r50 * 1e3,
            "ratio_vs_5": r5 / gen, "ratio_vs_50": r50 / gen}


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

    def loss_fn(p, th, e, tt, ep, a, b, c, d):
        model = lambda x, ts: functional_call(net, p, (x, ts, e.unsqueeze(0).expand(len(ts), -1)))
        return denoising_loss(model, th.expand(len(tt), -1), ep, tt, (a, b, c, d))

    batch_fn = lambda s: (theta, emb, t[s], eps[s]) + coef[s]
    tb = timeit(lambda: batched_adam(loss_fn, stack_params(phi, B), batch_fn, K, 0.005), 3)
    ts = timeit(lambda: sequential_adam(loss_fn, stack_params(phi, B), batch_fn, K, 0.005), 3)
    return {"batched_s": tb, "sequential_s": ts, "ratio": ts / tb}


def bench_d(quick: bool) -> dict:
    torch.manual_seed(0)
    net = denoiser()
    alphas = linear_alphas(T)
    E = 600
    emb, x0 = torch.randn(E, WAY * D), torch.randn(E, P)
    run = lambda: sample(lambda x, t: net(x, t, emb), x0, alphas)
    with FlopCounterMode(display=False) as fc:
        run()
    flops = fc.get_total_flops()
    t_sample = timeit(run, 3)
    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    t_mm = timeit(lambda: a @ b, 10)
    gf_sample, gf_mm = flops / t_sample / 1e9, 2 * n ** 3 / t_mm / 1e9
    return {"sample_gflops": gf_sample, "matmul_gflops": gf_mm, "ratio": gf_sample / gf_mm,
            "sample_s": t_sample, "flops": flops}


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="performance ratios (one run, this machine)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", default="cpu", help="for (e), Table 5's LoRA trajectories (default: cpu)")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    a = bench_a(args.quick)
    print(f"(a) generation {a['generate_ms']:.2f} ms/task vs REPTILE 5 steps {a['reptile5_ms']:.2f} ms "
          f"({a['ratio_vs_5']:.1f}x), 50 steps {a['reptile50_ms']:.2f} ms ({a['ratio_vs_50']:.1f}x)   target >= 5x")
    b = bench_b(args.quick)
    print(f"(b) weight preparation of 1024 tasks: batched {b['batched_s']:.2f} s vs per-task loop "
          f"{b['loop_s_extrapolated']:.1f} s (timed on {b['loop_tasks_timed']} tasks, scaled): "
          f"{b['ratio']:.0f}x   target >= 20x")
    c = bench_c(args.quick)
    print(f"(c) denoiser inner loops, B=16, K=3: batched {c['batched_s'] * 1e3:.0f} ms vs sequential "
          f"{c['sequential_s'] * 1e3:.0f} ms: {c['ratio']:.1f}x   target >= 3x")
    d = bench_d(args.quick)
    print(f"(d) sampling 600 tasks x {T} steps: {d['sample_gflops']:.1f} GFLOP/s vs fp32 matmul "
          f"{d['matmul_gflops']:.1f} GFLOP/s: {100 * d['ratio']:.0f}%   target >= 30%")
    e = bench_e(args.quick, args.device)
    print(f"(e) LoRA trajectories on MiniLM ({e['device']}), {e['tasks']} tasks x {e['steps']} steps: batched "
          f"{e['batched_s']:.2f} s vs one at a time {e['sequential_s']:.2f} s: {e['ratio']:.2f}x   "
          f"(prep_batch > 1 only where this is > 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
