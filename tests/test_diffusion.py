"""The diffusion core against its equations (Mc-Di Sec. 2-3, Theorem 1, Proposition 1)."""

import pytest
import torch

from benchmark.weights import PrepConfig, early_stop_steps, flatten_head, local_targets, prepare_heads, unflatten_head
from benchmark.models.heads import init_head
from methods.diffusion.losses import local_consistency_loss, vanilla_loss
from methods.diffusion.sampler import sample, step
from methods.diffusion.schedule import (alpha_bar, alpha_bar_local, cosine_alphas, linear_alphas, make_alphas,
                                        target_steps)


def test_alpha_bar_hand_computed():
    a = torch.tensor([0.5, 0.6, 0.8, 0.9], dtype=torch.float64)
    ab = alpha_bar(a)
    expected = [0.5 * 0.6 * 0.8 * 0.9, 0.6 * 0.8 * 0.9, 0.8 * 0.9, 0.9, 1.0]
    assert torch.allclose(ab, torch.tensor(expected, dtype=torch.float64))
    # abar^i_t = prod_{j=t}^{s_i-1} alpha_j, here s_i = 2
    assert torch.allclose(alpha_bar_local(a, 2), torch.tensor([0.5 * 0.6, 0.6, 1.0], dtype=torch.float64))
    assert torch.allclose(alpha_bar_local(a, 4), ab)


def test_schedules_increase_and_target_steps():
    for a in (linear_alphas(20), cosine_alphas(20)):
        assert (a[1:] >= a[:-1]).all() and (a > 0).all() and (a < 1).all()
    assert target_steps(20, 3) == [6, 13, 20] and target_steps(21, 3) == [7, 14, 21]
    with pytest.raises(ValueError, match="divisible"):
        target_steps(20, 3, strict=True)
    with pytest.raises(ValueError, match="between 1"):
        target_steps(20, 0)
    with pytest.raises(ValueError, match="unknown schedule"):
        make_alphas("nope", 20)


def test_proposition1_k1_local_equals_vanilla():
    torch.manual_seed(0)
    a = linear_alphas(20)
    theta, eps = torch.randn(16, 30), torch.randn(16, 30)
    t = torch.randint(0, 20, (16,))
    w = torch.randn(30, 30) * 0.1
    model = lambda x, t: x @ w + t.float().unsqueeze(1) * 0.01
    s1 = target_steps(20, 1)[0]
    van = vanilla_loss(model, theta, t, eps, a)
    assert torch.allclose(local_consistency_loss(model, theta, t, eps, a, s1, "unweighted"), van)
    # the literal Eq. 3 weighting is (1 - abar_t) times the vanilla term, draw by draw
    ab = alpha_bar(a)[t].float()
    per_draw = [(1 - ab[n]) * ((model(theta[n:n + 1] * ab[n].sqrt() + (1 - ab[n]).sqrt() * eps[n:n + 1], t[n:n + 1])
                                - eps[n:n + 1]) ** 2).sum() for n in range(16)]
    assert torch.allclose(local_consistency_loss(model, theta, t, eps, a, s1, "paper"), torch.stack(per_draw).mean(),
                          rtol=1e-5)


def _oracle(alphas, targets, steps):
    """The exact eps_phi that Eq. 3 asks for when segment i (t in [s_{i-1}, s_i)) has target theta_i."""
    ab = alpha_bar(alphas)

    def model(x, t):
        t0 = int(t[0])
        i = next(n for n, s in enumerate(steps) if t0 < s)
        ab_i = alpha_bar_local(alphas, steps[i])[t0]
        eps = (x - ab_i.sqrt() * targets[i]) / (1 - ab_i).sqrt()
        return ((1 - ab[t0]) / (1 - ab_i)).sqrt() * eps
    return model


@pytest.mark.parametrize("T,k", [(20, 3), (21, 3), (20, 1), (12, 4)])
def test_theorem1_exact_denoiser_hits_every_local_target(T, k):
    """With the denoiser Eq. 3 is minimised by, the deterministic chain passes theta_{i*d} at s_i."""
    torch.manual_seed(1)
    a = linear_alphas(T)
    targets = torch.randn(k, 1, 10)
    steps = target_steps(T, k)
    chain = sample(_oracle(a, targets, steps), torch.randn(1, 10), a, return_chain=True)
    for i, s in enumerate(steps):
        assert torch.allclose(chain[s].float(), targets[i], atol=1e-4), (i, s)


def test_sampler_deterministic_and_bounded():
    a = linear_alphas(20)
    model = lambda x, t: 0.5 * x
    x0 = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sample(model, x0, a), sample(model, x0.clone(), a))
    chain = sample(lambda x, t: torch.zeros_like(x), x0, a, return_chain=True)
    growth = max(float(c.abs().max() / x0.abs().max()) for c in chain)
    assert growth < 10, "a zero denoiser must not blow the chain up under the default schedule"
    # the cosine schedule clipped at 1e-3 divides the first step by sqrt(1e-3) (~ x31): the SPEC's warning
    first = step(x0, torch.zeros_like(x0), 0, cosine_alphas(20))
    assert float(first.abs().max() / x0.abs().max()) > 30


def test_flatten_round_trip():
    lin = init_head("linear", 7, 5, torch.Generator().manual_seed(0), batch=(3,))
    lin["b"] += 0.3
    flat = flatten_head(lin)
    back = unflatten_head(flat, "linear", 7, 5)
    assert all(torch.equal(back[k], lin[k]) for k in lin)
    mlp = init_head("mlp", 7, 5, torch.Generator().manual_seed(0), batch=(3,))
    back = unflatten_head(flatten_head(mlp), "mlp", 7, 5)
    assert all(torch.equal(back[k], mlp[k]) for k in mlp)


def test_normalise_fit_and_denorm():
    """Per-layer statistics of the targets: normalised heads have zero mean and unit std per layer,
    and _denorm inverts the normalisation (at the trained way, and laid out for another way)."""
    from types import SimpleNamespace as NS
    from methods.prepared import PreparedHeads
    m = PreparedHeads()
    m.ctx, m.hp, m.name = NS(way=5), {"head": "linear"}, "t"
    g = torch.Generator().manual_seed(0)
    targets = torch.cat([torch.randn(40, 2, 5 * 8, generator=g) * 3 + 1, torch.randn(40, 2, 5, generator=g) - 2], -1)
    emb = torch.randn(40, 5, 8, generator=g) * 4
    m._normalise_fit(targets, emb)
    z = (targets - m.w_mean) / m.w_std
    for block in (z[..., :40], z[..., 40:]):
        assert abs(block.mean().item()) < 1e-5 and abs(block.std().item() - 1) < 1e-4
    assert torch.allclose(m._denorm(z), targets, atol=1e-5)
    assert torch.allclose(m._emb(emb).view(40, 5, 8).mean((0, 1)), torch.zeros(8), atol=1e-5)
    three = torch.zeros(1, 3 * 8 + 3)                            # a 3-way head: weights then biases
    out = m._denorm(three, way=3)
    assert torch.allclose(out[0, :24], m.w_mean[0].expand(24)) and torch.allclose(out[0, 24:], m.w_mean[-1].expand(3))


def test_sam_and_augmentation_change_the_trajectory():
    """SAM takes its gradient at theta + rho g/||g|| and the augmented views enter the steps: switching
    either off changes the heads, switching both off with one view leaves plain Adam."""
    torch.manual_seed(0)
    feats, labels = torch.randn(4, 3, 10, 8), torch.arange(5).repeat_interleave(2).expand(4, 10)
    base = dict(max_steps=20, min_steps=5, patience=5, init="shared")
    full = prepare_heads(feats, labels, 5, PrepConfig(**base), seed=0)["trajectory"]
    no_sam = prepare_heads(feats, labels, 5, PrepConfig(**base, sam=False), seed=0)["trajectory"]
    one_view = prepare_heads(feats[:, :1], labels, 5, PrepConfig(**base, views=1), seed=0)["trajectory"]
    assert not torch.allclose(full, no_sam) and not torch.allclose(full, one_view)
    # plain Adam by hand on the clean view reproduces the no-SAM, single-view run
    plain = prepare_heads(feats[:, :1], labels, 5, PrepConfig(**base, sam=False, views=1), seed=0)
    w = plain["theta0"][0, :40].view(5, 8).clone().requires_grad_(True)
    b = plain["theta0"][0, 40:].clone().requires_grad_(True)
    opt = torch.optim.Adam([w, b], lr=0.005)
    for _ in range(int(plain["M"][0])):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(feats[0, 0] @ w.T + b, labels[0]).backward()
        opt.step()
    assert torch.allclose(torch.cat([w.detach().flatten(), b.detach()]), plain["trajectory"][0, -1], atol=1e-5)


def test_weight_preparation_batched_equals_per_task():
    """Algorithm 1 for many tasks at once gives each task the heads it gets alone (a real per-task loop)."""
    torch.manual_seed(0)
    feats = torch.randn(6, 1, 10, 8)
    labels = torch.arange(5).repeat_interleave(2).expand(6, 10)
    cfg = PrepConfig(max_steps=25, min_steps=5, patience=5, views=1, init="shared")
    together = prepare_heads(feats, labels, 5, cfg, seed=0, init_seed=3)
    assert together["trajectory"].shape == (6, cfg.grid + 1, 45)
    for j in range(6):
        alone = prepare_heads(feats[j:j + 1], labels[j:j + 1], 5, cfg, seed=0, init_seed=3)
        assert int(alone["M"][0]) == int(together["M"][j])
        assert torch.allclose(alone["trajectory"][0], together["trajectory"][j], atol=1e-6)
    # the loss goes down and theta_0 is the Gaussian init, theta_M the end of the stored trajectory
    assert (together["losses"][:, -1] < together["losses"][:, 0]).all()
    targets = local_targets(together["trajectory"], 3, cfg.grid)
    assert torch.equal(targets[:, -1], together["trajectory"][:, -1])


def test_early_stopping_rule():
    cfg = PrepConfig(max_steps=30, min_steps=5, patience=3, tol=0.01)
    steps = torch.arange(31, dtype=torch.float)
    fast = torch.where(steps < 10, 2.0 - 0.15 * steps, torch.full_like(steps, 0.5))
    M = early_stop_steps(torch.stack([fast, 2.0 - 0.05 * steps]), cfg)
    assert M[0] == 13 and M[1] == 30        # flat from step 10; first 3-step window without progress ends at 13


def test_trajectory_loss_is_eq3_on_its_own_segment():
    """Lt-Di Eq. 2 (reversed indexing): L_i is Eq. 3's term restricted to t in [s_{i-1}, s_i)."""
    from methods.diffusion.losses import trajectory_loss
    a = linear_alphas(20)
    theta, eps = torch.randn(4, 9), torch.randn(4, 9)
    model = lambda x, t: 0.3 * x
    t = torch.tensor([6, 7, 10, 12])
    assert torch.allclose(trajectory_loss(model, theta, t, eps, a, s_i=13, s_prev=6),
                          local_consistency_loss(model, theta, t, eps, a, 13))
    with pytest.raises(ValueError, match="s_prev"):
        trajectory_loss(model, theta, torch.tensor([5, 7, 10, 12]), eps, a, s_i=13, s_prev=6)


def test_lt_di_segments_and_time_input(tmp_path):
    from benchmark.cells import Cell
    from benchmark.context import Context
    from methods import get_method
    ctx = Context.build(Cell("t", "lt-di", "synthetic", 5, 1, 0, "smoke"), None, tmp_path)
    lt = get_method("lt-di")(ctx)
    s_of, s_lo = lt._steps()
    assert s_of.tolist() == [6, 13, 20] and s_lo.tolist() == [0, 6, 13]
    assert get_method("mc-di")(ctx)._steps()[1].tolist() == [0, 0, 0]
    assert [x.tolist() for x in get_method("lv-di")(ctx)._steps()] == [[20], [0]]
    rel = get_method("lt-di")(ctx, time_input="relative")
    # Lt-Di's eps_phi(x_t, t - k): the distance to the segment's target, 1..T/m
    assert rel._time_map().tolist() == [6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1]
    assert lt._time_map().tolist() == list(range(20))


@pytest.mark.parametrize("aligned", [False, True])
def test_chain_conditioning_matches_the_plain_denoiser(aligned):
    """UNet1D.chain (the conditioning of all T steps precomputed) gives forward's eps call by call and
    the same chain end, also on a respaced chain and with Lt-Di's relative steps (repeated values)."""
    from methods.diffusion.denoiser import UNet1D
    torch.manual_seed(0)
    P, E = 23, 20
    net = UNet1D(P, E, channels=8, cond_dim=16, emb_layout=(torch.arange(P) % (E + 1)) - 1 if aligned else None).eval()
    for p in net.parameters():                      # a non-trivial network (the output layer starts at zero)
        p.data.normal_(0, 0.3)
    alphas = linear_alphas(12)
    emb, x0 = torch.randn(5, E), torch.randn(5, P)
    for told in (torch.arange(12), torch.tensor([4, 3, 2, 1, 4, 3, 2, 1, 4, 3, 2, 1])):
        eps = net.chain(emb, told)
        with torch.no_grad():
            for t in (0, 5, 11):
                tt = torch.full((5,), t)
                assert torch.allclose(eps(x0, tt), net(x0, told[tt], emb), rtol=1e-5, atol=1e-6)
            for steps in (None, 4):
                plain = sample(lambda x, t: net(x, told[t], emb), x0, alphas, steps=steps)
                fast = sample(eps, x0, alphas, steps=steps)
                assert plain.abs().max() > 1 and torch.allclose(fast, plain, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="one step"):
        eps(x0, torch.tensor([0, 1, 0, 0, 0]))


@pytest.mark.parametrize("aligned", [False, True])
def test_a_chain_in_row_chunks_gives_the_heads_of_one_call(aligned):
    """A chain that runs the U-Net on a few rows at a time (chain_rows, the CPU's default for long
    heads) generates the heads of the whole batch in one call - each row with its own conditioning -
    also through sampler.run_chain (the compiled form), and on a ragged last chunk."""
    from methods.diffusion.denoiser import UNet1D, chain_rows
    from methods.diffusion.sampler import chain_coefficients, run_chain
    torch.manual_seed(0)
    P, E, B = 40, 12, 7
    net = UNet1D(P, E, channels=8, cond_dim=16, emb_layout=(torch.arange(P) % (E + 1)) - 1 if aligned else None).eval()
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    alphas = linear_alphas(10)
    emb, x0 = torch.randn(B, E), torch.randn(B, P)
    with torch.no_grad():
        whole = sample(net.chain(emb, torch.arange(10), rows=None), x0, alphas)
        for rows in (1, 3):
            chunked = sample(net.chain(emb, torch.arange(10), rows=rows), x0, alphas)
            assert whole.abs().max() > 1 and torch.allclose(chunked, whole, rtol=1e-5, atol=1e-5)
            compiled_form = run_chain(net.chain(emb, torch.arange(10), rows=rows).at, x0, chain_coefficients(alphas))
            assert torch.allclose(compiled_form, whole, rtol=1e-5, atol=1e-5)
        swapped = sample(net.chain(emb.flip(0), torch.arange(10), rows=3), x0.flip(0), alphas).flip(0)
        assert torch.allclose(swapped, whole, rtol=1e-5, atol=1e-5)      # a row's head does not depend on its chunk
    assert chain_rows(net.padded, "cpu") is None                         # a short head: one call, as before
    long_net = UNet1D(3000, E, channels=8, cond_dim=16)
    assert chain_rows(long_net.padded, "cpu") == 2 ** 15 // 3000 and chain_rows(long_net.padded, "cuda") is None
    assert long_net.chain(emb, torch.arange(10)).rows == 10 and net.chain(emb, torch.arange(10)).rows is None


@pytest.mark.parametrize("aligned", [False, True])
def test_forward_copies_matches_vmap(aligned):
    """UNet1D.forward_copies (B copies in one pass, GroupNorm over B*C channels) gives vmap's forward
    and per-copy gradients, and REPTILE's meta-training lands on the same denoiser either way."""
    from torch.func import functional_call, grad, vmap

    from methods.diffusion.denoiser import UNet1D
    from methods.diffusion.meta_train import MetaConfig, reptile_denoiser
    torch.manual_seed(0)
    P, E, B, n = 23, 20, 4, 3
    net = UNet1D(P, E, channels=8, cond_dim=16, emb_layout=(torch.arange(P) % (E + 1)) - 1 if aligned else None)
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    p = {k: v.detach() + 0.05 * torch.randn(B, *v.shape) for k, v in net.named_parameters()}   # copies differ
    x, t, emb, y = torch.randn(B, n, P), torch.randint(0, 20, (B, n)), torch.randn(B, n, E), torch.randn(B, n, P)
    ref = vmap(lambda q, xx, tt, ee: functional_call(net, q, (xx, tt, ee)))(p, x, t, emb)
    assert ref.abs().max() > 0.1 and torch.allclose(net.forward_copies(p, x, t, emb), ref, rtol=1e-4, atol=1e-5)
    per_copy = vmap(grad(lambda q, xx, tt, ee, yy: ((functional_call(net, q, (xx, tt, ee)) - yy) ** 2).sum()))
    g_ref = per_copy(p, x, t, emb, y)
    q = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    ((net.forward_copies(q, x, t, emb) - y) ** 2).sum().backward()
    scale = max(float(v.abs().max()) for v in g_ref.values())     # some biases have a zero gradient (GroupNorm)
    for k in p:
        assert torch.allclose(q[k].grad, g_ref[k], rtol=1e-3, atol=1e-5 * scale), k
    # Algorithm 2 either way: the logged losses L^i of phi agree (the parameters themselves may not:
    # Adam turns the float noise of a zero gradient - a bias right before a GroupNorm - into full steps
    # that change nothing downstream)
    curves, calls = [], []
    real = UNet1D.forward_copies
    for copies in (True, False):
        m = UNet1D(P, E, channels=8, cond_dim=16, emb_layout=net.emb_layout if aligned else None)
        m.load_state_dict(net.state_dict())
        m.forward_copies = lambda *a, **k: calls.append(1) or real(m, *a, **k)
        curves.append(reptile_denoiser(m, torch.randn(6, 2, P, generator=torch.Generator().manual_seed(1)),
                                       torch.randn(6, E, generator=torch.Generator().manual_seed(2)),
                                       torch.tensor([10, 20]), linear_alphas(20),
                                       MetaConfig(iters=4, meta_batch=4, log_every=1, copies=copies),
                                       torch.Generator().manual_seed(3)))
        assert (len(calls) > 0) == copies
        calls.clear()
    a, b = (torch.tensor([row[2] for row in c]) for c in curves)
    assert len(a) == 16 and not torch.allclose(a[:4], a[-4:]) and torch.allclose(a, b, rtol=1e-3)


def test_inner_loops_of_a_long_head_in_passes_of_a_few_copies(monkeypatch):
    """A long head's REPTILE inner loops run forward_copies on a few copies a pass (copies_per_pass):
    the summed loss and every copy's gradient are those of one pass over all copies, a ragged last
    pass included; a short head keeps its one pass."""
    import methods.diffusion.meta_train as mt
    from methods.diffusion.denoiser import UNet1D
    from methods.diffusion.losses import coefficients
    torch.manual_seed(0)
    P, E, B, D = 3000, 10, 8, 3
    net = UNet1D(P, E, channels=8, cond_dim=16, emb_layout=(torch.arange(P) % (E + 1)) - 1)
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    p = {k: v.detach() + 0.05 * torch.randn(B, *v.shape) for k, v in net.named_parameters()}   # copies differ
    t = torch.randint(0, 20, (B, D))
    data = (torch.randn(B, P), torch.randn(B, E), t, torch.randn(B, D, P),
            *(c.view(B, D).float() for c in coefficients("local", linear_alphas(20), t.reshape(-1), torch.full((B * D,), 20))))
    passes = []
    real = UNet1D.forward_copies
    monkeypatch.setattr(UNet1D, "forward_copies", lambda self, q, *a: passes.append(len(a[0])) or real(self, q, *a))

    def loss_and_grads(per_pass):
        q = {k: v.clone().requires_grad_(True) for k, v in p.items()}
        loss = mt.denoiser_losses(net, torch.arange(20), per_pass=per_pass)[1](q, *data)
        loss.backward()
        return loss.detach(), {k: v.grad for k, v in q.items()}
    whole, g_whole = loss_and_grads(None)
    assert passes == [B]
    passes.clear()
    part, g_part = loss_and_grads(3)
    assert passes == [3, 3, 2] and torch.allclose(part, whole, rtol=1e-5)
    scale = max(float(v.abs().max()) for v in g_whole.values())
    for k in p:
        assert torch.allclose(g_part[k], g_whole[k], rtol=1e-3, atol=1e-5 * scale), k
    passes.clear()
    loss_and_grads(-1)                                                   # the default rule: 2**15 // P // D = 3
    assert passes == [3, 3, 2]
    from methods.diffusion.denoiser import copies_per_pass
    assert copies_per_pass(net.padded, D, "cpu") == 2 ** 15 // P // D
    assert copies_per_pass(1288, D, "cpu") is None and copies_per_pass(net.padded, D, "cuda") is None


def test_compiled_generation_matches_the_plain_chain(tmp_path, monkeypatch):
    """--compile ($MCDI_COMPILE): Mc-Di's one-shot generation as one torch.compile'd function (the
    conditioning, T U-Net calls and updates; sampler.run_chain) gives the plain chain's heads to float
    tolerance; the chain states and respaced chains keep the plain path. Skipped without a C++ compiler."""
    import shutil
    from benchmark.cells import Cell
    from benchmark.context import Context
    from methods import get_method
    from methods.diffusion.sampler import chain_coefficients, run_chain
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("torch.compile's CPU backend needs a C++ compiler")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch.manual_seed(0)
    way, d, E = 5, 4, 16
    ctx = Context.build(Cell("t", "mc-di", "synthetic", way, 1, 0, "smoke"), None, tmp_path)
    m = get_method("mc-di")(ctx, channels=4, cond_dim=8, steps=6, grid=6)
    P = way * d + way
    m._normalise_fit(torch.randn(E, 3, P), torch.randn(E, way, d))
    m._build(P, way * d)
    for p in m.net.parameters():                    # a non-trivial network (the output layer starts at zero)
        p.data.normal_(0, 0.3)
    m.net.eval()
    protos = torch.randn(2, way, d)
    x0 = torch.randn(2, P)
    with torch.no_grad():                           # run_chain is sample() with all T steps, op for op
        emb = m._emb(protos)
        assert torch.equal(run_chain(m._eps_model(emb).at, x0, chain_coefficients(m.alphas)),
                           sample(m._eps_model(emb), x0, m.alphas))
    monkeypatch.setenv("MCDI_COMPILE", "0")
    plain = m.generate(protos)
    monkeypatch.setenv("MCDI_COMPILE", "1")
    fast = m.generate(protos)
    assert m._compiled is not None and plain.abs().max() > 0.1
    assert torch.allclose(fast, plain, rtol=1e-4, atol=1e-5)
    chain = m.generate(protos, return_chain=True)   # the states: the plain path
    assert torch.allclose(chain[-1], plain, rtol=1e-5, atol=1e-6)
    monkeypatch.setenv("MCDI_COMPILE", "yes")
    with pytest.raises(Exception, match="MCDI_COMPILE must be 0 or 1"):
        m.generate(protos)
