"""results/REPORT.md, generated from the committed records alone (nothing typed by hand): for every
table with records, each cell ours vs the paper with a 95% interval and a verdict, and each of the
paper's claims as a paired test over seeds and over test episodes with a verdict
(:mod:`benchmark.claims`). The same records give the same file, byte for byte (no dates, sorted
input), so ``git diff`` after ``python reproduce/report.py`` shows only what new records changed.

Example:
    >>> cell_verdict({"n": 5, "mean": 92.0, "half": 0.5}, 97.3)
    'below paper'
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from methods import is_reference

from .atomic import write_text_atomic
from .claims import (NOT_CLAIMED, fmt_diff, fmt_ep, fmt_ratio, paired_difference, parity_verdict, seed_values,
                     small_form, speedup, speedup_verdict, t95, verdict)
from .latency import load_sitting, round_values, row_medians
from .tables import column, dataset_name, display_name, latency_key, load_records, paper_numbers, split_row

@dataclass(frozen=True)
class ReportSpec:
    """How a table enters the report: whose published numbers (``source``, ``paper_table``), the
    paper's claims ``(claim, [(A, B), ...])`` meaning "A > B" in every column (or ``"best"``: the
    paper's own method, ``ours``, above every other row), a latency claim for ``ours``, whether
    its columns are bodies (Tables 6-7), and Table 5's claims: ``parity`` ``(claim, ours rows, other
    rows)`` "comparable accuracy" and ``speedup`` ``(claim, ours rows, other rows, factor)`` "factor x
    faster" (rows as ``"method"`` or ``"method[variant]"``).

    Example:
        >>> spec = REPORT_TABLES["table5"]
        >>> spec.paper_table, spec.ours, spec.speedup[0][0], spec.speedup[0][-1]
        ('table5', 'mc-di-lora', 'Mc-Di x3.6 faster than gradient fine-tuning', 3.6)
    """
    paper_table: str
    source: str = "mc-di"
    claims: tuple = ()
    latency_claim: str = ""
    ours: str = "mc-di"
    by_body: bool = False
    parity: tuple = ()
    speedup: tuple = ()


_BEST = ("Mc-Di best in each column", "best")
_LT_BEST = ("Lt-Di best in each column", "best")
_FASTEST = "Mc-Di the fastest generator (lowest per-sample latency)"
# Table 5: the gradient fine-tuners, and Mc-Di's two readings (the generated LoRA as is; as the start of fine-tuning)
_FINETUNERS = ("full-ft", "lora", "adalora", "dylora", "fourierft")
_MC_LORA = ("mc-di-lora", "mc-di-lora[ft]")
_LT_FASTEST = "Lt-Di the fastest generator (lowest per-sample latency)"
# A pair may name a variant row ("reptile[pretrained]": REPTILE from the shared body, not the paper's
# protocol); it is held to the paper's gap against the plain method, and the claim's name says so.
_VS_PRETRAINED = "REPTILE from the shared body (not the paper's protocol; the paper's REPTILE gap)"
_BODIES = (("Mc-Di > Mv-Di", (("mc-di", "mv-di"),)), ("Mv-Di > Tw-Di", (("mv-di", "tw-di"),)),
           ("Mc-Di > REPTILE", (("mc-di", "reptile"),)),
           (f"Mc-Di > {_VS_PRETRAINED}", (("mc-di", "reptile[pretrained]"),)))
_LT_BODIES = (("C3: Lt-Di > Lv-Di", (("lt-di", "lv-di"),)), ("C2: Lv-Di > LLO-VAE", (("lv-di", "llo-vae"),)),
              ("Lt-Di > REPTILE", (("lt-di", "reptile"),)),
              (f"Lt-Di > {_VS_PRETRAINED}", (("lt-di", "reptile[pretrained]"),)))
# every table of both papers, in the report's order (the readings table has its own section)
REPORT_TABLES = {
    "table1": ReportSpec("table1", claims=(
        ("C3: Mc-Di > Mv-Di", (("mc-di", "mv-di"),)),
        ("Mv-Di > Tw-Di (the paper's ordering Mc-Di > Mv-Di > Tw-Di)", (("mv-di", "tw-di"),)),
        ("C2+C3: Mc-Di > Tw-Di", (("mc-di", "tw-di"),)),
        ("C1, meta-learning on top of diffusion: Mv-Di > OCD", (("mv-di", "ocd"),)),
        ("C1, weight generation over REPTILE: Mv-Di > REPTILE", (("mv-di", "reptile"),)),
        (f"C1: Mv-Di > {_VS_PRETRAINED}", (("mv-di", "reptile[pretrained]"),)))),
    "table2": ReportSpec("table2", claims=(("Mc-Di > Mv-Di", (("mc-di", "mv-di"),)), _BEST), latency_claim=_FASTEST),
    "table3": ReportSpec("table3", claims=(("Mc-Di > Mv-Di", (("mc-di", "mv-di"),)), _BEST), latency_claim=_FASTEST),
    "table4": ReportSpec("table4", claims=(("Mc-Di > Mv-Di", (("mc-di", "mv-di"),)), _BEST), latency_claim=_FASTEST),
    "table5": ReportSpec("table5", claims=(("Mc-Di > Mv-Di (generated LoRA)", (("mc-di-lora", "mv-di-lora"),)),),
                         ours="mc-di-lora", parity=(("Mc-Di comparable to gradient fine-tuning", _MC_LORA, _FINETUNERS),),
                         speedup=(("Mc-Di x3.6 faster than gradient fine-tuning", _MC_LORA, _FINETUNERS, 3.6),)),
    "table6": ReportSpec("table6", claims=_BODIES, by_body=True),
    "table7": ReportSpec("table7", claims=_BODIES, by_body=True),
    "table8": ReportSpec("table8", claims=(("Mc-Di > Mv-Di", (("mc-di", "mv-di"),)), _BEST), latency_claim=_FASTEST),
    "ltdi_table1": ReportSpec("table1", "lt-di", ours="lt-di", claims=(
        ("C3, the trajectory: Lt-Di > Lv-Di", (("lt-di", "lv-di"),)),
        ("C2, diffusion over a VAE: Lv-Di > LLO-VAE", (("lv-di", "llo-vae"),)),
        ("Lv-Di > REPTILE", (("lv-di", "reptile"),)),
        (f"Lv-Di > {_VS_PRETRAINED}", (("lv-di", "reptile[pretrained]"),)))),
    "ltdi_table2": ReportSpec("table2", "lt-di", ours="lt-di", claims=(("Lt-Di > Lv-Di", (("lt-di", "lv-di"),)), _LT_BEST),
                              latency_claim=_LT_FASTEST),
    "ltdi_table3": ReportSpec("table3", "lt-di", ours="lt-di", claims=(("Lt-Di > Lv-Di", (("lt-di", "lv-di"),)), _LT_BEST),
                              latency_claim=_LT_FASTEST),
    "ltdi_table4": ReportSpec("table4", "lt-di", ours="lt-di", claims=(("Lt-Di > Lv-Di", (("lt-di", "lv-di"),)), _LT_BEST),
                              latency_claim=_LT_FASTEST),
    "ltdi_table5": ReportSpec("table5", "lt-di", ours="lt-di-lora",
                              claims=(("Lt-Di > Lv-Di (generated LoRA)", (("lt-di-lora", "lv-di-lora"),)),),
                              parity=(("Lt-Di comparable to gradient fine-tuning", ("lt-di-lora",), _FINETUNERS),),
                              speedup=(("Lt-Di x3 (300%) faster than gradient fine-tuning", ("lt-di-lora",),
                                        _FINETUNERS, 3.0),)),
    "ltdi_table7": ReportSpec("table7", "lt-di", ours="lt-di", claims=_LT_BODIES, by_body=True),
    "ltdi_table8": ReportSpec("table8", "lt-di", ours="lt-di", claims=_LT_BODIES, by_body=True),
}


def _summary(values: dict) -> dict:
    xs = list(values.values())
    n = len(xs)
    if n == 0:
        return {"n": 0, "mean": math.nan, "std": math.nan, "half": math.nan}
    m = sum(xs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "mean": m, "std": sd, "half": t95(n - 1) * sd / math.sqrt(n) if n > 1 else math.inf}


def cell_verdict(s: dict, paper: float) -> str:
    """Where the paper's value lies against our 95% interval over seeds.

    Example:
        >>> cell_verdict({"n": 5, "mean": 97.0, "half": 0.5}, 97.3)
        'consistent'
        >>> cell_verdict({"n": 1, "mean": 97.0, "half": 0.0}, 97.3)
        '1 seed'
    """
    if s["n"] == 0:
        return "not run"
    if paper is None or math.isnan(paper):
        return "no paper value"
    if s["n"] < 2:
        return "1 seed"
    if s["mean"] + s["half"] < paper:
        return "below paper"
    if s["mean"] - s["half"] > paper:
        return "above paper"
    return "consistent"


def _columns(records: list) -> list:
    return sorted({(r["cell"]["dataset"], int(r["cell"]["way"]), int(r["cell"]["shot"])) for r in records})


def _rows(records: list) -> list:
    seen = {}
    for r in records:
        c = r["cell"]
        seen[(c["method"], c.get("variant") or "")] = None
    return sorted(seen)


def _latencies(records, method, variant, col) -> dict:
    return seed_values(records, method, variant, *col, key=latency_key(records))[0]



def _claim_row(lines: list, claim: str, col, a: str, b: str, d: dict, gap: float, episodes: str,
               form: str = "{:+.2f}", bar: tuple | None = None, split: int = 0) -> str:
    """Append the markdown row of the claim "A - B" in column ``col`` (``d``: the seed-paired difference
    printed with ``form``, ``gap``: the paper's; ``bar``: (the gap in our units, how to print it) where
    they differ, as for latency; ``split``: how many of its seed pairs stand on two bodies); return its
    verdict."""
    vd = verdict(d, gap if bar is None else bar[0])
    shown = bar[1] if bar is not None else "--" if math.isnan(gap) else f"{gap:+.2f}"
    seeds = f"{d['n_seeds']} ({split} on two bodies)" if split else f"{d['n_seeds']}"
    lines.append(f"| {claim} | {dataset_name(col[0])} ({col[1]},{col[2]}) | {display_name(a)} - {display_name(b)} | "
                 f"{seeds} | {fmt_diff(d, form)} | {episodes} | {shown} | {vd} |")
    return vd


def split_pairs(records: list, a: str, b: str, col) -> int:
    """How many seeds rows ``a`` and ``b`` of column ``col`` both have on different shared-body fingerprints
    (the same recipe and seed trained twice: the seed pairing does not cancel the body's draw).

    Example:
        >>> def rec(method, seed, fp):
        ...     return {"cell": {"method": method, "dataset": "omniglot", "way": 5, "shot": 1, "seed": seed},
        ...             "body": {"fingerprint": fp}}
        >>> recs = [rec("mc-di", 0, "aa"), rec("mv-di", 0, "aa"), rec("mc-di", 1, "bb"), rec("mv-di", 1, "cc")]
        >>> split_pairs(recs, "mc-di", "mv-di", ("omniglot", 5, 1))
        1
    """
    def fingerprint(r):
        return (r.get("body") or {}).get("fingerprint")
    fa, fb = (seed_values(records, *split_row(row), *col, key=fingerprint)[0] for row in (a, b))
    return sum(1 for s in fa.keys() & fb.keys() if fa[s] and fb[s] and fa[s] != fb[s])


def latency_bar(paper_other: float, paper_ours: float, our_other: dict) -> tuple:
    """The paper's latency gap "other - ours" in our units: its relative advantage (other - ours) / other,
    times our other row's mean latency, so a claim timed on the paper's GPU is held to its *ratio* on
    whatever machine we time on (an absolute gap in ms would not travel). Returns (bar, printed form);
    a negative bar (the paper's own ours was slower) makes the pair ``not claimed``.

    Example:
        >>> bar, shown = latency_bar(8.4, 4.3, {0: 0.28, 1: 0.30})   # the paper: ours 49% faster than OCD
        >>> round(bar, 3), shown
        (0.142, '+4.10 ms (49%)')
        >>> latency_bar(float("nan"), 4.3, {0: 0.3})[1]
        '--'
    """
    gap = paper_other - paper_ours
    if math.isnan(gap) or not our_other or paper_other <= 0:
        return math.nan, "--"
    rel = gap / paper_other
    return rel * sum(our_other.values()) / len(our_other), f"{gap:+.2f} ms ({100 * rel:.0f}%)"


def _overall_row(claim: str, col, verdicts: list) -> str:
    return f"| **{claim}** | {dataset_name(col[0])} ({col[1]},{col[2]}) | all rows | | | | | **{_overall(verdicts)}** |"


def _overall(verdicts: list) -> str:
    """A claim over several rows: reproduced only if every comparison the paper's own numbers make is
    (a pair they put the other way round, ``not claimed``, does not count).

    Example:
        >>> _overall(["reproduced", "not claimed"]), _overall(["inconclusive", "reproduced"])
        ('reproduced', 'inconclusive')
        >>> _overall(["not claimed"])
        'not claimed'
    """
    verdicts = [v for v in verdicts if v != NOT_CLAIMED]
    if not verdicts:
        return NOT_CLAIMED
    if all(v == "reproduced" for v in verdicts):
        return "reproduced"
    return "not reproduced" if "not reproduced" in verdicts else "inconclusive"


def body_columns(records: list) -> list:
    """Records of a grid over bodies with the column key ``"<dataset>|<body>"`` as their dataset.

    Example:
        >>> body_columns([{"cell": {"method": "mc-di", "dataset": "omniglot", "backbone": "resnet18"}, "acc": 90.0}])
        [{'cell': {'method': 'mc-di', 'dataset': 'omniglot|resnet18', 'backbone': 'resnet18'}, 'acc': 90.0}]
    """
    return [dict(r, cell=dict(r["cell"], dataset=column(r["cell"]["dataset"], r["cell"].get("backbone", "conv4"),
                                                         True))) for r in records]


def table_section(table: str, records: list, spec: ReportSpec | None = None, sitting: dict | None = None) -> list:
    """The report's section of ``table``: each cell ours vs the paper, then the paper's claims on ``records``
    (its latency claim on ``sitting``, a latency sitting of the table, where there is one: see
    :mod:`benchmark.latency`).

    Example:
        >>> recs = [{"cell": {"method": m, "variant": "", "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "acc": base + 0.5 * s, "ci95": 0.5, "latency_ms": lat}
        ...         for m, base, lat in (("mc-di", 96.0, 1.0), ("mv-di", 95.0, 1.2)) for s in range(3)]
        >>> lines = table_section("table3", recs)
        >>> for line in lines[:2] + lines[4:8] + lines[13:16]:
        ...     print(line)
        ## table3
        <BLANKLINE>
        | row | column | n | ours | paper | verdict |
        |---|---|---|---|---|---|
        | Mc-Di | Omniglot (5,1) | 3 | 96.50 ± 0.50 [95.26, 97.74] | 97.34 | consistent |
        | Mv-Di | Omniglot (5,1) | 3 | 95.50 ± 0.50 [94.26, 96.74] | 96.65 | consistent |
        | claim | column | A - B | seeds | difference, seeds | difference, episodes | paper's gap | verdict |
        |---|---|---|---|---|---|---|---|
        | Mc-Di > Mv-Di | Omniglot (5,1) | Mc-Di - Mv-Di | 3 | +1.00 [+1.00, +1.00] | -- | +0.69 | reproduced |
    """
    spec = spec or REPORT_TABLES.get(table, ReportSpec(table))
    if spec.by_body:
        records = body_columns(records)
    ours = spec.ours
    paper = paper_numbers(spec.paper_table, spec.source)
    pacc = {(r.method, r.dataset, int(r.way), int(r.shot)): r.paper_acc_mean for r in paper.itertuples()}
    plat = {(r.method, r.dataset, int(r.way), int(r.shot)): r.paper_latency_ms for r in paper.itertuples()}
    cols, rows = _columns(records), _rows(records)
    whose = "" if spec.source == "mc-di" else f" (the {display_name(spec.source)} paper's Table {spec.paper_table[5:]})"
    lines = [f"## {table}{whose}", "", f"{len(records)} records; seeds per cell in the `n` column. Ours: mean ± std "
             "over seeds [95% t interval]; verdict: where the paper's value lies against that interval.", "",
             "| row | column | n | ours | paper | verdict |", "|---|---|---|---|---|---|"]
    n_full = max((len(seed_values(records, m, v, *col)[0]) for m, v in rows for col in cols), default=0)
    for m, v in rows:
        for col in cols:
            acc, _ = seed_values(records, m, v, *col)
            if not acc:
                continue
            s = _summary(acc)
            partial = f" ({s['n']}/{n_full} seeds)" if s["n"] < n_full else ""
            p = pacc.get((m, *col), math.nan) if not v else math.nan
            ci = f" [{s['mean'] - s['half']:.2f}, {s['mean'] + s['half']:.2f}]" if s["n"] > 1 else ""
            pv = "--" if math.isnan(p) else f"{p:.2f}"
            lines.append(f"| {display_name(m, v)} | {dataset_name(col[0])} ({col[1]},{col[2]}) | {s['n']} | "
                         f"{s['mean']:.2f} ± {s['std']:.2f}{ci} | {pv} | {cell_verdict(s, p)}{partial} |")
    lines += ["", f"### Claims of the paper ({table})", "",
              "Paired over seeds (95% t interval) and over all paired test episodes (95% normal interval). "
              "Verdict for \"A > B\": reproduced if the seed interval lies above 0, not reproduced if it lies "
              "below the paper's gap, inconclusive otherwise; not claimed where the paper's own numbers put A "
              "below B (a negative gap: left out of the overall verdict). Latency: the paper's gap in its ms and "
              "as a share of the other row's latency; that share of our other row's latency is the bar, since "
              "milliseconds on the paper's GPU do not carry to this machine. Seeds \"n (k on two bodies)\": k seed "
              "pairs stand on two trainings of the same body recipe (named under the provenance below), whose draws the "
              "pairing does not cancel.", "",
              "| claim | column | A - B | seeds | difference, seeds | difference, episodes | paper's gap | verdict |",
              "|---|---|---|---|---|---|---|---|"]
    methods_here = {m for m, v in rows if not v}
    labels_here = {f"{m}[{v}]" if v else m for m, v in rows}
    for claim, pairs in spec.claims:
        for col in cols:
            if pairs == "best":
                if ours not in methods_here:
                    continue
                others = sorted(m for m in methods_here if m != ours and not is_reference(m))
                col_pairs = [(ours, o) for o in others]
            else:
                col_pairs = [p for p in pairs if p[0] in labels_here and p[1] in labels_here]
            verdicts = []
            for a, b in col_pairs:
                (am, avar), (bm, bvar) = split_row(a), split_row(b)
                av, bv = seed_values(records, am, avar, *col), seed_values(records, bm, bvar, *col)
                if not av[0] or not bv[0]:
                    continue
                d = paired_difference(av[0], bv[0], av[1], bv[1])
                gap = pacc.get((am, *col), math.nan) - pacc.get((bm, *col), math.nan)   # a variant: its method's
                verdicts.append(_claim_row(lines, claim, col, a, b, d, gap, fmt_ep(d),
                                           split=split_pairs(records, a, b, col)))
            if pairs == "best" and verdicts:
                lines.append(_overall_row(claim, col, verdicts))
    compiled = any(r.get("compiled_sampler") for r in records)         # --compile: only ours was compiled
    if sitting is not None and (not spec.latency_claim or ours not in methods_here):
        lines += _sitting_claims(sitting, spec, ours, plat)[:2]      # no claim to judge: the sitting's medians
    elif spec.latency_claim and ours in methods_here and sitting is not None:
        lines += _sitting_claims(sitting, spec, ours, plat)
    elif spec.latency_claim and ours in methods_here and compiled:
        lines.append(f"| {spec.latency_claim} | all | -- | -- | -- | not judged: the generation was timed compiled "
                     f"(--compile), the other methods were not |")
    elif spec.latency_claim and ours in methods_here:
        claim = spec.latency_claim
        others = sorted(m for m in methods_here if m != ours and not is_reference(m))
        for col in cols:
            verdicts = []
            mc = _latencies(records, ours, "", col)
            for o in others:
                ov = _latencies(records, o, "", col)
                if not mc or not ov:
                    continue
                d = paired_difference(ov, mc)                  # other - ours > 0: ours faster
                bar = latency_bar(plat.get((o, *col), math.nan), plat.get((ours, *col), math.nan), ov)
                verdicts.append(_claim_row(lines, f"{claim} (ms/sample)", col, o, ours, d, bar[0], "--",
                                           small_form(d), bar))
            if verdicts:
                lines.append(_overall_row(claim, col, verdicts))
    lines += _table5_claims(records, spec, cols, set(rows), pacc, plat)
    return lines + [""]


def _sitting_claims(sitting: dict, spec: ReportSpec, ours: str, plat: dict) -> list:
    """The latency claim judged on a latency sitting: rounds paired as seeds, tasks as episodes.

    Example:
        >>> sitting = {"code_version": "abc", "measure": "thread CPU time", "rounds": 2, "episodes": 2,
        ...            "compiled_sampler": False, "started_at": "2026-12-02T08:00:00+00:00", "columns": [
        ...     {"dataset": "omniglot", "backbone": "conv4", "way": 5, "shot": 1, "seed": 0, "same_tasks": True,
        ...      "rows": {"mc-di": {"rounds": [[0.4, 0.5], [0.45, 0.5]]}, "reptile": {"rounds": [[0.9, 1.0], [1.0, 1.1]]}}}]}
        >>> lines = _sitting_claims(sitting, REPORT_TABLES["table3"], "mc-di", {})
        >>> lines[-2].split(" | ")[2:4], lines[-1].split(" | ")[-1]
        (['REPTILE - Mc-Di', '2'], '**reproduced** |')
    """
    lines = ["", f"{'Latency claim judged on a' if spec.latency_claim else 'A'} latency sitting (`results/latency/`, "
             "`python reproduce/latency.py`): "
             f"every row timed by code `{sitting['code_version']}` in one process on the same test tasks, "
             f"{sitting['rounds']} interleaved rounds x {sitting['episodes']} tasks, {sitting['measure']} per query "
             f"sample (median of a round; rounds paired as seeds are, tasks as episodes), "
             f"{sitting['started_at'][:10]}. Medians (ms/sample): "
             + "; ".join(f"{dataset_name(c['dataset'])} ({c['way']},{c['shot']})"
                         + (f" {c['backbone']}" if spec.by_body else "") + ": "
                         + ", ".join(f"{display_name(*split_row(r))} {v:.3f}" for r, v in row_medians(c).items())
                         for c in sitting["columns"]) + ".", "",
             "| claim | column | A - B | rounds | difference, rounds | difference, tasks | paper's gap | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    if sitting.get("compiled_sampler"):
        return lines + [f"| {spec.latency_claim} | all | -- | -- | -- | not judged: the generation was timed "
                        "compiled (--compile), the other methods were not |"]
    for c in sitting["columns"]:
        rows = c["rows"]
        if ours not in rows:
            continue
        col = (column(c["dataset"], c["backbone"], spec.by_body), c["way"], c["shot"])
        mine, mine_eps = round_values(c, ours)
        verdicts = []
        for o in sorted(r for r in rows if r != ours and "[" not in r and not is_reference(r)):
            theirs, theirs_eps = round_values(c, o)
            d = paired_difference(theirs, mine, theirs_eps, mine_eps)     # other - ours > 0: ours faster
            bar = latency_bar(plat.get((o, *col), math.nan), plat.get((ours, *col), math.nan), theirs)
            verdicts.append(_claim_row(lines, f"{spec.latency_claim} (ms/sample, one sitting)", col, o, ours, d,
                                       bar[0], fmt_ep(d, small_form(d)), small_form(d), bar))
        if verdicts:
            lines.append(_overall_row(spec.latency_claim, col, verdicts))
    return lines


def _table5_claims(records, spec: ReportSpec, cols, have: set, pacc: dict, plat: dict) -> list:
    """Table 5's claims: comparable accuracy (:func:`~.claims.parity_verdict`) and a speed-up
    factor (:func:`~.claims.speedup`, on the latency the table reports), each of ``ours`` rows
    against each gradient fine-tuner; a reading of ours (``[ft]``) is held to the paper's Mc-Di."""
    def pairs(ours_rows, others):
        """(column, our row, other row) for every pair with records."""
        return [(col, a, b) for col in cols for a in map(split_row, ours_rows) for b in others
                if a in have and (b, "") in have]

    lines, parity = [], {}
    for claim, ours_rows, others in spec.parity:
        for col, a, b in pairs(ours_rows, others):
            d = paired_difference(seed_values(records, *a, *col)[0], seed_values(records, b, "", *col)[0])
            gap = pacc.get((a[0], *col), math.nan) - pacc.get((b, *col), math.nan)
            parity[col, a, b] = parity_verdict(d, gap)
            lines.append(f"| {claim} | {dataset_name(col[0])} ({col[1]},{col[2]}) | {display_name(*a)} - "
                         f"{display_name(b)} | {d['n_seeds']} | {fmt_diff(d)} | -- | "
                         f"{'--' if math.isnan(gap) else f'{gap:+.2f}'} | {parity[col, a, b]} |")
    for claim, ours_rows, others, factor in spec.speedup:
        for col, a, b in pairs(ours_rows, others):
            r = speedup(_latencies(records, b, "", col), _latencies(records, *a, col))
            pr = plat.get((b, *col), math.nan) / plat.get((a[0], *col), math.nan)
            vd = speedup_verdict(r, factor)
            if vd == "reproduced" and parity.get((col, a, b)) == "not reproduced":   # the claim is both at once
                vd = "faster, at accuracy not comparable"
            elif vd == "reproduced" and parity.get((col, a, b)) != "reproduced":
                vd = "faster, comparable accuracy not shown"
            lines.append(f"| {claim} (latency) | {dataset_name(col[0])} ({col[1]},{col[2]}) | "
                         f"{display_name(b)} / {display_name(*a)} | {r['n_seeds']} | {fmt_ratio(r)} | -- | "
                         f"{'--' if math.isnan(pr) else f'{pr:.2f}x'} | {vd} |")
    if lines:
        lines.append("")
        lines.append("Comparable accuracy: reproduced if the seed interval of A - B lies at or above the paper's own "
                     "gap where A fell short of B (0 where A was above), not reproduced if below it. Speed-up: the "
                     "geometric mean over seeds of B's latency / A's (95% t interval on the log ratios), reproduced "
                     "if the interval lies at or above the paper's factor, not reproduced if below it; the paper's "
                     "column gives its own ratio. The paper claims both at once: a speed-up whose accuracy is "
                     "not comparable (that pair's first verdict) reads \"faster, at accuracy not comparable\", "
                     "one whose accuracy comparison is inconclusive \"faster, comparable accuracy not shown\"; "
                     "only a speed-up at accuracy shown comparable reads \"reproduced\".")
    return lines


def provenance_lines(records: list) -> list:
    """What made a section's records: each code version and each environment (``env``), with counts; records
    made before records carried ``env`` count as *not recorded*; rows whose records are another row's
    computation (``computed_as``) are named. Two environments in one table are flagged:
    the same code can round differently on another machine (results/README.md, "Table 1 from an empty cache").

    Example:
        >>> env = {"cpu": "EPYC", "cpu_capability": "AVX512", "numpy": "2", "pillow": "13", "torch": "2.14"}
        >>> recs = [{"code_version": "9da19ea4c201", "env": env, "torch": "2.14"}] * 2 + [{"code_version": "b8d02c4"}]
        >>> print(provenance_lines(recs)[0])
        Provenance: code `9da19ea` (2), `b8d02c4` (1); environment: EPYC (AVX512), torch 2.14, numpy 2, Pillow 13 (2), not recorded (1)
        >>> twin = {"code_version": "9da19ea", "cell": {"method": "lv-di"}, "computed_as": {"method": "mv-di"}}
        >>> print(provenance_lines([twin])[0].split("; ")[-1])
        the same computation as another row, its record copied (`computed_as`): Lv-Di as Mv-Di (1)
    """
    def count(keys):                                       # most frequent first, ties by name
        return sorted(Counter(keys).items(), key=lambda kv: (-kv[1], kv[0]))

    def code(v):
        v = str(v or "unknown")
        return v[:7] + ("-dirty" if v.endswith("-dirty") else "")

    def env(r):
        e = r.get("env")
        if not e:
            return "not recorded"
        return (f"{e.get('cpu')} ({e.get('cpu_capability')}), torch {r.get('torch')}, numpy {e.get('numpy')}, "
                f"Pillow {e.get('pillow')}")
    codes = count(code(r.get("code_version")) for r in records)
    envs = count(env(r) for r in records)
    days = sorted(str(r.get("finished_at", ""))[:10] for r in records if not r.get("env") and r.get("finished_at"))
    span = f", finished {days[0]} to {days[-1]}" if days else ""
    line = ("Provenance: code " + ", ".join(f"`{c}` ({n})" for c, n in codes) + "; environment: "
            + ", ".join(f"{e} ({n}{span if e == 'not recorded' else ''})" for e, n in envs))
    if len([e for e, _ in envs if e != "not recorded"]) > 1:
        line += " - **more than one environment**: compare rows with care"
    twins = count(f"{display_name(r['cell']['method'])} as {display_name(r['computed_as']['method'])}"
                  for r in records if r.get("computed_as"))
    if twins:                                              # Method.same_computation: one record, two row names
        line += ("; the same computation as another row, its record copied (`computed_as`): "
                 + ", ".join(f"{t} ({n})" for t, n in twins))
    split = split_body_lines(records)
    return [line, ""] + split + ([""] if split else [])


def split_body_lines(records: list) -> list:
    """A line naming the (dataset, body, seed) groups whose rows stand on more than one shared-body fingerprint
    (none if every group is on one): the same recipe and seed trained again elsewhere rounds differently, so
    those rows are not paired on identical weights (results/README.md, "Running now").

    Example:
        >>> def rec(fp, method):
        ...     return {"cell": {"dataset": "omniglot", "backbone": "resnet18", "seed": 2, "method": method},
        ...             "body": {"fingerprint": fp}, "settings": {"image_size": 28}}
        >>> split_body_lines([rec("aa", "tw-di"), rec("aa", "mc-di")])
        []
        >>> print(split_body_lines([rec("aa", "tw-di"), rec("bb", "ref-centroid")])[0])
        Shared body split: 1 of 1 (dataset, body, seed) groups stand on more than one body fingerprint ...: omniglot resnet18 seed 2 (aa: tw-di; bb: ref-centroid)
    """
    groups: dict = {}
    for r in records:
        body, cell = r.get("body") or {}, r.get("cell") or {}
        if body.get("fingerprint"):
            key = (cell.get("dataset"), cell.get("backbone") or "default", cell.get("seed"),
                   (r.get("settings") or {}).get("image_size"))
            groups.setdefault(key, {}).setdefault(body["fingerprint"], set()).add(cell.get("method"))
    split = {k: v for k, v in sorted(groups.items(), key=lambda kv: str(kv[0])) if len(v) > 1}
    if not split:
        return []
    named = "; ".join(f"{d} {b} seed {s} (" + "; ".join(f"{fp}: {', '.join(sorted(m))}" for fp, m in sorted(v.items()))
                      + ")" for (d, b, s, _), v in split.items())
    return [f"Shared body split: {len(split)} of {len(groups)} (dataset, body, seed) groups stand on more than one "
            "body fingerprint (the same recipe and seed trained again, on another machine or from an empty cache: "
            f"other rounding), so their rows are not paired on identical weights: {named}"]


def write_report(results_dir: Path, profile: str = "cpu", tables=tuple(REPORT_TABLES) + ("readings",)) -> Path:
    """Write ``results/REPORT.md`` (``REPORT_<profile>.md`` for other profiles) from the records: every
    table of both papers, each with its cells and its paper's claims (a table without records says so).

    Example:
        >>> import tempfile
        >>> from benchmark.cells import Cell
        >>> from benchmark.atomic import write_json_atomic
        >>> results = Path(tempfile.mkdtemp())
        >>> for s in range(3):
        ...     c = Cell("table3", "mc-di", "omniglot", 5, 1, s, "cpu")
        ...     write_json_atomic({"cell": c.to_json(), "acc": 96.0 + 0.5 * s, "ci95": 0.5, "latency_ms": 1.0},
        ...                       c.record_path(results))
        >>> path = write_report(results)
        >>> path.name, [line for line in path.read_text().splitlines() if line.startswith("| Mc-Di |")]
        ('REPORT.md', ['| Mc-Di | Omniglot (5,1) | 3 | 96.50 ± 0.50 [95.26, 97.74] | 97.34 | consistent |'])
    """
    results_dir = Path(results_dir)
    lines = ["# Claims report", "",
             f"Generated by `python reproduce/report.py --profile {profile}` from the records under "
             f"`results/runs/<table>/{profile}/`; nothing here is typed by hand. The papers' numbers come from "
             "`benchmark/paper_numbers.csv` (the readings table compares with the paper's Table 1).", ""]
    any_records, empty = False, []
    for table in tables:
        records = load_records(results_dir, table, profile)
        if not records:
            empty.append(table)
            continue
        any_records = True
        lines += table_section(table, records, sitting=load_sitting(results_dir, table, profile)) \
            if table != "readings" else readings_section(records)
        lines += provenance_lines(records)
    from .figures import FIGURES, figure_section
    for name, spec in FIGURES.items():                     # the figures (issue 10): claims from their records
        records = load_records(results_dir, name, profile)
        if not records:
            empty.append(name)
            continue
        any_records = True
        lines += figure_section(name, records, spec)
        lines += provenance_lines(records)
    if not any_records:
        lines += ["(no records: run the reproduce scripts first)", ""]
    if empty:
        lines += ["## Tables and figures without records yet", "",
                  "; ".join(f"`{t}` (`python reproduce/{t}.py --profile {profile}`)" for t in empty)
                  + ". What each needs and why it has not run: `results/README.md`.", ""]
    path = results_dir / ("REPORT.md" if profile == "cpu" else f"REPORT_{profile}.md")
    write_text_atomic("\n".join(lines), path)
    return path


def readings_section(records: list) -> list:
    """The readings table: every row's accuracy, then Mc-Di minus Mv-Di / Tw-Di per reading.

    Example:
        >>> recs = [{"cell": {"method": m, "variant": v, "dataset": "omniglot", "way": 5, "shot": 1, "seed": s},
        ...          "acc": base + 0.5 * s} for m, base in (("mc-di", 96.0), ("mv-di", 95.0))
        ...         for v in ("", "init=zeros") for s in range(3)]
        >>> for line in readings_section(recs)[-3:-1]:
        ...     print(line)
        | Omniglot (5,1) | default | Mc-Di - Mv-Di | 3 | +1.00 [+1.00, +1.00] | -- | +0.69 | reproduced |
        | Omniglot (5,1) | init=zeros | Mc-Di - Mv-Di | 3 | +1.00 [+1.00, +1.00] | -- | +0.69 | reproduced |
    """
    paper = paper_numbers("table1").set_index(["method", "dataset"])["paper_acc_mean"]
    cols, rows = _columns(records), _rows(records)
    lines = ["## readings (which reading decides Mc-Di vs Mv-Di vs Tw-Di)", "",
             "| row | column | n | ours |", "|---|---|---|---|"]
    for m, v in rows:
        for col in cols:
            acc, _ = seed_values(records, m, v, *col)
            if acc:
                s = _summary(acc)
                lines.append(f"| {display_name(m, v)} | {dataset_name(col[0])} ({col[1]},{col[2]}) | {s['n']} | "
                             f"{s['mean']:.2f} ± {s['std']:.2f} |")
    variants = sorted({v for _, v in rows if v})
    lines += ["", "| column | reading | A - B | seeds | difference, seeds | difference, episodes | paper's gap | "
              "verdict |", "|---|---|---|---|---|---|---|---|"]
    have = set(rows)
    for col in cols:
        for reading in [""] + variants:
            def vals(m):
                v = reading if (m, reading) in have else ""
                return seed_values(records, m, v, *col)
            mc = vals("mc-di")
            for other in ("mv-di", "tw-di"):
                ob = vals(other)
                if not mc[0] or not ob[0]:
                    continue
                d = paired_difference(mc[0], ob[0], mc[1], ob[1])
                gap = paper.get(("mc-di", col[0]), math.nan) - paper.get((other, col[0]), math.nan)
                lines.append(f"| {dataset_name(col[0])} ({col[1]},{col[2]}) | {reading or 'default'} | Mc-Di - "
                             f"{display_name(other)} | {d['n_seeds']} | {fmt_diff(d)} | {fmt_ep(d)} | "
                             f"{'--' if math.isnan(gap) else f'{gap:+.2f}'} | {verdict(d, gap)} |")
    return lines + [""]


def write_readings(results_dir: Path, profile: str = "cpu") -> Path:
    """``results/readings_claims.md`` (``readings_<profile>_claims.md``) from the readings records.

    Example:
        >>> import tempfile
        >>> path = write_readings(Path(tempfile.mkdtemp()))           # no readings records yet
        >>> path.name, path.read_text().splitlines()[-1]
        ('readings_claims.md', 'No records yet.')
    """
    results_dir = Path(results_dir)
    records = load_records(results_dir, "readings", profile)
    lines = ["# Which reading decides the comparison", "",
             f"Generated by `python reproduce/readings.py --profile {profile}` from its records. Mc-Di minus Mv-Di "
             "and minus Tw-Di, 5-way 1-shot, paired over seeds (95% t interval) and over all paired test episodes "
             "(95% normal interval); verdict on the paper's claim Mc-Di > other (reproduced: the seed interval "
             "lies above 0; not reproduced: it lies below the paper's gap, from its Table 1; inconclusive "
             "otherwise). A reading that cannot change a method reuses that method's default row.", ""]
    lines += readings_section(records) if records else ["No records yet.", ""]
    path = results_dir / ("readings_claims.md" if profile == "cpu" else f"readings_{profile}_claims.md")
    write_text_atomic("\n".join(lines), path)
    return path
