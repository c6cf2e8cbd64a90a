"""PINNMLP's second-order forward mode against autograd Hessians, and the torch.func path."""

import pytest
import torch

from pdesurrogate.pinn import PINNMLP, func_second_derivatives, second_derivatives


def _hessians(net, x):
    def f(y):
        return net(y.unsqueeze(0)).squeeze(0)

    H = torch.stack([torch.autograd.functional.hessian(f, xi) for xi in x])
    G = torch.stack([torch.autograd.functional.jacobian(f, xi) for xi in x])
    return G, H


@pytest.mark.parametrize("activation", ["tanh", "sin"])
@pytest.mark.parametrize("hard", [True, False])
def test_taylor2_matches_autograd_hessian(activation, hard):
    torch.manual_seed(0)
    net = PINNMLP(6, width=12, depth=3, activation=activation, hard_boundary=hard).double()
    x = 0.4 * torch.randn(5, 6, dtype=torch.float64)
    G, H = _hessians(net, x)
    dims = torch.tensor([0, 3, 3, 5])
    u, du, ddu = net.taylor2(x, dims=dims, reduce=False)
    torch.testing.assert_close(u, net(x), rtol=0, atol=0)
    torch.testing.assert_close(du, G[:, dims])
    torch.testing.assert_close(ddu, H[:, dims, dims])
    _, _, total = net.taylor2(x, dims=dims)
    torch.testing.assert_close(total, H[:, dims, dims].sum(1))
    shared = torch.randn(3, 6, dtype=torch.float64)
    _, du, ddu = net.taylor2(x, dirs=shared)
    torch.testing.assert_close(du, G @ shared.t())
    torch.testing.assert_close(ddu, torch.einsum("kd,nde,ke->n", shared, H, shared))
    per_point = torch.randn(5, 3, 6, dtype=torch.float64)
    _, du, ddu = net.taylor2(x, dirs=per_point, reduce=False)
    torch.testing.assert_close(du, torch.einsum("nd,nkd->nk", G, per_point))
    torch.testing.assert_close(ddu, torch.einsum("nkd,nde,nke->nk", per_point, H, per_point))


def test_func_path_matches_taylor2_values_and_parameter_gradients():
    torch.manual_seed(1)
    net = PINNMLP(5, width=8, depth=2).double()
    x = 0.5 * torch.randn(4, 5, dtype=torch.float64)
    dims = torch.tensor([1, 4])
    got = func_second_derivatives(net, x, dims=dims, reduce=False)
    want = net.taylor2(x, dims=dims, reduce=False)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
    # gradients with respect to the weights flow through both paths alike
    g1 = torch.autograd.grad(func_second_derivatives(net, x, dims=dims)[2].sum(),
                             list(net.parameters()))
    g2 = torch.autograd.grad(second_derivatives(net, x, dims=dims)[2].sum(),
                             list(net.parameters()))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)


def test_hard_boundary_vanishes_on_the_sphere():
    net = PINNMLP(7, width=8, depth=2)
    xb = torch.nn.functional.normalize(torch.randn(10, 7, dtype=torch.float64), dim=1)
    assert net.double()(xb).abs().max() < 1e-12


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="width must be an int >= 1, got 0"):
        PINNMLP(3, width=0)
    with pytest.raises(ValueError, match="activation must be one of"):
        PINNMLP(3, activation="relu")
    net = PINNMLP(3, width=4, depth=1)
    with pytest.raises(ValueError, match=r"expected points of shape \(N, 3\), got \(2, 4\)"):
        net(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="exactly one of dims"):
        net.taylor2(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="dirs must be"):
        net.taylor2(torch.zeros(2, 3), dirs=torch.zeros(3, 2, 3))
