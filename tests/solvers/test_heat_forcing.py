"""Heat2D's Gaussian forcing is the documented bump exp(-|x - (1/2, 1/2)|^2 / (2 * 0.1^2)).

One backward-Euler step from u = 0 solves ``(I + dt L) u = dt f``, so ``f = u / dt + L u``
recovers the forcing from the solver's output alone. ``L = -kappa Lap_h`` (constant kappa) and
the bump are written out here from the docstrings, not taken from the solver.
"""

import math

import pytest
import torch

from pdesurrogate.solvers.heat import Heat2D

F64 = torch.float64


def documented_bump(n: int) -> torch.Tensor:
    """``exp(-r^2 / (2 sigma^2))``, sigma = 0.1, at the interior nodes ``i / (n + 1)``,
    ``(n, n)`` (axis 0 is y)."""
    nodes = torch.arange(1, n + 1, dtype=F64) / (n + 1)
    r2 = (nodes.reshape(1, -1) - 0.5) ** 2 + (nodes.reshape(-1, 1) - 0.5) ** 2
    return torch.exp(-r2 / (2 * 0.1**2))


def minus_kappa_laplacian(u: torch.Tensor, kappa: float, h: float) -> torch.Tensor:
    """The 5-point ``-kappa Lap_h u`` with zero Dirichlet values around ``u`` ``(n, n)``."""
    p = torch.nn.functional.pad(u, (1, 1, 1, 1))
    return kappa * (4 * u - p[1:-1, :-2] - p[1:-1, 2:] - p[:-2, 1:-1] - p[2:, 1:-1]) / h**2


@pytest.mark.parametrize("n", [9, 10])
def test_one_backward_euler_step_from_rest_has_the_documented_forcing(n):
    """n = 9 (h = 0.1: the centre is a node, where f = 1, and its neighbours, where f =
    exp(-1/2)) and n = 10 (no node at the centre): u / dt + L u equals the documented bump to
    1e-8 at rtol = 1e-12 (a bump of width 0.1/sqrt(2) would be off by 0.2 next to the
    centre)."""
    kappa, dt = 0.5, 0.01
    s = Heat2D(n=n, forcing="gaussian", scheme="be", dt=dt, omega=1.5, rtol=1e-12)
    u0 = torch.zeros(1, 1, n, n, dtype=F64)
    params = {"kappa": torch.tensor([kappa], dtype=F64), "kappa_var": torch.zeros(1, dtype=F64)}
    u = s.advance(u0, params, dt)[0, 0]
    f = u / dt + minus_kappa_laplacian(u, kappa, s.h)
    bump = documented_bump(n)
    if n == 9:
        assert float(bump[4, 4]) == 1.0
        assert float(bump[4, 5]) == pytest.approx(math.exp(-0.5), rel=1e-12)
    torch.testing.assert_close(f, bump, rtol=0, atol=1e-8)


def test_crank_nicolson_start_up_applies_the_forcing_over_each_substep():
    """The start-up of Crank–Nicolson from rest is STARTUP_SUBSTEPS backward-Euler steps of
    dt / STARTUP_SUBSTEPS, forcing included: with the Gaussian forcing (variable kappa) one CN
    step equals four backward-Euler steps of dt / 4 to 1e-9 (forcing each substep with
    dt f instead of dt f / 4 gives about 4 times the response)."""
    n, dt = 10, 0.02
    params = {"kappa": torch.tensor([0.05, 0.3], dtype=F64),
              "kappa_var": torch.tensor([0.4, 0.0], dtype=F64)}
    u0 = torch.zeros(2, 1, n, n, dtype=F64)
    cn = Heat2D(n=n, forcing="gaussian", scheme="cn", dt=dt, omega=1.5, rtol=1e-13,
                max_iter=100000)
    be = Heat2D(n=n, forcing="gaussian", scheme="be", dt=dt / 4, omega=1.5, rtol=1e-13,
                max_iter=100000)
    u_cn = cn.advance(u0, params, dt)
    u_be = be.advance(u0, params, dt)
    assert float(u_be.abs().max()) > 0.5 * dt
    torch.testing.assert_close(u_cn, u_be, rtol=0, atol=1e-9)
