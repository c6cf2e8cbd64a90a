"""Heat2D's ``dt`` docstring: at the default ``dt = h`` the total error of the eigenmode
sin(pi x) sin(pi y) as a multiple of the stencil's error.

The mode is an exact eigenvector of the 5-point stencil (eigenvalue
``lam_h = 8 kappa sin^2(pi h / 2) / h^2``), so the stencil's error at ``t`` is exactly
``|exp(-lam_h t) - exp(-2 pi^2 kappa t)|`` times the mode and the rest is time error.
"""

from __future__ import annotations

import math

import pytest
import torch

from pdesurrogate.solvers.heat import Heat2D

F64 = torch.float64


@pytest.mark.parametrize("kappa", [0.01, 0.1])
def test_error_at_dt_h_against_the_stencil_error(kappa):
    """n = 16, one advance from the mode per t: 0.68-1.06 times the stencil's error at t = 1
    and 2, 1.2-3.3 times at t = 0.1 (the start-up), about 3 (2.5-3.5) at kappa = 0.1."""
    s = Heat2D(n=16, rtol=1e-12, omega=1.5)
    y, x = s.grid
    u0 = (torch.sin(math.pi * y).reshape(-1, 1) * torch.sin(math.pi * x).reshape(1, -1))[
        None, None].to(F64)
    params = {"kappa": torch.full((1,), kappa, dtype=F64), "kappa_var": torch.zeros(1, dtype=F64)}
    lam, lam_h = 2 * math.pi**2 * kappa, 8 * kappa * math.sin(math.pi * s.h / 2) ** 2 / s.h**2
    ratios = {}
    for t in (0.1, 1.0, 2.0):
        exact = u0 * math.exp(-lam * t)
        total = float((s.advance(u0, params, t) - exact).abs().max())
        stencil = float((u0 * math.exp(-lam_h * t) - exact).abs().max())
        ratios[t] = total / stencil
    assert all(0.68 <= ratios[t] <= 1.06 for t in (1.0, 2.0)), ratios
    assert 1.2 <= ratios[0.1] <= 3.3, ratios
    if kappa == 0.1:
        assert 2.5 <= ratios[0.1] <= 3.5, ratios
