"""Paired comparisons of two rows of a table, and verdicts on the papers' claims.

Two rows of one (dataset, way, shot) column are compared on the seeds both have: each seed's
cells use the same body, the same meta-val/test classes and the same test episodes, so the
difference is paired over seeds (n = 5: a t interval) and, inside each seed, episode by
episode (records hold ``episode_acc``; the pooled paired differences give a normal interval).

A claim "A > B by the paper's gap g" gets a verdict from the seed-paired 95% interval [lo, hi]:
``reproduced`` if lo > 0 (A is better), ``not reproduced`` if hi < g (the paper's gap lies above
everything the data allow; this includes A significantly worse), ``inconclusive`` otherwise. Where
the paper's own table puts A below B (g < 0) it does not claim "A > B" in that column, whatever
its text says of the whole table: the verdict is ``not claimed``, left out of an overall verdict.

Example:
    >>> d = paired_difference({0: 91.0, 1: 92.0, 2: 90.5}, {0: 90.0, 1: 90.5, 2: 90.0})
    >>> d["n_seeds"], round(d["mean"], 3), verdict(d, paper_gap=0.7)     # 3 seeds: t(2) is wide
    (3, 1.0, 'inconclusive')
    >>> d = paired_difference({0: 91.0, 1: 92.0, 2: 90.5, 3: 91.5, 4: 92.0},
    ...                       {0: 90.0, 1: 90.5, 2: 90.0, 3: 90.5, 4: 91.0})
    >>> round(d["lo"], 2), verdict(d, paper_gap=0.7)
    (0.56, 'reproduced')
"""
from __future__ import annotations

import math

# two-sided 95% Student t quantiles by degrees of freedom (scipy is not a dependency)
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def t95(df: int) -> float:
    """Two-sided 95% t quantile (normal 1.96 beyond 30 degrees of freedom).

    Example:
        >>> t95(4), t95(12), t95(100)
        (2.776, 2.131, 1.96)
    """
    if df < 1:
        return math.inf
    if df in _T95:
        return _T95[df]
    if df > 30:
        return 1.96
    return _T95[min(k for k in _T95 if k >= df)]


def _mean_sd(xs: list) -> tuple:
    n = len(xs)
    m = sum(xs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return m, sd


def paired_difference(a: dict, b: dict, a_eps: dict | None = None, b_eps: dict | None = None) -> dict:
    """``a``, ``b``: seed -> accuracy (%); ``*_eps``: seed -> per-episode accuracies. Returns the
    mean difference a - b over common seeds with its 95% t interval (``lo``, ``hi``), and, when
    episodes are given, the interval over all paired episodes (``ep_lo``, ``ep_hi``, ``n_episodes``).

    Example:
        >>> d = paired_difference({0: 91.0, 1: 92.0}, {0: 90.0, 1: 90.5},
        ...                       {0: [90.0, 92.0], 1: [92.0, 92.0]}, {0: [88.0, 92.0], 1: [90.0, 91.0]})
        >>> d["n_seeds"], d["mean"], d["n_episodes"], round(d["ep_lo"], 2)
        (2, 1.25, 4, 0.31)
    """
    seeds = sorted(set(a) & set(b))
    out = {"n_seeds": len(seeds), "mean": math.nan, "sd": math.nan, "lo": math.nan, "hi": math.nan}
    if not seeds:
        return out
    diffs = [a[s] - b[s] for s in seeds]
    m, sd = _mean_sd(diffs)
    half = t95(len(seeds) - 1) * sd / math.sqrt(len(seeds)) if len(seeds) > 1 else math.inf
    out.update(mean=m, sd=sd, lo=m - half, hi=m + half)
    if a_eps and b_eps and all(s in a_eps and s in b_eps and len(a_eps[s]) == len(b_eps[s]) for s in seeds):
        ep = [x - y for s in seeds for x, y in zip(a_eps[s], b_eps[s])]
        em, esd = _mean_sd(ep)
        ehalf = 1.96 * esd / math.sqrt(len(ep))
        out.update(n_episodes=len(ep), ep_mean=em, ep_lo=em - ehalf, ep_hi=em + ehalf)
    return out


NOT_CLAIMED = "not claimed"


def verdict(diff: dict, paper_gap: float | None = None) -> str:
    """``reproduced`` / ``not reproduced`` / ``inconclusive`` for "A > B" (see the module doc).

    Example:
        >>> verdict({"n_seeds": 5, "lo": 0.2, "hi": 1.4}, paper_gap=0.7)
        'reproduced'
        >>> verdict({"n_seeds": 5, "lo": -0.3, "hi": 0.4}, paper_gap=0.7)
        'not reproduced'
        >>> verdict({"n_seeds": 5, "lo": -0.3, "hi": 0.4}, paper_gap=-0.63)   # the paper's own A < B
        'not claimed'
    """
    if paper_gap is not None and paper_gap < 0:
        return NOT_CLAIMED
    if diff["n_seeds"] < 2 or math.isnan(diff["lo"]):
        return "inconclusive"
    if diff["lo"] > 0:
        return "reproduced"
    gap = 0.0 if paper_gap is None or math.isnan(paper_gap) else max(paper_gap, 0.0)
    if diff["hi"] < gap or diff["hi"] < 0:
        return "not reproduced"
    return "inconclusive"


def parity_verdict(diff: dict, paper_gap: float | None = None) -> str:
    """For "A comparable to B" (Table 5: generated LoRA vs gradient fine-tuning): the bar is the
    paper's own gap A - B where A fell short of B (0 where A was above): ``reproduced`` if the
    seed interval lies at or above the bar, ``not reproduced`` if it lies below it, else
    ``inconclusive``.

    Example:
        >>> parity_verdict({"n_seeds": 5, "lo": -0.2, "hi": 1.1}, paper_gap=-0.33)
        'reproduced'
        >>> parity_verdict({"n_seeds": 5, "lo": -6.0, "hi": -2.5}, paper_gap=-1.46)
        'not reproduced'
    """
    return _at_least(diff, 0.0 if paper_gap is None or math.isnan(paper_gap) else min(paper_gap, 0.0))


def _at_least(d: dict, bar: float) -> str:
    """An interval ``[lo, hi]`` against a bar: reproduced at or above it, not reproduced below it."""
    if d["n_seeds"] < 2 or math.isnan(d["lo"]):
        return "inconclusive"
    if d["lo"] >= bar:
        return "reproduced"
    return "not reproduced" if d["hi"] < bar else "inconclusive"


def speedup(slow: dict, fast: dict) -> dict:
    """How many times faster ``fast`` is than ``slow`` (seed -> latency), paired over seeds: the
    geometric mean of the per-seed ratios slow/fast with its 95% t interval (on the log ratios).

    Example:
        >>> r = speedup({0: 40.0, 1: 44.0, 2: 36.0}, {0: 10.0, 1: 11.0, 2: 9.0})
        >>> r["n_seeds"], round(r["mean"], 2), round(r["lo"], 2)
        (3, 4.0, 4.0)
    """
    seeds = sorted(s for s in set(slow) & set(fast) if slow[s] > 0 and fast[s] > 0)
    out = {"n_seeds": len(seeds), "mean": math.nan, "lo": math.nan, "hi": math.nan}
    if not seeds:
        return out
    m, sd = _mean_sd([math.log(slow[s] / fast[s]) for s in seeds])
    half = t95(len(seeds) - 1) * sd / math.sqrt(len(seeds)) if len(seeds) > 1 else math.inf
    out.update(mean=math.exp(m), lo=math.exp(m - half), hi=math.exp(m + half))
    return out


def speedup_verdict(r: dict, factor: float) -> str:
    """"``fast`` is ``factor`` x faster": ``reproduced`` if the interval of :func:`speedup` lies at or
    above ``factor``, ``not reproduced`` if below it, else ``inconclusive``.

    Example:
        >>> speedup_verdict(speedup({0: 40.0, 1: 44.0, 2: 36.0}, {0: 10.0, 1: 11.0, 2: 9.0}), factor=3.0)
        'reproduced'
    """
    return _at_least(r, factor)


def fmt_ratio(r: dict) -> str:
    """``4.2x [3.1x, 5.6x]``.

    Example:
        >>> fmt_ratio({"n_seeds": 3, "mean": 4.2, "lo": 3.1, "hi": 5.6})
        '4.2x [3.1x, 5.6x]'
    """
    return fmt_diff(r, "{:.3g}x")


def fmt_diff(d: dict, form: str = "{:+.2f}") -> str:
    """``+0.42 [-0.10, +0.94]`` (seed-paired interval), ``--`` when there are no common seeds.

    Example:
        >>> fmt_diff({"n_seeds": 5, "mean": 0.42, "lo": -0.1, "hi": 0.94})
        '+0.42 [-0.10, +0.94]'
        >>> fmt_diff({"n_seeds": 0, "mean": math.nan})
        '--'
    """
    if d["n_seeds"] == 0 or math.isnan(d["mean"]):
        return "--"
    if d["n_seeds"] < 2:
        return f"{form.format(d['mean'])} (1 seed)"
    return f"{form.format(d['mean'])} [{form.format(d['lo'])}, {form.format(d['hi'])}]"


def fmt_ep(d: dict, form: str = "{:+.2f}") -> str:
    """The episode-paired interval of :func:`paired_difference`, ``--`` when it has no episodes.

    Example:
        >>> fmt_ep(paired_difference({0: 91.0, 1: 92.0}, {0: 90.0, 1: 90.5},
        ...                          {0: [90.0, 92.0], 1: [92.0, 92.0]}, {0: [88.0, 92.0], 1: [90.0, 91.0]}))
        '+1.25 [+0.31, +2.19]'
    """
    if "ep_mean" not in d:
        return "--"
    return f"{form.format(d['ep_mean'])} [{form.format(d['ep_lo'])}, {form.format(d['ep_hi'])}]"


def small_form(d: dict) -> str:
    """The format of a difference of small quantities (latencies in ms/sample): two decimals, or as
    many as give the largest of mean and interval ends two significant digits, so that a
    difference of 0.004 ms does not print as ``-0.00 [-0.00, -0.00]``.

    Example:
        >>> d = {"n_seeds": 5, "mean": -0.0042, "lo": -0.0061, "hi": -0.0023}
        >>> fmt_diff(d, small_form(d))
        '-0.0042 [-0.0061, -0.0023]'
        >>> small_form({"n_seeds": 5, "mean": 1.2, "lo": 0.4, "hi": 2.0})
        '{:+.2f}'
    """
    ends = [abs(d[k]) for k in ("mean", "lo", "hi", "ep_mean", "ep_lo", "ep_hi")
            if k in d and d[k] is not None and math.isfinite(d[k]) and d[k] != 0]
    if not ends:
        return "{:+.2f}"
    return "{:+.%df}" % max(2, 1 - math.floor(math.log10(max(ends))))


def seed_values(records: list, method: str, variant: str, dataset: str, way: int, shot: int,
                key="acc") -> tuple:
    """``({seed: record[key]}, {seed: episode accuracies})`` of one row of one column (``key`` a callable:
    ``{seed: key(record)}``).

    Example:
        >>> recs = [{"cell": {"method": "mc-di", "variant": "", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "acc": 90.0 + s, "episode_acc": [89.0 + s, 91.0 + s]} for s in range(2)]
        >>> seed_values(recs, "mc-di", "", "omniglot", 5, 1)
        ({0: 90.0, 1: 91.0}, {0: [89.0, 91.0], 1: [90.0, 92.0]})
    """
    acc, eps = {}, {}
    for r in records:
        c = r["cell"]
        if (c["method"], c.get("variant") or "", c["dataset"], int(c["way"]), int(c["shot"])) == \
                (method, variant, dataset, way, shot):
            acc[int(c["seed"])] = key(r) if callable(key) else float(r[key])
            if r.get("episode_acc"):
                eps[int(c["seed"])] = r["episode_acc"]
    return acc, eps

