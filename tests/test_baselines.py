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


def test_meta_diff_conditions_on_the_support_gradient_at_x_t():
    """Meta-Diff's extra input is d CE(support) / d x at the de-normalised current weights."""
    import torch.nn.functional as F
    from methods.diffusion.denoiser import UNet1D
    from methods.metadiff import SupportGradientUNet
    torch.manual_seed(0)
    way, d = 3, 4
    P = way * d + way
    w_mean, w_std, e_mean, e_std = torch.randn(P), torch.rand(P) + 0.5, torch.randn(d), torch.rand(d) + 0.5
    unet = UNet1D(P, way * d, channels=8, cond_dim=16, extra_channels=1)
    net = SupportGradientUNet(unet, "linear", d, way, w_mean, w_std, e_mean, e_std, grad_norm="none")
    x, emb = torch.randn(2, P), torch.randn(2, way * d)
    g = net.support_gradient(x, emb)
    for i in range(2):                                            # autograd on the plain head, by hand
        theta = (x[i] * w_std + w_mean).requires_grad_(True)
        protos = emb[i].view(way, d) * e_std + e_mean
        logits = protos @ theta[: way * d].view(way, d).T + theta[way * d:]
        F.cross_entropy(logits, torch.arange(way)).backward()
        assert torch.allclose(g[i], theta.grad * w_std, atol=1e-6)
    # the gradient channel reaches the output: the same x_t with another support set differs
    torch.nn.init.normal_(unet.out[-1].weight)
    t = torch.tensor([0, 5])
    assert not torch.allclose(net(x, t, emb), unet(x, t, emb, extra=torch.zeros(2, 1, P)))


def test_ghn3_graph_and_class_rows():
    """GHN-3's graph of the MLP head, and its class-layer predictor: rows follow the classes."""
    from methods.ghn3 import GraphHyperNetwork, head_graph
    g = head_graph("mlp", feat_dim=6, way=5, hidden=16)
    assert [n.op for n in g.nodes] == ["input", "linear", "relu", "linear", "output"]
    assert g.spd[0].tolist() == [0, 1, 2, 3, 4] and g.classifier == 3
    assert g.nodes[1].shape == (16, 6) and g.nodes[3].shape == (5, 16)
    lin = head_graph("linear", feat_dim=6, way=5)
    torch.manual_seed(0)
    net = GraphHyperNetwork(lin, 6, hid=16, heads=2, layers=1).eval()
    protos, perm = torch.randn(2, 5, 6), torch.tensor([3, 1, 4, 0, 2])
    with torch.no_grad():
        a, b = net(protos), net(protos[:, perm])
    assert a["w"].shape == (2, 5, 6) and a["b"].shape == (2, 5)
    assert torch.allclose(a["w"][:, perm], b["w"], atol=1e-5) and torch.allclose(a["b"][:, perm], b["b"], atol=1e-5)
    mlp = GraphHyperNetwork(g, 6, hid=16, heads=2, layers=1)
    heads = mlp(torch.randn(2, 5, 6))
    assert heads["w1"].shape == (2, 16, 6) and heads["w2"].shape == (2, 5, 16)


def test_ghn3_official_checkpoint_errors_are_clear(tmp_path):
    import pytest
    from methods.ghn3 import load_official_ghn3
    with pytest.raises(FileNotFoundError, match="not found"):
        load_official_ghn3(tmp_path / "ghn3tm8.pt")
    (tmp_path / "ghn3tm8.pt").write_bytes(b"x")
    with pytest.raises(ImportError, match="pip install"):
        load_official_ghn3(tmp_path / "ghn3tm8.pt")


def test_d2nwg_stage1_through_its_own_training(tmp_path):
    """D2NWG's own training path: its class-conditioned VAE (a latent as large as a row) reconstructs
    the prepared rows far better than their mean does, and the record says how well."""
    from benchmark.cells import Cell
    from benchmark.runner import run_cell
    rec = run_cell(Cell("t", "d2nwg", "synthetic", 5, 1, 0, "smoke"), None, tmp_path / "c", tmp_path / "r")
    recon = rec["readings"]["vae_recon"]
    assert rec["readings"]["vae_latent"] == 16 + 1                 # the synthetic body's 16-d features + bias
    assert 0 < recon["relative"] < 0.8, recon
