import pandas as pd
import pytest

from benchmark.cells import Cell
from benchmark.evaluate_core import mean_ci
from benchmark.tables import aggregate, build_table, records_frame, to_latex
import torch


def _rec(method, dataset, shot, seed, acc, lat=2.0, variant=""):
    return {"cell": {"method": method, "variant": variant, "dataset": dataset, "way": 5, "shot": shot,
                     "seed": seed}, "acc": acc, "ci95": 0.5, "latency_ms": lat}


def test_aggregate_known_mean_std():
    recs = [_rec("reptile", "omniglot", 1, s, a) for s, a in enumerate([90.0, 91.0, 92.0, 93.0, 94.0])]
    agg = aggregate(records_frame(recs))
    row = agg.iloc[0]
    assert row.n_seeds == 5 and row.acc_mean == pytest.approx(92.0)
    assert row.acc_std == pytest.approx(1.5811388, rel=1e-6)      # sample std (ddof=1) of 90..94


def test_build_table_with_paper_values_and_latex():
    grid = [Cell("table3", "reptile", d, 5, 1, s, "cpu") for d in ("omniglot", "tiered-imagenet") for s in range(2)]
    recs = [_rec("reptile", "omniglot", 1, 0, 80.0, 3.0), _rec("reptile", "omniglot", 1, 1, 84.0, 5.0)]
    df = build_table(recs, grid, "table3", missing_data={"tiered-imagenet": "missing"})
    om = df[df.dataset == "omniglot"].iloc[0]
    assert om.acc_mean == 82.0 and om.acc_std == pytest.approx(2.8284271) and om.latency_ms == 4.0
    assert om.paper_acc_mean == 95.39 and om.paper_acc_std == 0.09 and om.status == "ok"
    ti = df[df.dataset == "tiered-imagenet"].iloc[0]
    assert ti.status == "missing data" and ti.paper_acc_mean == 49.12
    tex = to_latex(df, "cap", "tab:x")
    # the paper's shape: a dataset header over (way, shot) columns, display names, ours in bold as the
    # best method row, the paper's values in a second block
    assert r"\multicolumn{1}{c}{Omniglot} & \multicolumn{1}{c}{Tiered-ImageNet}" in tex
    assert r"REPTILE & \textbf{82.00 $\pm$ 2.83} & \textit{missing data} & 4.000 \\" in tex
    assert r"\textit{Paper}" in tex and r"REPTILE & 95.39 $\pm$ 0.09 & 49.12" in tex and "& 20.7" in tex


def test_paper_values_sit_beside_the_default_row_only():
    """A variant row (REPTILE from the shared body: not the paper's protocol) gets no paper number, in the
    CSV frame as in the LaTeX paper block, where the paper's REPTILE appears once."""
    grid = [Cell("table3", "reptile", "omniglot", 5, 1, s, "cpu", variant=v) for v in ("", "pretrained")
            for s in range(2)]
    recs = [_rec("reptile", "omniglot", 1, s, 80.0 + s, variant=v) for v in ("", "pretrained") for s in range(2)]
    df = build_table(recs, grid, "table3").set_index("method")
    assert df.loc["reptile", "paper_acc_mean"] == 95.39 and pd.isna(df.loc["reptile[pretrained]", "paper_acc_mean"])
    paper_block = to_latex(df.reset_index(), "cap", "tab:x").split(r"\textit{Paper}")[1]
    assert "REPTILE & 95.39" in paper_block and "[pretrained]" not in paper_block


def test_partial_seeds_flagged():
    grid = [Cell("table3", "reptile", "omniglot", 5, 1, s, "cpu") for s in range(5)]
    df = build_table([_rec("reptile", "omniglot", 1, 0, 80.0)], grid, "table3")
    assert df.iloc[0].status == "partial (1/5 seeds)"


def test_report_marks_cells_with_fewer_seeds_than_the_table():
    from benchmark.report import table_section
    recs = [_rec("reptile", "omniglot", 1, s, 90.0 + s) for s in range(5)] + \
        [_rec("mc-di", "omniglot", 1, s, 91.0 + s) for s in range(2)]
    rows = {line.split(" | ")[0]: line for line in table_section("table3", recs) if line.startswith("| ")}
    assert rows["| Mc-Di"].endswith("(2/5 seeds) |") and "seeds)" not in rows["| REPTILE"]


def test_report_does_not_hold_a_paper_to_an_order_its_own_table_reverses():
    """Mc-Di's Table 3 has Meta-Baseline above Mc-Di on Omniglot 5-way 1-shot (97.75 vs 97.34): there
    "Mc-Di best in each column" is *not claimed* against Meta-Baseline, whatever ours show, and the
    overall verdict rests on the pairs the paper does order Mc-Di first (here REPTILE, 95.39)."""
    from benchmark.report import table_section
    recs = [_rec(m, "omniglot", 1, s, base + 0.1 * s) for m, base in
            (("meta-baseline", 96.0), ("mc-di", 92.0), ("reptile", 80.0)) for s in range(5)]
    rows = [line for line in table_section("table3", recs) if line.startswith("| Mc-Di best") or
            line.startswith("| **Mc-Di best")]
    verdicts = {line.split(" | ")[2]: line.rstrip(" |").rsplit("| ", 1)[1] for line in rows}
    assert verdicts == {"Mc-Di - Meta-Baseline": "not claimed", "Mc-Di - REPTILE": "reproduced",
                        "all rows": "**reproduced**"}


def test_latency_claim_is_held_to_the_papers_ratio_not_its_milliseconds():
    """The paper times Mc-Di 4.8 and Meta-Diff 8.9 ms/sample on Omniglot (Mc-Di 46% faster); on a machine
    ~10x faster a wide interval of ours that reaches past 46% of our Meta-Diff latency is *inconclusive*,
    not below the paper's 4.1 ms; one that stops short of it is *not reproduced*."""
    from benchmark.report import table_section

    def verdict(ours_lat):
        recs = [_rec("meta-diff", "omniglot", 1, s, 90.0, lat=1.0) for s in range(5)] + \
            [_rec("mc-di", "omniglot", 1, s, 90.0, lat=v) for s, v in enumerate(ours_lat)]
        row = [line for line in table_section("table3", recs) if "(ms/sample) | Omniglot (5,1) | Meta-Diff" in line]
        return row[0].rstrip(" |").rsplit("| ", 1)[1]
    assert verdict([0.3, 1.6, 0.4, 1.5, 0.9]) == "inconclusive"           # Meta-Diff - Mc-Di: [-0.6, +0.7]
    assert verdict([0.95, 1.05, 0.9, 1.1, 1.0]) == "not reproduced"       # level: [-0.1, +0.1], below 0.46


def test_report_does_not_judge_latency_timed_compiled():
    """A --compile table times only the diffusion methods' generation compiled: its "fastest" claim is
    not judged (an uneven comparison); without --compile it is."""
    from benchmark.report import table_section
    recs = [_rec("reptile", "omniglot", 1, s, 90.0, lat=3.0 + s) for s in range(5)] + \
        [_rec("mc-di", "omniglot", 1, s, 91.0, lat=1.0 + s) for s in range(5)]
    plain = "\n".join(table_section("table3", recs))
    assert "ms/sample" in plain and "not judged" not in plain
    for r in recs:
        r["compiled_sampler"] = True
    compiled = "\n".join(table_section("table3", recs))
    assert "ms/sample" not in compiled and "not judged: the generation was timed compiled" in compiled


def test_mean_ci():
    acc, ci = mean_ci(torch.tensor([1.0, 0.0] * 50))
    assert acc == 50.0 and ci == pytest.approx(1.96 * 0.5025189 / 10 * 100, rel=1e-4)


def test_report_is_generated_from_records_byte_for_byte(tmp_path):
    """results/REPORT.md: every cell and claim from the records, the same bytes from the same records."""
    from benchmark.cli import Grid, grid_main
    from benchmark.report import write_report
    grid = Grid("table3", methods=["meta-baseline", "mv-di", "mc-di", "ref-centroid"], datasets=["synthetic"],
                settings=[(5, 1)], seeds=(0, 1))
    assert grid_main(grid, ["--profile", "smoke", "--results", str(tmp_path), "--cache", str(tmp_path / "c"),
                            "--no-progress"]) == 0
    first = write_report(tmp_path, "smoke").read_bytes()
    assert write_report(tmp_path, "smoke").read_bytes() == first
    text = first.decode()
    assert "| Mc-Di | Synthetic (5,1) | 2 |" in text and "Mc-Di best in each column" in text
    assert "Mc-Di - Meta-Baseline" in text and "ref.: nearest centroid - " not in text     # references never compete
    assert any(v in text for v in ("reproduced", "inconclusive"))
    assert (tmp_path / "table3_smoke.png").exists() and "\\multicolumn" in (tmp_path / "table3_smoke.tex").read_text()


def test_report_covers_body_tables_and_the_lt_di_paper(tmp_path):
    """Tables over bodies (columns "<dataset>|<body>") and the Lt-Di paper's tables (its own published
    numbers and claims) enter REPORT.md; a table without records is listed as such."""
    import json
    from benchmark.report import write_report
    recs = {("table6", "mc-di", "swin"): [95.0, 96.0], ("table6", "mv-di", "swin"): [94.0, 95.5],
            ("ltdi_table1", "lt-di", "conv4"): [93.0, 94.0], ("ltdi_table1", "lv-di", "conv4"): [92.0, 94.5]}
    for (table, m, body), accs in recs.items():
        for seed, acc in enumerate(accs):
            r = _rec(m, "omniglot", 1, seed, acc)
            r["cell"].update(table=table, backbone=body)
            r["episode_acc"] = [acc - 1.0, acc + 1.0]
            path = tmp_path / "runs" / table / "cpu" / m / f"omniglot_5w1s_seed{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(r))
    text = write_report(tmp_path, "cpu").read_text()
    assert "| Mc-Di | Omniglot: Swin Transformer (5,1) | 2 | 95.50" in text and "| 99.90 |" in text   # Mc-Di Table 6
    assert "## ltdi_table1 (the Lt-Di paper's Table 1)" in text
    assert "| Lt-Di | Omniglot (5,1) | 2 | 93.50" in text and "| 97.12 |" in text                   # Lt-Di's own number
    assert "C3, the trajectory: Lt-Di > Lv-Di" in text and "Mc-Di > Mv-Di | Omniglot: Swin Transformer" in text
    assert "`table2` (`python reproduce/table2.py --profile cpu`)" in text


def test_claim_against_a_variant_row_is_held_to_the_plain_methods_paper_gap():
    """REPTILE from the shared body (a row that is not the paper's) is judged in a claim of its own, named
    as such, against the paper's gap to its REPTILE (Table 6, Swin: 99.90 - 98.27 = +1.63)."""
    from benchmark.report import REPORT_TABLES, table_section
    recs = []
    for seed in range(3):
        for m, v, acc in (("mc-di", "", 60.0 + seed), ("reptile", "", 30.0 + seed), ("reptile", "pretrained", 70.0 + seed)):
            r = _rec(m, "omniglot", 1, seed, acc, variant=v)
            r["cell"].update(table="table6", backbone="swin")
            recs.append(r)
    text = "\n".join(table_section("table6", recs, REPORT_TABLES["table6"]))
    plain = [ln for ln in text.splitlines() if "| Mc-Di - REPTILE |" in ln]
    ours = [ln for ln in text.splitlines() if "| Mc-Di - REPTILE [pretrained] |" in ln]
    assert len(plain) == 1 and plain[0].rstrip(" |").endswith("| reproduced")          # +30 over from-scratch
    assert len(ours) == 1 and "not the paper's protocol" in ours[0] and "| +1.63 |" in ours[0]
    assert ours[0].rstrip(" |").endswith("not reproduced")                               # 10 points below it


def test_report_table5_claims_parity_and_speedup():
    """Table 5's claims (comparable accuracy; x3.6 faster) are judged per fine-tuner and per reading of
    Mc-Di, on the latency the table reports (thread CPU time when every record has it)."""
    from benchmark.report import REPORT_TABLES, table_section

    def rec(method, seed, acc, cpu_ms, variant=""):
        r = _rec(method, "glue-mrpc", 0, seed, acc, lat=1e9, variant=variant)       # wall time: ignored
        r["cell"]["way"], r["latency_cpu_ms"] = 2, cpu_ms
        return r
    recs = [rec("lora", s, 71.0 + s % 2, 200_000.0 + 1000 * s) for s in range(5)]
    recs += [rec("mc-di-lora", s, 60.0 + s % 2, 50.0) for s in range(5)]                       # far below, fast
    recs += [rec("mc-di-lora", s, 71.0 + (s + 1) % 2, 45_000.0 + 500 * s, "ft") for s in range(5)]
    text = "\n".join(table_section("table5", recs, REPORT_TABLES["table5"]))
    lines = {ln.split("|")[3].strip() + ("|speed" if "latency" in ln.split("|")[1] else ""): ln
             for ln in text.splitlines() if ln.startswith("| Mc-Di")}
    assert lines["Mc-Di - LoRA"].rstrip(" |").endswith("not reproduced")                 # 11 points below LoRA
    assert lines["Mc-Di [ft] - LoRA"].rstrip(" |").endswith("inconclusive")              # level with it, noisy
    assert lines["LoRA / Mc-Di|speed"].rstrip(" |").endswith("faster, at accuracy not comparable")   # 4000x, at 60%
    assert "| 4.04e+03x [" in lines["LoRA / Mc-Di|speed"]
    assert "| 4.3" in lines["LoRA / Mc-Di [ft]|speed"] and "| -- | -- |" in lines["LoRA / Mc-Di [ft]|speed"]  # the paper: no MRPC latency
    # 4.4x, but its accuracy is only level within a wide interval: the claim (both at once) is not shown
    assert lines["LoRA / Mc-Di [ft]|speed"].rstrip(" |").endswith("faster, comparable accuracy not shown")
    for r in recs:                                  # the [ft] row shown comparable (within the paper's gap): reproduced
        if r["cell"]["variant"] == "ft":
            r["acc"] = 71.5 + r["cell"]["seed"] % 2     # LoRA's + 0.5 in every seed
    text = "\n".join(table_section("table5", recs, REPORT_TABLES["table5"]))
    ft = [ln for ln in text.splitlines() if ln.startswith("| Mc-Di") and "LoRA / Mc-Di [ft]" in ln][0]
    assert ft.rstrip(" |").endswith("| reproduced")


def test_report_flags_a_table_made_in_two_environments(tmp_path):
    """REPORT.md names each section's code versions and environments, and flags a table whose records come from
    two machines (the same code can round differently there)."""
    from benchmark.atomic import write_json_atomic
    from benchmark.cells import Cell
    from benchmark.report import write_report
    env = {"cpu": "EPYC", "cpu_capability": "AVX512", "numpy": "2", "pillow": "13"}
    for s in range(4):
        c = Cell("table3", "mc-di", "omniglot", 5, 1, s, "cpu")
        rec = {"cell": c.to_json(), "acc": 96.0 + s, "ci95": 0.5, "latency_ms": 1.0, "code_version": "abcdef123456",
               "torch": "2.14", "env": dict(env, cpu_capability="AVX2" if s == 3 else "AVX512")}
        write_json_atomic(rec, c.record_path(tmp_path))
    text = write_report(tmp_path).read_text()
    line = next(x for x in text.splitlines() if x.startswith("Provenance:"))
    assert "`abcdef1` (4)" in line and "EPYC (AVX512), torch 2.14, numpy 2, Pillow 13 (3)" in line
    assert "(AVX2)" in line and "more than one environment" in line
    Cell("table3", "mc-di", "omniglot", 5, 1, 3, "cpu").record_path(tmp_path).unlink()   # one machine again
    assert "more than one environment" not in write_report(tmp_path).read_text()


def test_report_flags_rows_of_one_seed_on_different_bodies(tmp_path):
    """A (dataset, body, seed) whose rows stand on two body fingerprints (the body trained again, e.g. on
    another machine after its cache was lost) is named in REPORT.md; one body for every row is not."""
    from benchmark.atomic import write_json_atomic
    from benchmark.cells import Cell
    from benchmark.report import write_report
    for method, fp in (("tw-di", "aaaa"), ("ref-centroid", "bbbb"), ("mc-di", "aaaa")):
        c = Cell("table6", method, "omniglot", 5, 1, 0, "cpu", backbone="resnet18")
        write_json_atomic({"cell": c.to_json(), "acc": 90.0, "ci95": 0.5, "latency_ms": 1.0,
                           "body": {"fingerprint": fp}, "settings": {"image_size": 28}}, c.record_path(tmp_path))
    split = [x for x in write_report(tmp_path).read_text().splitlines() if x.startswith("Shared body split")]
    assert len(split) == 1 and "omniglot resnet18 seed 0 (aaaa: mc-di, tw-di; bbbb: ref-centroid)" in split[0]
    Cell("table6", "ref-centroid", "omniglot", 5, 1, 0, "cpu", backbone="resnet18").record_path(tmp_path).unlink()
    assert "Shared body split" not in write_report(tmp_path).read_text()


def test_report_counts_a_claims_seed_pairs_on_two_bodies(tmp_path):
    """A claim's seeds column says how many of its seed pairs stand on two trainings of the body (the pairing
    does not cancel the body's draw there); pairs on one body are not counted."""
    from benchmark.atomic import write_json_atomic
    from benchmark.cells import Cell
    from benchmark.report import write_report

    def write(mv_fp_seed1):
        for seed, fps in ((0, ("aa", "aa")), (1, ("bb", mv_fp_seed1))):
            for method, fp in zip(("mc-di", "mv-di"), fps):
                c = Cell("table6", method, "omniglot", 5, 1, seed, "cpu", backbone="resnet18")
                write_json_atomic({"cell": c.to_json(), "acc": 90.0 + seed + (method == "mc-di"), "ci95": 0.5,
                                   "latency_ms": 1.0, "body": {"fingerprint": fp}, "settings": {"image_size": 28}},
                                  c.record_path(tmp_path))
        return next(x for x in write_report(tmp_path).read_text().splitlines() if x.startswith("| Mc-Di > Mv-Di"))

    assert "| Mc-Di - Mv-Di | 2 (1 on two bodies) |" in write("cc")
    assert "| Mc-Di - Mv-Di | 2 |" in write("bb")
