"""Each baseline's own mechanism (the smoke runs above chance are in test_methods.py)."""
import torch

from benchmark.cells import Cell
from benchmark.context import Context
from benchmark.weights import local_targets
from methods import get_method


def _ctx(tmp_path, method):
    return Context.build(Cell("t", method, "synthetic", 5, 1, 0, "smoke"), None, tmp_path)


def test_ocd_generates_the_weight_change_from_a_base_head(tmp_path):
    m = get_method("ocd")(_ctx(tmp_path, "ocd"), meta_iters=3)
    prep = m.prepared_weights()
    theta_M = local_targets(prep["trajectory"], 1, m.hp["grid"])[:, -1]
    m.meta_train()
    # the diffusion's data are the changes theta_M - base, base = the mean prepared head
    assert torch.allclose(m.w_mean, theta_M.mean(0))
    change = (theta_M - m.w_mean) / m.w_std
    assert change.mean(0).abs().max() < 1e-4
