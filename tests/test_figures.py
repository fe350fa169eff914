"""The figures (issue 10): the respaced sampler, the reconstruction MSE, the training curve with its
compute, the compute budget, and each figure script's grid, drawing and report section."""
import importlib
import json
import pathlib
from dataclasses import replace

import pandas as pd
import pytest
import torch

from benchmark.cells import Cell
from benchmark.figures import FIGURES, _cell_label, cell_frame, figure_main, figure_row, figure_section, trace_frame
from benchmark.runner import run_cell, trained_method, validate_cell
from methods.diffusion.sampler import respaced, sample
from methods.diffusion.schedule import alpha_bar, make_alphas

REPRO = pathlib.Path(__file__).parents[1] / "reproduce"
FIGURE_SCRIPTS = sorted(p.stem for p in REPRO.glob("*figure*.py") if p.stem != "figure5")


def test_respaced_chain_is_the_chain_at_full_length_and_jumps_by_alpha_products():
    alphas = make_alphas("linear-noise", 20)
    net = torch.nn.Linear(6, 6)
    model = lambda x, t: torch.tanh(net(x)) * (1 + t.float().unsqueeze(1) / 20)      # depends on t
    x0 = torch.randn(3, 6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sample(model, x0, alphas, steps=20), sample(model, x0, alphas))
    chain = sample(model, x0, alphas, return_chain=True, steps=4)
    assert len(chain) == 5 and all(torch.isfinite(c).all() for c in chain)
    b = respaced(20, 4)
    ab = alpha_bar(alphas)
    products = torch.stack([alphas[lo:hi].prod() for lo, hi in zip(b[:-1], b[1:])])
    assert torch.allclose(alpha_bar(products), ab[b])           # the respaced chain keeps abar at its steps
    seen = []
    sample(lambda x, t: seen.append(int(t[0])) or torch.zeros_like(x), x0, alphas, steps=4)
    assert seen == b[:-1]                                       # the denoiser is told the trained step
    with pytest.raises(ValueError, match="between 1 and"):
        respaced(20, 21)


def _cell(table="t", **opts):
    return Cell(table, "mc-di", "synthetic", 5, 1, 0, "smoke", options=tuple(sorted(opts.items())),
                variant=",".join(f"{k}={v}" for k, v in sorted(opts.items())))


def test_mse_logging_leaves_the_training_unchanged_and_measures_distance_to_theta_M(tmp_path):
    plain, _, _, _ = trained_method(_cell(val_checkpoints=2), None, tmp_path / "a")
    logged, ctx, _, _ = trained_method(_cell(val_checkpoints=2, mse_episodes=6), None, tmp_path / "b")
    assert plain.selection["curve"] == logged.selection["curve"]
    for k, v in plain.net.state_dict().items():
        assert torch.equal(v, logged.net.state_dict()[k]), k
    trace = logged.selection["trace"]
    assert [p["it"] for p in trace] == [it for it, _ in logged.selection["curve"]]
    assert all(p["val_mse"] > 0 for p in trace) and "val_mse" not in plain.selection["trace"][0]
    assert all(b["cpu_s"] >= a["cpu_s"] for a, b in zip(trace, trace[1:]))     # compute only grows
    episodes = ctx.test_sampler().episodes(6)
    out = logged.heldout_mse("test", episodes, steps=(2, 5))
    assert out["mse"] > 0 and set(out["mse_by_steps"]) == {"2", "5"} and out["mse_episodes"] == 6
    targets = logged._episode_targets("test", episodes)
    logged.generate = lambda protos, steps=None: targets[: len(protos)].clone()   # a perfect generator
    assert logged.heldout_mse("test", episodes)["mse"] == 0.0


def test_record_of_a_figure_cell_holds_mse_steps_and_trace(tmp_path):
    rec = run_cell(_cell("fig", mse_episodes=4), None, tmp_path / "cache", tmp_path / "results")
    assert rec["mse"] > 0 and rec["mse_episodes"] == 4
    assert set(rec["mse_by_steps"]) == {"1", "2", "5", "10", "15"}            # inference_steps(20)
    assert rec["selection"]["trace"] and "cpu_s" in rec["readings"]["preparation"]
    again = run_cell(_cell("fig", mse_episodes=4), None, tmp_path / "cache2", tmp_path / "results2")
    assert (again["acc"], again["mse"], again["mse_by_steps"]) == (rec["acc"], rec["mse"], rec["mse_by_steps"])


def test_a_compute_budget_stops_the_training_and_says_where(tmp_path):
    m, _, _, _ = trained_method(_cell(budget_cpu_s=1e-9), None, tmp_path)
    assert m.selection["budget_cpu_s"] == 1e-9 and m.selection["stopped_at"] == 0
    assert m.selection["curve"][-1][0] == 0                     # scored where it stopped
    full, _, _, _ = trained_method(_cell(), None, tmp_path)
    assert "stopped_at" not in full.selection


def test_figure_row_names_only_what_differs_from_the_defaults():
    assert figure_row("mc-di", segments=3, steps=20)[0] == "fig"
    assert figure_row("mv-di", segments=1, steps=6)[:2] == ("fig,steps=6", "mv-di")
    assert FIGURES["figure4"].row(1)[1] == "mv-di" and FIGURES["ltdi_figure3"].row(1)[1] == "lv-di"


def test_heatmap_cells_with_fewer_seeds_say_so_instead_of_a_zero_std():
    assert _cell_label(91.94, float("nan"), 1, 5) == "91.9\n(1 seed)"
    assert _cell_label(91.94, 1.23, 3, 5) == "91.9\n±1.2\n(3 seeds)"
    assert _cell_label(91.94, 1.23, 5, 5) == "91.9\n±1.2"
    assert _cell_label(float("nan"), float("nan"), float("nan"), 5) == ""


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_a_figure_without_records_says_so_in_its_report_section(name):
    lines = figure_section(name, [], FIGURES[name])
    assert "(not enough records for a paired comparison yet)" in lines


@pytest.mark.parametrize("script", FIGURE_SCRIPTS)
def test_figure_grids_are_valid_and_share_their_common_cells(script, monkeypatch):
    monkeypatch.syspath_prepend(str(REPRO))
    grid = importlib.import_module(script).GRID
    cells = grid.cells("cpu")
    assert cells and grid.table in FIGURES
    for c in {(c.method, c.options): c for c in cells}.values():
        validate_cell(c)
        assert dict(c.options)["mse_episodes"] > 0
    if script in ("figure4", "figure6", "figure7"):        # their default Mc-Di cell is Figures 8-9's
        mod = importlib.import_module("figure8_9")
        other = {replace(c, table=grid.table) for c in mod.GRID.cells("cpu")}
        assert any(c in other for c in cells)


def _records(root, table):
    return [json.loads(p.read_text()) for p in sorted((root / "runs" / table / "smoke").glob("*/*.json"))]


def test_figures_draw_from_records_and_enter_the_report(tmp_path, monkeypatch):
    """Figure 6 and a reduced Figures 8-9 grid on synthetic data: CSV, PNG, report section; the
    8-9 cells at T = 20 are copies of Figure 6's (one computation)."""
    from benchmark.report import write_report
    monkeypatch.syspath_prepend(str(REPRO))
    f6 = replace(importlib.import_module("figure6").GRID, datasets=["synthetic"])
    spec89 = FIGURES["figure8_9"]
    f89 = replace(importlib.import_module("figure8_9").GRID, datasets=["synthetic"],
                  variants=[spec89.row(k, steps=T) for k in (1, 3) for T in (6, 20)])
    args = ["--profile", "smoke", "--results", str(tmp_path), "--cache", str(tmp_path / "cache"), "--seeds", "0", "1",
            "--no-progress"]
    assert figure_main(f6, FIGURES["figure6"].draw, args) == 0
    assert figure_main(f89, FIGURES["figure8_9"].draw, args) == 0
    for stem in ("figure6_smoke", "figure8_9_smoke"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 10_000
    df = pd.read_csv(tmp_path / "figure8_9_smoke.csv")
    assert set(df["k"]) == {1, 3} and set(df["T"]) == {6, 20} and (df["n_seeds"] == 2).all()
    f6csv = pd.read_csv(tmp_path / "figure6_smoke.csv")
    assert set(f6csv["plot"]) == {"compute", "steps"} and f6csv["val_mse_mean"].notna().any()
    copied = [r for r in _records(tmp_path, "figure8_9") if r.get("copied_from")]
    assert len(copied) == 4 and all("figure6" in r["copied_from"] for r in copied)
    tr = trace_frame(_records(tmp_path, "figure6"))
    assert (tr.groupby(["method", "seed"])["cpu_s"].min() >= 0).all()
    assert cell_frame(_records(tmp_path, "figure6"))["mse"].gt(0).all()
    report = write_report(tmp_path, "smoke").read_text()
    assert "## figure6: Mc-Di Figure 6" in report and "## figure8_9:" in report
    assert "| lower test MSE (T = 20 steps) | Synthetic | MSE Mv-Di - Mc-Di | 2 |" in report
    assert "`figure7` (`python reproduce/figure7.py --profile smoke`)" in report       # no records yet
    # --table-only redraws from the records alone, the same bytes
    before = (tmp_path / "figure6_smoke.csv").read_bytes()
    assert figure_main(f6, FIGURES["figure6"].draw, args + ["--table-only"]) == 0
    assert (tmp_path / "figure6_smoke.csv").read_bytes() == before
