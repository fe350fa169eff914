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


def test_vae_round_trips_weights():
    """D2NWG's stage 1: after training, decode(encode(theta)) is close to theta."""
    from methods.vae import VAE
    torch.manual_seed(0)
    x = torch.randn(64, 3) @ torch.randn(3, 20)                   # weights on a 3-d manifold
    vae = VAE(20, 0, latent=4, hidden=64, beta=1e-3)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    none = x.new_zeros(64, 0)
    for _ in range(400):
        opt.zero_grad()
        torch.stack([vae(x[i], none[i], torch.randn(2, 4)) for i in range(0, 64, 4)]).mean().backward()
        opt.step()
    with torch.no_grad():
        rec = vae.decode(vae.encode(x, none)[0], none)
    assert ((rec - x) ** 2).mean() < 0.1 * x.var()


def test_icis_rows_follow_the_classes():
    """ICIS generates each class's row from its own descriptor: permuting classes permutes rows."""
    from methods.icis import RowGenerator
    net = RowGenerator(6, 7, hidden=16)
    desc, perm = torch.randn(2, 5, 6), torch.tensor([3, 1, 4, 0, 2])
    assert torch.allclose(net.rows(desc)[:, perm], net.rows(desc[:, perm]))


def test_meta_hypernetwork_learns_through_the_inner_loop():
    """The query loss after the inner loop on z reaches z_0 and psi (second order)."""
    from methods.hypernet import HyperHead
    torch.manual_seed(0)
    net = HyperHead(feat_dim=8, way=3, dz=4, hidden=16, steps=2, lr=0.5)
    sf, sy, qf, qy = torch.randn(3, 8), torch.arange(3), torch.randn(6, 8), torch.arange(3).repeat(2)
    net(sf, sy, qf, qy).backward()
    assert net.z0.grad is not None and net.z0.grad.abs().sum() > 0
    z = net.adapt(sf, sy)
    assert not torch.allclose(z[0], z[1])                         # the support gradient breaks the symmetry
