"""The Laplacian estimators: exact where they should be, unbiased where they are random (the
mean over many draws matches the full Laplacian of a random network within a statistical bound),
and only the sampled dimensions are differentiated."""

import math

import pytest
import torch
from torch import nn

from pdesurrogate.pinn import PINNMLP, SDGD, FullLaplacian, Hutchinson
from pdesurrogate.pinn.laplacian import build_estimator


def _net_and_points(dim=20, n=4, seed=0):
    torch.manual_seed(seed)
    net = PINNMLP(dim, width=16, depth=3).double()
    x = torch.randn(n, dim, dtype=torch.float64)
    x = 0.9 * x / x.norm(dim=1, keepdim=True)
    return net, x


def _autograd_trace(net, x):
    def f(y):
        return net(y.unsqueeze(0)).squeeze(0)

    return torch.stack([torch.autograd.functional.hessian(f, xi).trace() for xi in x])


def _draws(estimator, net, x, m, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return torch.stack([estimator.estimate(net, x, gen)[1] for _ in range(m)])  # (m, N)


def test_full_laplacian_is_exact_and_chunking_changes_nothing():
    net, x = _net_and_points()
    exact = _autograd_trace(net, x)
    u, lap = FullLaplacian().estimate(net, x)
    torch.testing.assert_close(lap, exact)
    torch.testing.assert_close(u, net(x))
    torch.testing.assert_close(FullLaplacian(chunk=3).estimate(net, x)[1], lap)


@pytest.mark.parametrize("estimator", [SDGD(3), Hutchinson(2), Hutchinson(2, "gaussian"),
                                       Hutchinson(2, per_point=True)], ids=repr)
def test_estimator_is_unbiased(estimator):
    """|mean of m draws - Δu| <= 5 standard errors at every point, while single draws are
    far from Δu (the test would catch a wrong scale)."""
    net, x = _net_and_points()
    exact = FullLaplacian().estimate(net, x)[1]
    m = 400
    draws = _draws(estimator, net, x, m)
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(m)
    assert torch.all(se > 0), "the estimator should be random"
    assert torch.all((mean - exact).abs() <= 5 * se), (mean, exact, se)
    if isinstance(estimator, SDGD):
        # without the d/|I| rescaling the mean is off by many standard errors
        unscaled = mean * 3 / 20
        assert torch.all((unscaled - exact).abs() > 5 * se)


def test_sdgd_samples_distinct_dimensions_uniformly():
    est = SDGD(5)
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(40)
    m = 1000
    for _ in range(m):
        dims = est.sample(40, gen)
        assert dims.shape == (5,) and dims.unique().numel() == 5
        counts[dims] += 1
    # each dimension is drawn with probability 5/40: binomial counts within 5 sigma
    p = 5 / 40
    assert torch.all((counts - m * p).abs() < 5 * math.sqrt(m * p * (1 - p)))


def test_sdgd_with_all_dimensions_is_the_full_laplacian():
    net, x = _net_and_points(dim=6)
    torch.testing.assert_close(SDGD(6).estimate(net, x)[1], FullLaplacian().estimate(net, x)[1])
    torch.testing.assert_close(SDGD(50).estimate(net, x)[1], FullLaplacian().estimate(net, x)[1])


def test_sdgd_differentiates_only_sampled_dimensions():
    """The first-layer gradient of an SDGD estimate touches only the sampled input columns
    (beyond the plain forward pass, whose gradient is W1 · x-dependent but not Δ-dependent)."""
    net, x = _net_and_points(dim=30)
    net.hard_boundary = False
    x = x.clone()
    x[:, 10:] = 0.0  # columns >= 10 then enter the forward pass only through zeros
    gen = torch.Generator().manual_seed(3)
    est = SDGD(4)
    dims = est.sample(30, torch.Generator().manual_seed(3))
    _, lap = est.estimate(net, x, gen)
    (gw,) = torch.autograd.grad(lap.sum(), [net.hidden[0].weight])
    touched = set(torch.nonzero(gw.abs().sum(0)).flatten().tolist())
    assert touched <= set(range(10)) | set(dims.tolist())
    assert set(dims.tolist()) - set(range(10)) <= touched


def test_estimators_work_on_any_network_through_torch_func():
    class Plain(nn.Module):  # no taylor2: the torch.func fallback is used
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))

        def forward(self, x):
            return self.body(x).squeeze(-1) * torch.exp(-(x * x).sum(-1))

    torch.manual_seed(0)
    net = Plain().double()
    x = 0.5 * torch.randn(3, 5, dtype=torch.float64)
    torch.testing.assert_close(FullLaplacian().estimate(net, x)[1], _autograd_trace(net, x))
    draws = _draws(SDGD(2), net, x, 100)
    exact = _autograd_trace(net, x)
    assert torch.all((draws.mean(0) - exact).abs() <= 5 * draws.std(0) / math.sqrt(100))


def test_specs_and_bad_arguments():
    for est in (FullLaplacian(4), SDGD(7), Hutchinson(3, "gaussian", True)):
        again = build_estimator(est.spec())
        assert type(again) is type(est) and again.spec() == est.spec()
    with pytest.raises(ValueError, match="dim_batch must be an int >= 1, got 0"):
        SDGD(0)
    with pytest.raises(ValueError, match="distribution must be one of"):
        Hutchinson(2, "uniform")
    with pytest.raises(ValueError, match="unknown estimator 'exact'"):
        build_estimator({"name": "exact", "init_args": {}})
    with pytest.raises(ValueError, match="init_args"):
        build_estimator({"name": "sdgd", "init_args": {"batch": 3}})
