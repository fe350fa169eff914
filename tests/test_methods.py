"""Smoke runs of every registered method on an easy synthetic task, the registry,
and the batched inner loop."""
import pytest
import torch

from benchmark.cells import Cell
from benchmark.config import ConfigError
from benchmark.context import Context
from benchmark.evaluate_core import evaluate
from benchmark.runner import run_cell
from methods import UnknownMethodError, get_method, registered
from methods.inner_loop import batched_adam, cyclic_minibatches, sequential_adam


def test_registry_unknown_name_lists_registered():
    with pytest.raises(UnknownMethodError) as err:
        get_method("no-such-method")
    for name in registered():
        assert name in str(err.value)
    assert {"reptile", "meta-baseline"} <= set(registered())


def test_unknown_option_is_a_config_error(tmp_path):
    ctx = Context.build(Cell("t", "reptile", "synthetic", 5, 1, 0, "smoke"), None, tmp_path)
    with pytest.raises(ConfigError, match="unknown option"):
        get_method("reptile")(ctx, not_an_option=1)
    with pytest.raises(ConfigError, match="inner_steps"):
        get_method("reptile")(ctx, inner_steps=0)


@pytest.mark.parametrize("method", registered("images"))
def test_method_beats_chance_on_synthetic(tmp_path, method):
    rec = run_cell(Cell("t", method, "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c", tmp_path / "r")
    assert rec["episodes"] == 20 and rec["query_per_class"] == 15
    # chance is 20%: the 95% interval over the 20 test episodes must lie above it
    assert rec["acc"] - rec["ci95"] > 20.0, (rec["acc"], rec["ci95"])
    assert rec["latency_ms"] > 0


@pytest.mark.parametrize("B", [6, 1])
def test_batched_adam_equals_sequential(B):
    """vmapped copies (B > 1) and the plain autograd pass of one copy (B = 1) both give torch.optim.Adam."""
    torch.manual_seed(0)

    def loss(p, x, y):
        h = torch.tanh(x @ p["w1"])
        return torch.nn.functional.cross_entropy(h @ p["w2"], y)

    n = 12
    params = {"w1": torch.randn(B, 5, 7), "w2": torch.randn(B, 7, 3)}
    x, y = torch.randn(B, n, 5), torch.randint(0, 3, (B, n))
    idx = cyclic_minibatches(n, 4, 5, B, torch.Generator().manual_seed(0))
    rows = torch.arange(B).unsqueeze(1)

    def batch_fn(s):
        return x[rows, idx[s]], y[rows, idx[s]]

    for betas in ((0.9, 0.999), (0.0, 0.999)):
        with torch.no_grad():                           # the evaluation calls adapt under no_grad
            a = batched_adam(loss, params, batch_fn, steps=5, lr=0.01, betas=betas)
        b = sequential_adam(loss, params, batch_fn, steps=5, lr=0.01, betas=betas)
        for k in params:
            assert a[k].shape == params[k].shape
            assert torch.allclose(a[k], b[k], atol=1e-5), k
            assert not torch.allclose(a[k], params[k])


def test_cyclic_minibatches_cover_without_replacement():
    idx = cyclic_minibatches(10, 5, 4, 3, torch.Generator().manual_seed(0))   # [steps, B, batch]
    assert idx.shape == (4, 3, 5)
    for b in range(3):
        first_pass = idx[:2, b].reshape(-1)
        assert sorted(first_pass.tolist()) == list(range(10))


def test_reptile_batched_eval_matches_single_task(tmp_path):
    """The vmapped evaluation over many episodes gives the accuracy of one-at-a-time adapt/predict."""
    cell = Cell("t", "reptile", "synthetic", 5, 1, 0, "smoke", options=(("meta_iters", 3),))
    ctx = Context.build(cell, None, tmp_path)
    m = get_method("reptile")(ctx, meta_iters=3)
    m.meta_train()
    eps = ctx.test_sampler().episodes(4)
    batched = m.episode_accuracies("test", eps)
    single = super(type(m), m).episode_accuracies("test", eps)        # Method's generic loop
    assert torch.allclose(batched, single)


def test_reptile_copies_in_passes_draw_what_one_pass_draws(tmp_path, monkeypatch):
    """Copies of a large body adapted a few at a time (the memory budget) see the same tasks and the same
    minibatch indices as in one pass: the split changes the numbers only by float rounding (which Adam's
    first step, lr * sign(g), amplifies where a gradient is ~0), and a one-pass split is the old code path."""
    import methods.reptile as reptile
    cell = Cell("t", "reptile", "synthetic", 5, 1, 0, "smoke", options=(("meta_iters", 1),))
    m = get_method("reptile")(Context.build(cell, None, tmp_path), meta_iters=1)
    m._build()
    B, n, steps = 5, 7, 3
    x, y = torch.randn(B, n, 1, 2, 2), torch.randint(0, 5, (B, n))
    calls = []
    monkeypatch.setattr(m, "_adapt_batch", lambda p, xs, ys, st, bs, idx: calls.append((xs, ys, idx)) or {"w": xs})
    weights = sum(p.numel() for p in m.net.parameters())
    for budget, sizes in ((reptile.COPY_BUDGET_BYTES, [5]), (2 * weights * reptile.BYTES_PER_WEIGHT, [2, 2, 1])):
        monkeypatch.setattr(reptile, "COPY_BUDGET_BYTES", budget)
        calls.clear()
        out = [a["w"] for _, a in m._adapt_in_passes({}, x, y, steps, 4, torch.Generator().manual_seed(3))]
        assert [len(c[1]) for c in calls] == sizes
        assert torch.equal(torch.cat([c[2] for c in calls], dim=1),
                           cyclic_minibatches(n, 4, steps, B, torch.Generator().manual_seed(3)))
        assert torch.equal(torch.cat(out), x) and torch.equal(torch.cat([c[1] for c in calls]), y)


def test_reptile_conv4_and_resnet12_take_one_pass():
    """The budget never splits the bodies whose records exist (the cpu profile's eval_chunk of 100)."""
    from torch import nn

    from benchmark.models.backbones import build_backbone
    from methods.reptile import Reptile
    for name, ch, width, size in (("conv4", 1, 64, 28), ("conv4", 3, 64, 32), ("resnet12", 3, 16, 32)):
        body = build_backbone(name, ch, width, image_size=size)
        r = Reptile.__new__(Reptile)
        r.net = nn.Sequential(body, nn.Linear(body(torch.zeros(2, ch, size, size)).shape[1], 5))
        assert r.copies_per_pass() >= Reptile.DEFAULTS["cpu"]["eval_chunk"], name


def test_same_cell_twice_same_numbers(tmp_path):
    cell = Cell("t", "meta-baseline", "synthetic", 5, 1, 1, "smoke")
    a = run_cell(cell, None, tmp_path / "c1", tmp_path / "r1")
    b = run_cell(cell, None, tmp_path / "c2", tmp_path / "r2")
    assert a["acc"] == b["acc"] and a["ci95"] == b["ci95"]


def test_cells_compute_with_a_fixed_thread_count(tmp_path, monkeypatch):
    """A cell's numbers must not depend on the caller's threads (--jobs, executor)."""
    cell = Cell("t", "meta-baseline", "synthetic", 5, 1, 2, "smoke")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        a = run_cell(cell, None, tmp_path / "c1", tmp_path / "r1")
        assert torch.get_num_threads() == 2            # the caller's setting is restored
        torch.set_num_threads(1)
        b = run_cell(cell, None, tmp_path / "c2", tmp_path / "r2")
    finally:
        torch.set_num_threads(before)
    assert a["threads"] == b["threads"] == 1 and a["acc"] == b["acc"]
    monkeypatch.setenv("MCDI_THREADS", "0")
    with pytest.raises(ConfigError, match="MCDI_THREADS"):
        run_cell(cell, None, tmp_path / "c3", tmp_path / "r3")
    assert not (tmp_path / "r3").exists()


def test_evaluate_uses_protocol_shape(tmp_path):
    ctx = Context.build(Cell("t", "meta-baseline", "synthetic", 5, 5, 0, "smoke"), None, tmp_path)
    m = get_method("meta-baseline")(ctx)
    m.meta_train()
    out = evaluate(m, ctx)
    assert out["episodes"] == ctx.settings["test_episodes"] and out["query_per_class"] == 15
    assert 0 <= out["acc"] <= 100 and out["ci95"] >= 0


def test_reptile_copies_pass_equals_vmap(tmp_path):
    """REPTILE's one-pass inner loops over B copies (Conv4.forward_copies) give vmap's per-copy gradients."""
    from torch.func import grad, vmap
    cell = Cell("t", "reptile", "synthetic", 5, 1, 0, "smoke", options=(("meta_iters", 1),))
    ctx = Context.build(cell, None, tmp_path)
    m = get_method("reptile")(ctx, meta_iters=1)
    m._build()
    assert m._has_copies()
    B, n = 3, 5
    torch.manual_seed(0)
    p = {k: v.detach() + 0.05 * torch.randn(B, *v.shape) for k, v in m.net.named_parameters()}
    x = torch.randn(B, n, ctx.dataset.channels, ctx.settings["image_size"], ctx.settings["image_size"])
    y = torch.randint(0, 5, (B, n))
    g_ref = vmap(grad(m._loss))(p, x, y)
    q = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    loss = m._copies_loss(q, x, y)
    assert torch.allclose(loss, vmap(m._loss)(p, x, y).sum(), rtol=1e-5)
    loss.backward()
    scale = max(float(v.abs().max()) for v in g_ref.values())      # a conv bias before BatchNorm: zero gradient
    for k in p:
        assert torch.allclose(q[k].grad, g_ref[k], rtol=1e-3, atol=1e-5 * scale), k


def test_reptile_takes_its_authors_20_way_settings():
    """At 20-way REPTILE runs its authors' 20-way settings (inner batch 20, 10 steps, lr 5e-4, eval batch 10),
    with enough test-time steps on the cpu profile that a 5-shot task's 100 support images are all seen; the
    5-way settings, and so every 5-way record, are unchanged."""
    from benchmark.runner import expected_config
    R = get_method("reptile")
    five, twenty = R.hyper_parameters("cpu", "omniglot", {}, 5), R.hyper_parameters("cpu", "omniglot", {}, 20)
    assert (five["inner_batch"], five["inner_steps"], five["inner_lr"], five["eval_steps"]) == (10, 5, 1e-3, 5)
    assert (twenty["inner_batch"], twenty["inner_steps"], twenty["inner_lr"]) == (20, 10, 5e-4)
    assert twenty["eval_steps"] * twenty["eval_batch"] >= 2 * 20 * 5             # two passes over 20 x 5 supports
    assert R.hyper_parameters("paper", "omniglot", {}, 20)["meta_iters"] == 200_000
    assert R.hyper_parameters("cpu", "omniglot", {"inner_lr": 0.01}, 20)["inner_lr"] == 0.01   # options win
    assert expected_config(Cell("t", "reptile", "omniglot", 20, 5, 0, "cpu"))[0] == twenty
    for way, shot, batch in ((5, 1, 5), (5, 5, 10), (20, 1, 10), (20, 5, 10)):          # never above the support
        m = R(Context.build(Cell("t", "reptile", "synthetic", way, shot, 0, "smoke"), None, None))
        assert m._eval_batch(shot) == batch
