"""RelativeH1 (neuraloperator's H1 error, relative per sample) against closed forms, and which
of the data's axes it treats as periodic."""

import math

import pytest
import torch

from pdesurrogate.solvers import SOLVERS
from pdesurrogate.training.losses import PERIODIC_PDES, WALLED_PDES, RelativeH1, relative_l2


def _sin(k: int, n: int) -> torch.Tensor:
    return torch.sin(2 * math.pi * k * torch.arange(n, dtype=torch.float64) / n)


def test_periodic_value_is_the_closed_form_of_central_differences():
    """Target ``sin(2 pi k x)`` on ``x_j = j / n``, error ``eps sin(2 pi m x)``: the wrapped
    central difference with ``h = 1/n`` (measure 1) scales mode ``k`` by ``s_k = n sin(2 pi k /
    n)``, and distinct modes are orthogonal on the grid, so the relative H1 error is
    ``eps sqrt((1 + s_m^2) / (1 + s_k^2))``: 0.1 times 1.655 for k=2, m=5, n=32 (the relative
    L2 error is eps alone). Two samples of three channels each: per-sample ratios, their mean."""
    n, k, m = 32, 2, 5
    s = [n * math.sin(2 * math.pi * j / n) for j in (k, m)]
    factor = math.sqrt((1 + s[1] ** 2) / (1 + s[0] ** 2))
    eps = torch.tensor([0.1, 0.4], dtype=torch.float64)
    target = _sin(k, n).expand(2, 3, n)
    pred = target + eps[:, None, None] * _sin(m, n)
    loss = RelativeH1((True,))
    want = (eps * factor).tolist()
    assert loss(pred, target, reduction="none").tolist() == pytest.approx(want, rel=1e-12)
    assert float(loss(pred, target)) == pytest.approx(sum(want) / 2, rel=1e-12)
    assert float(relative_l2(pred, target)) == pytest.approx(0.25, rel=1e-12)


def test_walled_value_uses_one_sided_differences_at_the_ends():
    """Target ``u = x`` along the first of two walled axes, ``x_i = i / n`` (n = 8, 6 points
    along y), prediction ``u + eps``: every stencil is exact on a line, so the target's
    gradient is (1, 0) at each of the N points and the error's is 0, giving ``eps sqrt(N) /
    sqrt(sum u^2 + N)``. Wrapping the axes instead differentiates the jump from x = 7/8 back
    to 0 at both ends (a different number)."""
    nx, ny, eps = 8, 6, 0.3
    u = (torch.arange(nx, dtype=torch.float64) / nx)[:, None].expand(nx, ny)[None, None]
    want = eps * math.sqrt(nx * ny) / math.sqrt(float((u ** 2).sum()) + nx * ny)
    assert float(RelativeH1((False, False))(u + eps, u)) == pytest.approx(want, rel=1e-12)
    assert float(RelativeH1((True, True))(u + eps, u)) != pytest.approx(want, rel=1e-3)


def test_periodicity_follows_the_data():
    """Our periodic solvers wrap every axis, heat and Darcy have walls, and a file that does
    not name one of ours (PDEBench, The Well) or no data at all gets walls; every registered
    solver is classified, so a new one fails here until it is."""
    assert set(SOLVERS) == PERIODIC_PDES | WALLED_PDES
    assert not PERIODIC_PDES & WALLED_PDES
    for pde, dim, want in (("burgers1d", 1, (True,)), ("navier_stokes2d", 2, (True, True)),
                           ("darcy2d", 2, (False, False)), ("heat2d", 2, (False, False)),
                           ("2D_DarcyFlow", 2, (False, False))):
        info = {"pde": pde, "grid_shape": [16] * dim}
        assert RelativeH1.for_data(info, dim).periodic == want, pde
    assert RelativeH1.for_data(None, 1).periodic == (False,)


def test_refuses_grids_and_shapes_it_cannot_differentiate():
    """A walled axis of fewer than four points (the one-sided stencil's) is refused naming the
    grid, at setup from data_info and at the call; so are mismatched shapes."""
    with pytest.raises(ValueError, match=r"\(3, 16\).*'darcy2d'.*rel_l2"):
        RelativeH1.for_data({"pde": "darcy2d", "grid_shape": [3, 16]}, 2)
    assert RelativeH1.for_data({"pde": "ks1d", "grid_shape": [3]}, 1).periodic == (True,)
    with pytest.raises(ValueError, match=r"4 points or more, got the grid \(3,\)"):
        RelativeH1((False,))(torch.zeros(1, 1, 3), torch.ones(1, 1, 3))
    with pytest.raises(ValueError, match="1 grid axes"):
        RelativeH1((False,))(torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError, match="one bool per spatial axis"):
        RelativeH1((True,) * 4)
