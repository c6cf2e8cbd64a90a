"""PDERefiner: exactly K + 1 network evaluations, the noise schedule, seeded noise, checks."""

import pytest
import torch

from pdesurrogate.models import ModernUNet, PDERefiner, UNet, build_model, model_spec
from pdesurrogate.models.refiner import rollout_samples, trajectory_generators


def _refiner(k: int = 3, sigma_min: float = 1e-3) -> PDERefiner:
    torch.manual_seed(0)
    backbone = ModernUNet(1, 2, 1, hidden_channels=8, channel_mults=[1, 2], n_blocks=1,
                          n_params=1, cond=True)
    return PDERefiner(backbone, n_refine_steps=k, sigma_min=sigma_min)


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_inference_runs_k_plus_one_evaluations(k):
    """forward = one prediction plus K refinements: exactly K + 1 backbone calls, with the
    refinement steps 0, 1, ..., K as the conditioning."""
    m = _refiner(k)
    seen = []
    m.backbone.register_forward_hook(lambda mod, args, kw, out: seen.append(kw["cond"].tolist()),
                                     with_kwargs=True)
    y = m(torch.randn(2, 1, 16), torch.randn(2, 1))
    assert y.shape == (2, 1, 16)
    assert seen == [[s, s] for s in range(k + 1)]


def test_noise_schedule_and_refinement_update():
    """sigma_k = sigma_min ** (k / K); a step replaces the estimate by noisy - sigma_k eps_hat,
    so with a backbone that predicts the true noise the refinement is exact."""
    m = _refiner(4, 1e-4)
    torch.testing.assert_close(m.sigma(torch.arange(1, 5)),
                               torch.tensor([1e-1, 1e-2, 1e-3, 1e-4]))
    assert float(m.sigma(0)) == 1.0
    # a k = 0 prediction, then K noise predictions: the estimate moves by at most
    # sigma_k * |eps_hat| per step, i.e. the refinements are small corrections
    u, p = torch.randn(2, 1, 16), torch.randn(2, 1)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        first = m.network(u, torch.zeros_like(u), p, torch.zeros(2, dtype=torch.long))
        refined = m(u, p, generator=g)
    assert (refined - first).abs().max() < 0.5


def test_seeded_noise():
    """Same generator seed, same output; another seed, another output (the refinement is
    stochastic, K >= 1); K = 0 is deterministic."""
    m = _refiner(3, 1e-1)
    u, p = torch.randn(2, 1, 16), torch.randn(2, 1)
    with torch.no_grad():
        a = m(u, p, torch.Generator().manual_seed(1))
        b = m(u, p, torch.Generator().manual_seed(1))
        c = m(u, p, torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert not torch.equal(a, c)
    det = _refiner(0)
    with torch.no_grad():
        torch.testing.assert_close(det(u, p), det(u, p), atol=0, rtol=0)
    samples = rollout_samples(m, u, p, steps=3, n_samples=4, seed=0)
    assert samples.shape == (4, 2, 4, 1, 16)
    torch.testing.assert_close(samples[:, :, 0], u.expand(4, -1, -1, -1))
    assert samples[:, :, 1:].std(0).min() > 0


def test_noise_per_sample_generators():
    """With one generator per sample, each sample's noise comes from its own generator alone:
    the batch gives, sample by sample, what each sample alone gives with the same generator's
    noise; and the refinement does use that noise (another seed, another result)."""
    m = _refiner(3, 1e-1)
    u, p = torch.randn(3, 1, 16), torch.randn(3, 1)
    with torch.no_grad():
        batch = m(u, p, [torch.Generator().manual_seed(s) for s in (4, 5, 6)])
        alone = [m(u[i:i + 1], p[i:i + 1], torch.Generator().manual_seed(s))
                 for i, s in enumerate((4, 5, 6))]
        other = m(u, p, [torch.Generator().manual_seed(s) for s in (7, 8, 9)])
    # the U-Net's batched convolutions round differently from single-sample ones
    torch.testing.assert_close(batch, torch.cat(alone), atol=1e-6, rtol=1e-5)
    assert (batch - other).abs().amin(dim=(1, 2)).min() > 0
    with pytest.raises(ValueError, match="one per sample expected, got 2 for a batch of 3"):
        m(u, p, [torch.Generator(), torch.Generator()])


def test_trajectory_generators_follow_the_trajectory():
    """A trajectory's generator depends on its first state, its parameters and the seed, not on
    its place in the batch; draws from it equal draws from a fresh one for the same inputs."""
    u, p = torch.randn(3, 2, 8), torch.randn(3, 2)

    def draw(gens):
        return torch.stack([torch.randn(4, generator=g) for g in gens])

    d = draw(trajectory_generators(u, p, seed=0))
    torch.testing.assert_close(draw(trajectory_generators(u.flip(0), p.flip(0), seed=0)),
                               d.flip(0), atol=0, rtol=0)
    torch.testing.assert_close(draw(trajectory_generators(u[1:2], p[1:2], seed=0))[0], d[1],
                               atol=0, rtol=0)
    assert not torch.equal(draw(trajectory_generators(u, p, seed=1)), d)
    p2 = p.clone()
    p2[0, 1] += 1e-3
    changed = draw(trajectory_generators(u, p2, seed=0))
    assert not torch.equal(changed[0], d[0]) and torch.equal(changed[1:], d[1:])
    u2 = u.clone()
    u2[2, 1, 5] += 1e-3
    assert not torch.equal(draw(trajectory_generators(u2, p, seed=0))[2], d[2])
    # float64 inputs with float32 values: the same generators
    torch.testing.assert_close(draw(trajectory_generators(u.double(), p.double(), seed=0)), d,
                               atol=0, rtol=0)
    # no parameters: still one generator per trajectory, by its state
    nop = draw(trajectory_generators(u, None, seed=0))
    assert nop.shape == (3, 4) and not torch.equal(nop[0], nop[1])


def test_spec_round_trip():
    m = _refiner(2)
    m2 = build_model(model_spec(m))
    m2.load_state_dict(m.state_dict())
    u, p = torch.randn(1, 1, 16), torch.randn(1, 1)
    with torch.no_grad():
        torch.testing.assert_close(m2(u, p, torch.Generator().manual_seed(0)),
                                   m(u, p, torch.Generator().manual_seed(0)), atol=0, rtol=0)


def test_checks():
    with pytest.raises(ValueError, match="in_channels = 2 \\* out_channels"):
        PDERefiner(ModernUNet(1, 1, 1, cond=True))
    with pytest.raises(ValueError, match="conditioned on the refinement step"):
        PDERefiner(ModernUNet(1, 2, 1, cond=False))
    with pytest.raises(ValueError, match="conditioned on the refinement step"):
        PDERefiner(UNet(1, 2, 1))
    with pytest.raises(ValueError, match="sigma_min"):
        _refiner(3, 1.5)
    with pytest.raises(ValueError, match="n_refine_steps"):
        _refiner(-1)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_refinement_steps_see_their_noise_under_autocast(dtype):
    """Under mixed precision (autocast, as Lightning's bf16-mixed / 16-mixed run the model) a
    refinement evaluation (k >= 1) computes in float32: its noise, down to sigma_min = 2e-7,
    is below bfloat16's and float16's resolution, and cast to them the noisy estimate would
    equal the clean one (the network could not learn the noise). k = 0 follows autocast."""
    m = _refiner(3, 2e-7)
    g = torch.Generator().manual_seed(1)
    u, p = torch.randn(4, 1, 16, generator=g), torch.randn(4, 1, generator=g)
    eps = torch.randn(4, 1, 16, generator=g)
    for k in (1, 2, 3):
        kk = torch.full((4,), k)
        noisy = u + m.sigma(k) * eps
        full = m.network(u, noisy, p, kk)
        with torch.autocast("cpu", dtype=dtype):
            mixed = m.network(u, noisy, p, kk)
            clean = m.network(u, u, p, kk)
        assert mixed.dtype == torch.float32
        torch.testing.assert_close(mixed, full, rtol=0, atol=0)
        assert not torch.equal(mixed, clean)     # the noise reaches the output
    with torch.autocast("cpu", dtype=dtype):
        assert m.network(u, torch.zeros_like(u), p, torch.zeros(4, dtype=torch.long)).dtype \
            == dtype


def test_inference_never_reads_device_values():
    """A refined step on the meta device (shapes, no values) runs: whether an evaluation
    refines is known from the loop, not read back from the device (on a GPU that read would
    wait for the queue to drain, K + 1 times per step)."""
    m = _refiner(3).to("meta")
    y = m(torch.randn(2, 1, 16, device="meta"), torch.randn(2, 1, device="meta"))
    assert y.device.type == "meta" and y.shape == (2, 1, 16)
