"""PDERefiner's inference is Algorithm 1 of Lippe et al. (2023), checked against backbones whose
answers are known: an oracle that predicts the exact noise (the refinement must then return the
true state), and an elementwise backbone whose refined step is recomputed by hand."""

import pytest
import torch
from torch import nn

from pdesurrogate.models import PDERefiner


class Oracle(nn.Module):
    """Knows the true next state ``roll(u_prev, 1)``: at ``k = 0`` it predicts it with an
    offset of ``bias`` (an imperfect first guess); at ``k >= 1`` it returns the exact noise in
    the estimate, ``(estimate - truth) / sigma_k`` with the paper's ``sigma_k =
    sigma_min ** (k / K)`` computed here in float64, independently of the refiner."""

    def __init__(self, n_refine_steps: int, sigma_min: float, bias: float = 0.3):
        super().__init__()
        self.in_channels, self.out_channels, self.dim, self.n_params = 2, 1, 1, 0
        self.k_max, self.sigma_min, self.bias = n_refine_steps, sigma_min, bias

    def forward(self, x, params, cond):
        prev, est = x[:, :1], x[:, 1:]
        truth = torch.roll(prev, 1, -1)
        k = cond.to(torch.float64).reshape(-1, 1, 1)
        sigma = (self.sigma_min ** (k / max(self.k_max, 1))).to(x.dtype)
        return torch.where(k == 0, truth + self.bias, (est - truth) / sigma)


@pytest.mark.parametrize("k_max, sigma_min", [(1, 1e-1), (2, 1e-2), (3, 2e-7)])
def test_oracle_noise_predictions_recover_the_true_state(k_max, sigma_min):
    """Each refinement adds noise of std sigma_k to the estimate and subtracts sigma_k times
    the predicted noise: with the exact noise predicted, the first refinement already lands on
    the truth and the later ones keep it there, whatever the k = 0 guess was (here 0.3 off).
    A step scaled by another sigma (e.g. sigma_{k+1}) leaves (sigma_k - sigma_{k+1}) eps."""
    m = PDERefiner(Oracle(k_max, sigma_min), n_refine_steps=k_max, sigma_min=sigma_min)
    g = torch.Generator().manual_seed(0)
    u = torch.randn(3, 1, 32, generator=g, dtype=torch.float64)
    truth = torch.roll(u, 1, -1)
    out = m(u, None, generator=torch.Generator().manual_seed(1))
    # float32 rounding of the refiner's sigma_k leaves ~6e-8 sigma_k |eps|
    torch.testing.assert_close(out, truth, atol=1e-12 + 1e-6 * sigma_min, rtol=0)
    # without refinement steps the first guess is the answer
    plain = PDERefiner(Oracle(0, sigma_min), n_refine_steps=0, sigma_min=sigma_min)
    torch.testing.assert_close(plain(u, None), truth + 0.3, atol=0, rtol=0)


class Elementwise(nn.Module):
    """A fixed nonlinear elementwise backbone that depends on the step ``k``: the refined step
    can be recomputed by hand exactly (no convolution rounding)."""

    def __init__(self):
        super().__init__()
        self.in_channels, self.out_channels, self.dim, self.n_params = 2, 1, 1, 1

    def forward(self, x, params, cond):
        prev, est = x[:, :1], x[:, 1:]
        k = cond.to(x.dtype).reshape(-1, 1, 1)
        c = params.reshape(-1, 1, 1)
        return torch.tanh(0.7 * prev + 1.3 * est + 0.4 * k + 0.2 * c) + 0.5 * est - 0.1 * k


def _by_hand(net, u, p, k_max, sigma_min, draws):
    """Algorithm 1: u_hat = f(u, 0, 0); for k = 1..K: noisy = u_hat + sigma_k eps_k,
    u_hat = noisy - sigma_k f(u, noisy, k); ``draws(shape)`` gives eps_k."""
    b = u.shape[0]
    est = net(torch.cat([u, torch.zeros_like(u)], 1), p, torch.zeros(b, dtype=torch.long))
    for k in range(1, k_max + 1):
        sigma = sigma_min ** (k / k_max)
        noisy = est + sigma * draws(est.shape)
        est = noisy - sigma * net(torch.cat([u, noisy], 1), p, torch.full((b,), k))
    return est


@pytest.mark.parametrize("k_max, sigma_min", [(1, 0.3), (3, 1e-1), (4, 1e-3)])
def test_refined_step_is_algorithm_1(k_max, sigma_min):
    """The refiner's step equals Algorithm 1 written out with the same noise draws, for one
    generator and for one generator per sample (sample i's noise from its own generator)."""
    net = Elementwise()
    m = PDERefiner(net, n_refine_steps=k_max, sigma_min=sigma_min)
    g = torch.Generator().manual_seed(0)
    u, p = torch.randn(3, 1, 16, generator=g), torch.rand(3, 1, generator=g)

    got = m(u, p, generator=torch.Generator().manual_seed(5))
    ref_gen = torch.Generator().manual_seed(5)
    want = _by_hand(net, u, p, k_max, sigma_min,
                    lambda shape: torch.randn(shape, generator=ref_gen))
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)

    got = m(u, p, generator=[torch.Generator().manual_seed(s) for s in (7, 8, 9)])
    ref_gens = [torch.Generator().manual_seed(s) for s in (7, 8, 9)]
    want = _by_hand(net, u, p, k_max, sigma_min, lambda shape: torch.stack(
        [torch.randn(shape[1:], generator=r) for r in ref_gens]))
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    # the noise matters at this sigma_min: the deterministic k = 0 guess is far from the result
    first = net(torch.cat([u, torch.zeros_like(u)], 1), p, torch.zeros(3, dtype=torch.long))
    assert (got - first).abs().max() > 1e-3
