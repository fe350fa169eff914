"""The readings of issue 6 (docs/readings.md): each option does what its entry says."""
import pytest
import torch

from benchmark.cells import Cell, make_options
from benchmark.config import ConfigError
from benchmark.context import Context
from benchmark.weights import PrepConfig, early_stop_steps, initial_heads, prepare_heads
from methods import get_method
from methods.diffusion.losses import coefficients
from methods.diffusion.schedule import alpha_bar, alpha_bar_local, make_alphas, target_steps


def _method(name, **opts):
    ctx = Context.build(Cell("t", name, "synthetic", 5, 1, 0, "smoke"), None, None)
    return get_method(name)(ctx, **opts)


@pytest.mark.parametrize("name", ["mv-di", "lv-di", "ocd", "meta-diff", "tw-di"])
def test_vanilla_methods_train_on_eq1(name):
    """Every k = 1 / vanilla objective (and Tw-Di) uses Eq. 1's coefficients on the same draws."""
    m = _method(name)
    cfg = m.meta_config()
    alphas = make_alphas(m.hp["schedule"], m.hp["steps"])
    t = torch.arange(m.hp["steps"])
    a, b, c, e = coefficients(cfg.objective, alphas, t, m.hp["steps"], cfg.weighting)
    ab = alpha_bar(alphas)[t]
    assert torch.allclose(a, ab.sqrt()) and torch.allclose(b, (1 - ab).sqrt())
    assert torch.allclose(c, torch.ones_like(ab)) and torch.allclose(e, torch.ones_like(ab))


def test_mcdi_keeps_eq3_and_readings_switch_it():
    m = _method("mc-di")
    assert m.meta_config().objective == "local" and m.meta_config().weighting == "paper"
    alphas = make_alphas("linear-noise", 20)
    t, s = torch.arange(6), torch.full((6,), 6)
    paper = coefficients("local", alphas, t, s, "paper")
    unweighted = coefficients("local", alphas, t, s, "unweighted")
    assert not torch.allclose(paper[2], unweighted[2])             # the per-step weight differs
    # "weighted-all" leaves Eq. 3 alone and weights the vanilla objective by (1 - abar_t)
    assert all(torch.equal(x, y) for x, y in zip(coefficients("local", alphas, t, s, "weighted-all"), paper))
    van = coefficients("vanilla", alphas, torch.arange(20), 20, "weighted-all")
    assert torch.allclose(van[2] ** 2, 1 - alpha_bar(alphas)[:20])


def test_noise_start_schedule_starts_every_target_at_noise():
    alphas = make_alphas("linear-noise", 20)
    for s in target_steps(20, 3):
        assert float(alpha_bar_local(alphas, s)[0]) < 0.01
    assert float(alpha_bar_local(make_alphas("linear", 20), 6)[0]) > 0.1       # the former default did not
    assert _method("mc-di").hp["schedule"] == "linear-noise"


def test_theta0_readings():
    assert PrepConfig().init == "per-task" and _method("mc-di").hp["init"] == "per-task"
    shared = initial_heads(PrepConfig(init="shared"), 4, 6, 5, seed=1, init_seed=7)
    assert torch.equal(shared["w"][0], shared["w"][3]) and shared["w"].abs().sum() > 0
    assert torch.equal(initial_heads(PrepConfig(init="shared"), 2, 6, 5, seed=99, init_seed=7)["w"][0], shared["w"][0])
    per_task = initial_heads(PrepConfig(init="per-task"), 4, 6, 5, seed=1)
    assert not torch.equal(per_task["w"][0], per_task["w"][1])
    assert initial_heads(PrepConfig(init="zero"), 3, 6, 5, seed=1)["w"].abs().sum() == 0
    with pytest.raises(ValueError, match="unknown init"):
        initial_heads(PrepConfig(init="nope"), 1, 2, 2, seed=0)
    # and the preparation starts there
    feats, labels = torch.randn(3, 1, 5, 6), torch.arange(5).expand(3, 5)
    prep = prepare_heads(feats, labels, 5, PrepConfig(max_steps=20, min_steps=5, augment=False, views=1, init="shared"), 0, 7)
    assert torch.allclose(prep["theta0"][0], prep["theta0"][2])
    assert prep["M_summary"]["max_steps"] == 20 and 0 <= prep["M_summary"]["at_cap"] <= 1


def test_early_stopping_relative_to_start_stops_a_geometric_decay():
    """A separable support set drives the loss to 0 geometrically: the start-relative rule stops on
    the plateau, the current-relative rule (relative drop ~ constant) never does."""
    steps = torch.arange(101).double()
    losses = (1.6 * 0.9 ** steps).unsqueeze(0).float()
    start = early_stop_steps(losses, PrepConfig(max_steps=100, stop_ref="start"))
    current = early_stop_steps(losses, PrepConfig(max_steps=100, stop_ref="current", tol=0.01))
    assert 12 <= int(start) < 100 and int(current) == 100


def test_model_selection_keeps_the_best_validation_state():
    """The selector scores the loop's checkpoints on validation episodes and restores the best."""
    from types import SimpleNamespace as NS

    from benchmark.selection import Selector

    class Fake:
        name, TRAINING_LOGS = "fake", ("curves",)

        def __init__(self):
            self.w, self.curves = 0.0, []
            ctx = Context.build(Cell("t", "mc-di", "synthetic", 5, 1, 0, "smoke"), None, None)
            self.ctx = NS(split=ctx.split, way=5, shot=1, seed=0, cell=ctx.cell, settings=ctx.settings, _features={})

        def episode_accuracies(self, split, episodes):
            assert split == "val"
            return torch.full((len(episodes),), 1 - abs(self.w - 3) / 10)     # best at w = 3

        def state_dict(self):
            return {"w": torch.tensor(self.w)}

        def load_state_dict(self, s):
            self.w, self.curves = float(s["w"]), []

    m = Fake()
    sel = Selector(m, checkpoints=5, episodes=4)
    for it in range(11):
        m.w = float(it)
        m.curves.append(it)
        if sel.due(it, 10):
            sel.score(it)
    sel.finish()
    assert sel.best_it in (2, 4) and m.w == float(sel.best_it)          # checkpoints 2 and 4 tie (|w - 3| = 1)
    assert m.w == float(sel.best_it) and m.curves == list(range(11))         # logs kept whole
    assert [it for it, _ in sel.summary()["curve"]] == [0, 2, 4, 6, 8, 10]


def test_trained_mcdi_keeps_its_curves_after_selection(tmp_path):
    from benchmark.runner import trained_method
    m, _, _, _ = trained_method(Cell("t", "mc-di", "synthetic", 5, 1, 0, "smoke"), None, tmp_path)
    assert m.selection["curve"] and len(m.curves) > 0
    m2, _, _, reused = trained_method(Cell("t", "mc-di", "synthetic", 5, 1, 0, "smoke"), None, tmp_path)
    assert reused and m2.curves == m.curves and m2.selection == m.selection


def test_a_way_wider_than_the_validation_split_keeps_the_last_iterate(tmp_path):
    """mini-ImageNet has 16 validation classes, so its 20-way cells (the Lt-Di paper's Table 3) have no
    validation episodes: model selection falls back to the last iterate and the record says why; the
    figures' curves, which need those episodes, still stop before any work."""
    from benchmark.runner import preflight, trained_method
    m, _, _, _ = trained_method(Cell("t", "mv-di", "synthetic", 20, 1, 0, "smoke"), None, tmp_path)
    assert m.selection["rule"] == "last" and "only 10 classes" in m.selection["reason"]
    m5, _, _, _ = trained_method(Cell("t", "mv-di", "synthetic", 5, 1, 0, "smoke"), None, tmp_path)
    assert m5.selection["rule"] == "val" and len(m5.selection["curve"]) >= 2
    curve = Cell("t", "mv-di", "synthetic", 20, 1, 0, "smoke", options=make_options(mse_episodes=2))
    with pytest.raises(ConfigError, match="val split, 20-way"):
        preflight([curve], None, None)
