"""Table 5 (GLUE): the TSV reader, the split encoder, every row through the runner on tiny GLUE
files and a tiny random BERT, DyLoRA's truncation, AdaLoRA's rank update, generated LoRA weights
loading into the model, one real MiniLM batch, and the bad inputs of a text cell."""
import json
import os
from pathlib import Path

import pytest
import torch

from benchmark.cells import Cell
from benchmark.cli import Grid, grid_main
from benchmark.config import ConfigError
from benchmark.data import DataCorruptError, DataMissingError
from benchmark.runner import run_cell, validate_cell
from benchmark.text.context import TextContext, write_tiny_glue
from benchmark.text.glue import load_glue

TASKS = ["mrpc", "qnli", "sst2", "qqp", "rte", "wnli", "cola"]
ROWS = ["full-ft", "lora", "adalora", "dylora", "fourierft", "mv-di-lora", "mc-di-lora", "lt-di-lora", "ref-target-lora"]


@pytest.fixture(scope="module")
def glue_root(tmp_path_factory):
    return write_tiny_glue(tmp_path_factory.mktemp("glue"), TASKS)


def _cell(method, dataset="glue-mrpc", seed=0, **options):
    return Cell("table5", method, dataset, 2, 0, seed, "smoke", options=tuple(sorted(options.items())))


def test_reader_labels_and_errors(tmp_path, glue_root):
    ds = load_glue(glue_root, "glue-rte")
    assert set(ds["train"].labels.tolist()) == {0, 1} and len(ds["dev"]) == 24
    with pytest.raises(DataMissingError, match=r"glue/MRPC/train.tsv"):
        load_glue(tmp_path, "mrpc")
    bad = write_tiny_glue(tmp_path / "bad", ["qnli"])
    p = bad / "glue" / "QNLI" / "train.tsv"
    p.write_text(p.read_text().replace("not_entailment", "maybe", 1))
    with pytest.raises(DataCorruptError, match="label 'maybe'"):
        load_glue(bad, "qnli")


@pytest.mark.skipif(not os.environ.get("MCDI_DATA"), reason="needs $MCDI_DATA")
def test_real_glue_files_parse():
    root = Path(os.environ["MCDI_DATA"])
    if not (root / "glue").is_dir():
        pytest.skip("no glue/ under $MCDI_DATA")
    sizes = {t: len(load_glue(root, t)["train"]) for t in TASKS}
    assert sizes["mrpc"] == 3667 and sizes["sst2"] == 67349 and sizes["cola"] == 8551


def test_split_encoder_equals_the_whole_model():
    from benchmark.text.encoder import load_encoder
    enc = load_encoder("tiny", top_layers=1, seed=0)
    batch = enc.tokenize(["good cat runs", "bad"], ["a dog", "the big red dog sleeps"], max_len=12)
    top = enc.new_top(0).eval()
    split = top.features(enc.bottom(batch), batch["attention_mask"])
    base = enc._top.layers[0]                                        # the same weights as the full model's
    assert split.shape == (2, 12, 32)
    # the bottom then the top is the model's own encoder on the same input
    h = enc.embeddings(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"])
    add = (1.0 - batch["attention_mask"][:, None, None, :].float()) * torch.finfo(torch.float32).min
    for layer in list(enc.frozen) + [base]:
        h = layer(h, attention_mask=add)
        h = h[0] if isinstance(h, tuple) else h
    assert torch.allclose(split, h, atol=1e-5)


def test_dylora_truncates_and_freezes_lower_ranks():
    from methods.llm.dylora import DyLoRALinear
    m = DyLoRALinear(torch.nn.Linear(6, 4), r_max=4, alpha=4.0, seed=0)
    with torch.no_grad():
        m.lora_B.normal_()
    m.rank = 2
    x = torch.randn(3, 6)
    manual = m.base(x) + 2.0 * x @ m.lora_A[:2].T @ m.lora_B[:, :2].T
    assert torch.allclose(m(x), manual, atol=1e-6)
    m(x).sum().backward()
    gA, gB = m.lora_A.grad, m.lora_B.grad
    assert gA[1].abs().sum() > 0 and gB[:, 1].abs().sum() > 0          # the b-th rank learns
    assert gA[0].abs().sum() == 0 and gB[:, 0].abs().sum() == 0        # lower ranks frozen
    assert gA[2:].abs().sum() == 0 and gB[:, 2:].abs().sum() == 0      # higher ranks unused


def test_every_row_runs_and_is_deterministic(tmp_path, glue_root):
    recs = {}
    for m in ROWS:
        recs[m] = run_cell(_cell(m), glue_root, tmp_path / "cache", tmp_path / "res")
        assert 0 <= recs[m]["acc"] <= 100 and recs[m]["latency_s"] > 0
        assert 0 < recs[m]["latency_cpu_ms"] <= 1.5 * recs[m]["latency_ms"] + 50    # the adapt in thread CPU time
        assert len(recs[m]["example_correct"]) == recs[m]["dev_examples"]
        assert recs[m]["readings"]["hyper_parameters_from"]
    # AdaLoRA's rank allocation ran after every step; DyLoRA sampled ranks
    ada = recs["adalora"]["adapt"]
    assert ada["rank_updates"] == ada["steps"] > 0
    assert sum(recs["dylora"]["adapt"]["ranks_sampled"].values()) >= recs["dylora"]["adapt"]["steps"]
    assert recs["mc-di-lora"]["readings"]["loss"] == "local" and recs["mv-di-lora"]["readings"]["loss"] == "vanilla"
    assert recs["lt-di-lora"]["readings"]["objective"] == "trajectory"
    assert recs["lt-di-lora"]["hparams"]["segments"] == recs["mc-di-lora"]["hparams"]["segments"] == 3
    # the reference: Algorithm 1's fine-tuning of the generators' targets, on the task's conditioning examples
    ref, hp = recs["ref-target-lora"], recs["mc-di-lora"]["hparams"]
    assert hp["prep_min_steps"] <= ref["adapt"]["steps"] <= hp["prep_max_steps"]
    assert ref["adapt"]["trainable_parameters"] == recs["mc-di-lora"]["adapt"]["trainable_parameters"]
    assert __import__("methods").is_reference("ref-target-lora") and "loss" not in ref["readings"]
    assert ref["readings"]["target_recipe"]["prep_lr"] == hp["prep_lr"]
    again = run_cell(_cell("lora"), glue_root, tmp_path / "cache2", tmp_path / "res2")
    assert again["example_correct"] == recs["lora"]["example_correct"]


def test_lv_di_lora_is_mv_di_lora_computed_once(tmp_path, glue_root):
    """Lv-Di's Table 5 row is Mv-Di's class under another name: run alone it answers every dev example as
    Mv-Di does; beside Mv-Di's record it is copied, named as Mv-Di's computation."""
    mv = run_cell(_cell("mv-di-lora"), glue_root, tmp_path / "c", tmp_path / "r")
    alone = run_cell(_cell("lv-di-lora"), glue_root, tmp_path / "c2", tmp_path / "alone")
    assert "copied_from" not in alone
    assert alone["example_correct"] == mv["example_correct"] and alone["acc"] == mv["acc"]
    copied = run_cell(_cell("lv-di-lora"), glue_root, tmp_path / "c", tmp_path / "r")
    assert copied["copied_from"].startswith("runs/table5/smoke/mv-di-lora/")
    assert copied["computed_as"]["method"] == "mv-di-lora" and copied["cell"]["method"] == "lv-di-lora"


def test_adalora_loss_has_its_orthogonality_term(glue_root):
    from methods import get_method
    ctx = TextContext.build(_cell("adalora"), glue_root, None)
    method = get_method("adalora")(ctx)
    _, fwd, _, _, _, loss_fn = method.wrap(ctx.encoder.new_top(0))
    b = ctx.task().batches("train")
    loss, ce = loss_fn(b.x[:8], b.mask[:8], b.y[:8])
    assert loss.item() > ce.item()


def test_generated_lora_loads_into_the_model(tmp_path, glue_root):
    from methods import get_method
    ctx = TextContext.build(_cell("mc-di-lora"), glue_root, tmp_path)
    method = get_method("mc-di-lora")(ctx)
    method.meta_train()
    model, params = method.lora_model(0)
    vec = torch.randn(sum(p.numel() for _, p in params))
    method.load_flat(model, vec)
    assert torch.equal(method.flat(params), vec)                       # every entry where it belongs
    names = [n for n, _ in params]
    assert any("lora_A" in n for n in names) and any("classifier" in n for n in names)
    dev = ctx.task().batches("dev")
    before = method.predict(model, dev)
    method.load_flat(model, torch.zeros_like(vec))
    assert not torch.allclose(before, method.predict(model, dev))      # the weights are used


@pytest.mark.parametrize("init", ["shared", "per-task"])
def test_batched_trajectories_equal_the_loop_without_dropout(tmp_path, glue_root, init, monkeypatch):
    """Algorithm 1 on LoRA, tasks batched with torch.func (prep_batch=3) vs one task at a time: the same
    updates, so the same trajectories and M when the model has no dropout (the only draw that differs)."""
    from methods import get_method
    preps = []
    for batch in (1, 3):
        ctx = TextContext.build(_cell("mc-di-lora"), glue_root, None)
        for m in ctx.encoder._top.modules():
            if isinstance(m, torch.nn.Dropout):
                monkeypatch.setattr(m, "p", 0.0)
        method = get_method("mc-di-lora")(ctx, prep_batch=batch, init=init, tasks_per_source=1, prep_max_steps=12,
                                          prep_min_steps=2, prep_tol=0.05)
        preps.append(method.prepared())
    a, b = preps
    assert a["trajectory"].shape == b["trajectory"].shape == (5, 13, a["trajectory"].shape[-1])
    assert torch.equal(a["M"], b["M"]) and a["M"].min() < 12             # some task stopped at its plateau
    assert torch.allclose(a["trajectory"], b["trajectory"], atol=1e-5)
    assert not torch.equal(a["trajectory"][:, 0], a["trajectory"][:, -1])  # they moved


def test_table5_grid_writes_paper_shaped_table(tmp_path, glue_root):
    grid = Grid("table5", methods=["lora", "mc-di-lora"], datasets=["glue-mrpc", "glue-qnli"], settings=[(2, 0)],
                seeds=(0,),
                variants=[("ft", "mc-di-lora", {"finetune": True})], latency="per-task")
    args = ["--profile", "smoke", "--data", str(glue_root), "--results", str(tmp_path / "r"), "--cache",
            str(tmp_path / "c"), "--no-progress"]
    assert grid_main(grid, args) == 0
    tex = (tmp_path / "r" / "table5_smoke.tex").read_text()
    assert "Acc & Latency (s)" in tex and "Mc-Di [ft]" in tex and "89.76" in tex   # the paper's LoRA value
    rec = json.loads(next((tmp_path / "r" / "runs" / "table5").glob("smoke/mc-di-lora[[]ft]/*.json")).read_text())
    assert rec["adapt"]["generation_s"] > 0 and rec["adapt"]["steps"] > 0
    # the generator learns from the source tasks only: one meta-training serves MRPC and QNLI, as is and [+ft]
    gen = [json.loads(p.read_text()) for p in (tmp_path / "r" / "runs" / "table5").glob("smoke/mc-di-lora*/*.json")]
    assert len(gen) == 4 and sorted(r["meta_train_reused"] for r in gen) == [False, True, True, True]


def test_bad_text_cells_get_one_clear_error(tmp_path, glue_root, capsys):
    with pytest.raises(ConfigError, match="text method"):
        validate_cell(Cell("t", "lora", "omniglot", 5, 1, 0, "smoke"))
    with pytest.raises(ConfigError, match="GLUE task"):
        validate_cell(Cell("t", "mc-di", "glue-mrpc", 2, 0, 0, "smoke"))
    grid = Grid("table5", methods=["lora"], datasets=["glue-mrpc"], settings=[(2, 0)], seeds=(0,), latency="per-task")
    args = ["--profile", "smoke", "--data", str(glue_root), "--results", str(tmp_path / "r"), "--no-progress"]
    assert grid_main(grid, args + ["--model", str(tmp_path / "nowhere")]) == 2
    assert "no Hugging Face checkpoint" in capsys.readouterr().err
    assert grid_main(grid, args + ["--set", "heldout=500"]) == 2
    assert "leaves nothing to train on" in capsys.readouterr().err
    assert grid_main(grid, ["--profile", "smoke", "--data", str(tmp_path / "empty"), "--results",
                            str(tmp_path / "r"), "--no-progress"]) == 2
    assert "glue/MRPC/train.tsv" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_real_minilm_runs_one_batch():
    from benchmark.text.encoder import load_encoder
    enc = load_encoder("minilm", top_layers=2)
    assert enc.n_layers == 6 and enc.hidden == 384
    batch = enc.tokenize(["The cat sat on the mat."], ["A cat is sitting."], max_len=32)
    logits = enc.new_top(0)(hidden=enc.bottom(batch), mask=batch["attention_mask"])
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()


@pytest.mark.parametrize("method", __import__("methods").registered("text"))
def test_paper_profile_runs_every_text_method(tmp_path, glue_root, method):
    """Every text row under the paper hyper-parameters (every layer tuned), counts cut to a minimum."""
    from methods import get_method
    hp = get_method(method).DEFAULTS["paper"]
    cut = {"tasks_per_source": 1, "task_per_class": 2, "prep_max_steps": 3, "prep_min_steps": 1, "meta_iters": 1,
           "meta_batch": 2, "draws": 2}
    opts = {k: v for k, v in cut.items() if k in hp}
    opts.update(model="tiny", max_len=16, train_examples=48, heldout=16, dev_examples=16, max_steps=4, eval_every=2,
                patience=1, cond_examples=2)
    cell = Cell("t", method, "glue-qnli", 2, 0, 0, "paper", options=tuple(sorted(opts.items())))
    rec = run_cell(cell, glue_root, tmp_path / "c", tmp_path / "r")
    assert 0 <= rec["acc"] <= 100 and rec["settings"]["top_layers"] == 0 and rec["dev_examples"] == 16
