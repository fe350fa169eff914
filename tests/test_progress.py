"""Resumable meta-training: a loop killed mid-way and rerun continues from its last saved
iteration and ends with the same parameters as an uninterrupted run."""
import pytest
import torch

from benchmark.progress import resumable
from methods.diffusion.denoiser import UNet1D
from methods.diffusion.meta_train import MetaConfig, reptile_denoiser
from methods.diffusion.schedule import linear_alphas


class Killed(Exception):
    pass


def _train(prefix, kill_at=None, outer="adam"):
    torch.manual_seed(0)
    net = UNet1D(12, 4, channels=8, cond_dim=16)
    targets, emb = torch.randn(10, 3, 12, generator=torch.Generator().manual_seed(1)), torch.randn(10, 4)
    cfg = MetaConfig(iters=12, outer=outer, meta_batch=4, draws=2, log_every=3)
    g = torch.Generator().manual_seed(2)
    if kill_at is not None:                       # a kill at iteration kill_at: the draw raises
        real = torch.randint

        def randint(*a, **kw):
            randint.calls += 1
            if randint.calls > 2 * kill_at:       # two randint calls per draw
                raise Killed
            return real(*a, **kw)
        randint.calls = 0
        torch.randint = randint
    try:
        with resumable(prefix, every=4) as store:
            curves = reptile_denoiser(net, targets, emb, torch.tensor([4, 8, 12]), linear_alphas(12), cfg, g,
                                      store=store)
            where = store.resumed if store is not None else {}
    finally:
        if kill_at is not None:
            torch.randint = real
    return net, curves, where


@pytest.mark.parametrize("outer", ["adam", "plain"])
def test_killed_meta_training_resumes_where_it_stopped(tmp_path, outer):
    ref, ref_curves, _ = _train(None, outer=outer)
    with pytest.raises(Killed):
        _train(tmp_path / "cell", kill_at=10, outer=outer)
    assert list(tmp_path.glob("cell.*.progress.pt"))                 # progress was saved before the kill
    net, curves, where = _train(tmp_path / "cell", outer=outer)
    assert where == {"meta-train": 8}                                # the counter continued from 8, not 0
    assert curves == ref_curves
    for (n, a), b in zip(ref.state_dict().items(), net.state_dict().values()):
        assert torch.equal(a, b), n
    assert not list(tmp_path.glob("cell.*.progress.pt"))             # cleaned up after success
