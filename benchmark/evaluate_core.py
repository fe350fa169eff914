"""Evaluation of an adapted method on meta-test episodes: accuracy (mean and 95%
confidence interval over episodes) and per-sample latency.

Latency, measured the same way for every method: wall time of ``method.adapt``
on one task's raw support images (body forward, generation or fine-tuning
included) divided by the number of query samples; the median over
``latency_episodes`` tasks run one at a time after one warm-up task (the median
is robust to other processes on a shared machine; the mean is recorded too).
On a CPU, a cell computes on one thread (the runner's ``cpu_threads``), so the
same adapt is also timed in that thread's CPU time (``latency_cpu_ms``): it leaves
out the time other processes held the core, which wall time on a shared machine
does not (two cells of one run, for instance). Tables use it where every record
of the table has it (:func:`benchmark.tables.records_frame`).

Example:
    >>> mean_ci(torch.tensor([1.0, 0.0, 1.0, 1.0]))
    (75.0, 49.0)
"""
from __future__ import annotations

import time

import torch


def mean_ci(accs: torch.Tensor) -> tuple:
    """Mean accuracy and 95% CI half-width (1.96 * std / sqrt(n), std with ddof=1), in percent.

    Example:
        >>> mean_ci(torch.tensor([0.8, 0.6, 1.0, 0.6]))
        (75.0, 18.7...)
    """
    accs = accs.double()
    n = len(accs)
    std = accs.std(unbiased=True).item() if n > 1 else 0.0
    return round(accs.mean().item() * 100, 4), round(1.96 * std / n ** 0.5 * 100, 4)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def thread_time_measures(device: torch.device) -> bool:
    """Whether the calling thread's CPU time measures a computation: on a CPU with one torch thread
    (a cell's default), where every kernel runs on the calling thread.

    Example:
        >>> thread_time_measures(torch.device("cuda"))
        False
        >>> thread_time_measures(torch.device("cpu")) == (torch.get_num_threads() == 1)
        True
    """
    return device.type == "cpu" and torch.get_num_threads() == 1


PREDICT_TIMED = 256     # query samples whose prediction is timed (a transfer column's query set is a whole test set)


def time_adapt(method, ctx, episodes, split: str = "test") -> tuple:
    """Per query sample, in seconds, for each of ``episodes`` after the first (an untimed warm-up;
    a single episode is timed): the wall time of ``method.adapt`` divided by the episode's query
    count, the calling thread's CPU time of it likewise, and the wall time of ``method.predict`` on
    the first :data:`PREDICT_TIMED` queries per sample - three lists. (Predicting a Table 2 column's
    ~10,000 query images through the body 21 times took most of such a cell's time and measured
    nothing the per-sample rate of 256 does not.)

    Example:
        >>> from types import SimpleNamespace as NS
        >>> from benchmark.data import EpisodeSampler
        >>> labels = torch.arange(10).repeat_interleave(20); x = torch.eye(10)[labels]
        >>> ctx = NS(device=torch.device("cpu"), images=lambda split, idx: x[idx])
        >>> protos = NS(adapt=lambda sx, sy: sx, predict=lambda w, q: q @ w.T)
        >>> wall, cpu, predict = time_adapt(protos, ctx, EpisodeSampler(labels, 5, 1, 15, seed=0).episodes(4))
        >>> len(wall), len(cpu), len(predict), min(wall) >= 0
        (3, 3, 3, True)
    """
    times, cpu_times, predict_times = [], [], []
    for j, ep in enumerate(episodes):
        sx, sy = ctx.images(split, ep.support), ep.support_labels.to(ctx.device)
        n_query = len(ep.query)
        qx = ctx.images(split, ep.query[:PREDICT_TIMED])
        _sync(ctx.device)
        c0, t0 = time.thread_time(), time.perf_counter()
        adapted = method.adapt(sx, sy)
        _sync(ctx.device)
        t1, c1 = time.perf_counter(), time.thread_time()
        method.predict(adapted, qx)
        _sync(ctx.device)
        t2 = time.perf_counter()
        if j > 0 or len(episodes) == 1:
            times.append((t1 - t0) / n_query)
            cpu_times.append((c1 - c0) / n_query)
            predict_times.append((t2 - t1) / len(qx))
    return times, cpu_times, predict_times


def measure_latency(method, ctx, episodes, split: str = "test") -> dict:
    """Median adapt time per query sample (ms) over ``episodes`` (the first is a warm-up): wall
    time, and on a CPU with one thread the calling thread's CPU time too.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> from benchmark.data import EpisodeSampler
        >>> labels = torch.arange(10).repeat_interleave(20); x = torch.eye(10)[labels]    # a split of 10 classes
        >>> ctx = NS(device=torch.device("cpu"), images=lambda split, idx: x[idx])
        >>> protos = NS(adapt=lambda sx, sy: sx, predict=lambda w, q: q @ w.T)           # one-shot prototypes
        >>> out = measure_latency(protos, ctx, EpisodeSampler(labels, 5, 1, 15, seed=0).episodes(4))
        >>> out["latency_episodes"], out["latency_ms"] > 0                 # the first episode is a warm-up
        (3, True)
    """
    cpu = thread_time_measures(ctx.device)
    times, cpu_times, predict_times = (torch.tensor(t) for t in time_adapt(method, ctx, episodes, split))
    out = {"latency_ms": 1000 * times.median().item(), "latency_ms_mean": 1000 * times.mean().item(),
           "predict_ms_per_sample": 1000 * predict_times.median().item(),
           "latency_episodes": len(times)}
    if cpu:
        out["latency_cpu_ms"] = 1000 * cpu_times.median().item()
    return out


def evaluate(method, ctx, split: str = "test") -> dict:
    """Accuracy over ``settings['test_episodes']`` episodes and latency over ``latency_episodes``
    (a text cell's context evaluates itself: :meth:`benchmark.text.context.TextContext.evaluate`).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> from benchmark.data import EpisodeSampler
        >>> labels = torch.arange(10).repeat_interleave(20); x = torch.eye(10)[labels]
        >>> ctx = NS(device=torch.device("cpu"), images=lambda split, idx: x[idx],
        ...          settings={"test_episodes": 4, "latency_episodes": 2},
        ...          test_sampler=lambda: EpisodeSampler(labels, 5, 1, 15, seed=0))
        >>> method = NS(name="demo", adapt=lambda sx, sy: sx, predict=lambda w, q: q @ w.T,
        ...             episode_accuracies=lambda split, eps: torch.tensor([1.0, 0.5, 1.0, 0.5]))
        >>> out = evaluate(method, ctx)
        >>> out["acc"], out["ci95"], out["episode_acc"], out["query_per_episode"], out["latency_episodes"]
        (75.0, 28.2902, [100.0, 50.0, 100.0, 50.0], 75, 2)
    """
    if hasattr(ctx, "evaluate"):
        return ctx.evaluate(method)
    sampler = ctx.test_sampler()
    episodes = sampler.episodes(ctx.settings["test_episodes"])
    accs = method.episode_accuracies(split, episodes)
    if not torch.isfinite(accs).all():
        raise FloatingPointError(f"{method.name}: non-finite accuracies")
    acc, ci = mean_ci(accs)
    out = {"acc": acc, "ci95": ci, "episodes": len(episodes),
           "query_per_class": getattr(sampler, "query", None),          # None: cluster episodes (no classes)
           "query_per_episode": len(episodes[0].query),
           # per-episode accuracies (%), in the sampler's order: every method of a seed sees the same
           # episodes, so differences between methods can be paired episode by episode
           "episode_acc": [round(a * 100, 3) for a in accs.double().tolist()]}
    n_mse = int(ctx.settings.get("mse_episodes", 0))
    if n_mse and hasattr(method, "heldout_mse"):             # Figures 4 and 6: distance to Algorithm 1's theta_M
        steps = inference_steps(method.hp["steps"]) if getattr(method, "INFERENCE_STEPS", False) else ()
        out.update(method.heldout_mse(split, episodes[:n_mse], steps))
    out.update(measure_latency(method, ctx, episodes[: ctx.settings["latency_episodes"] + 1], split))
    return out


def inference_steps(T: int) -> tuple:
    """The shorter chains whose MSE a diffusion cell records (Figure 6, right): 5% to 75% of T.

    Example:
        >>> inference_steps(20)
        (1, 2, 5, 10, 15)
    """
    return tuple(sorted({max(1, round(T * f)) for f in (0.05, 0.1, 0.25, 0.5, 0.75)} - {T}))
