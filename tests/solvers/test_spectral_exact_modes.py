"""PseudoSpectral1D: the modes above the 2/3 cut feel only the linear symbol, exactly.

The flux is dealiased, so a Fourier mode ``j >= n_modes`` of ``u_t = L u - (u^2/2)_x`` obeys
``v_j' = L_j v_j`` and is ``v_j(0) exp(L_j T)`` after ``advance(..., T)``, whatever the low modes
do and however many internal steps the advance takes. The symbols are written out here from the
module docstrings (Burgers ``-nu k^2``, KS ``k^2 - nu k^4``, ``k = 2 pi j / L``).
"""

import math

import pytest
import torch

from pdesurrogate.solvers.burgers import Burgers1D
from pdesurrogate.solvers.ks import KS1D

F64 = torch.float64


def burgers_symbol(j: torch.Tensor, length: float, nu: torch.Tensor) -> torch.Tensor:
    k = 2 * math.pi * j / length
    return -nu.reshape(-1, 1, 1) * k**2


def ks_symbol(j: torch.Tensor, length: float, nu: torch.Tensor) -> torch.Tensor:
    k = 2 * math.pi * j / length
    return k**2 - nu.reshape(-1, 1, 1) * k**4


def mixed_state(x: torch.Tensor, length: float, batch: int) -> torch.Tensor:
    """A large low mode (the nonlinear part) plus small modes 25 and 30 (above 64/3)."""
    w = 2 * math.pi / length
    u = 0.5 * torch.sin(w * x) + 1e-3 * torch.cos(30 * w * x) + 2e-3 * torch.sin(25 * w * x)
    scale = torch.arange(1, batch + 1, dtype=F64).reshape(-1, 1, 1)  # sample b: (b + 1) u
    return scale * u.reshape(1, 1, -1)


def assert_tail_exact(solver, symbol, nu: torch.Tensor, duration: float) -> None:
    x = solver.grid[0]
    u0 = mixed_state(x, solver.length, len(nu))
    out = solver.advance(u0, {"nu": nu}, duration)
    m = solver.n_modes
    v0, v = torch.fft.rfft(u0)[..., m:], torch.fft.rfft(out)[..., m:]
    j = torch.arange(m, solver.n_points // 2 + 1, dtype=F64)
    expected = v0 * torch.exp(symbol(j, solver.length, nu) * duration)
    # round-off of the low modes' irfft/rfft (|v| ~ 16): ~1e-14; a wrong propagator is ~1e-2
    err = float((v - expected).abs().max())
    assert err < 1e-12 * float(torch.fft.rfft(u0).abs().max()), err


@pytest.mark.parametrize("scheme, dt", [("etdrk4", 0.01), ("imex", 0.01), ("etdrk4", None)])
def test_burgers_tail_modes_decay_exactly_over_the_whole_duration(scheme, dt):
    """Burgers1D(64): modes 22..32 of a state with a large mode 1 are v0 exp(-nu k^2 T) after
    T = 0.1 in 10 fixed steps or 7 CFL steps, for a batch nu = (1e-4, 3e-4), to 1e-12 relative
    (exp(-nu k^2 T) = 0.70 at j = 30, nu = 1e-4; one step's factor would be 0.965)."""
    s = Burgers1D(n_points=64, scheme=scheme, dt=dt)
    assert s.n_modes == 22
    assert_tail_exact(s, burgers_symbol, torch.tensor([1e-4, 3e-4], dtype=F64), 0.1)


def test_ks_tail_modes_follow_k2_minus_nu_k4_over_the_whole_duration():
    """KS1D(64, L = 64, dealiased): modes 22..32 are v0 exp((k^2 - nu k^4) T) after T = 0.01 in
    10 steps of 1e-3, for nu = (1, 0.5), to 1e-12 relative (factor 0.51 at j = 30, nu = 1)."""
    s = KS1D(n_points=64, length=64.0, dt=1e-3, dealias=True)
    assert_tail_exact(s, ks_symbol, torch.tensor([1.0, 0.5], dtype=F64), 0.01)


def test_burgers_state_of_tail_modes_only_is_damped_in_place():
    """u0 = 1e-3 cos(2 pi 30 x) on 64 points (mode 30 > 64/3): the flux sees only zero low modes,
    so u(T) = u0 exp(-nu (2 pi 30)^2 T) everywhere: 0.70 u0 for nu = 1e-4, T = 0.1 in 10 steps
    (to 1e-15 absolute; pure multiplications)."""
    s = Burgers1D(n_points=64, dt=0.01)
    x = s.grid[0]
    u0 = (1e-3 * torch.cos(2 * math.pi * 30 * x)).reshape(1, 1, -1)
    nu = 1e-4
    out = s.advance(u0, {"nu": torch.tensor([nu], dtype=F64)}, 0.1)
    factor = math.exp(-nu * (2 * math.pi * 30) ** 2 * 0.1)
    assert 0.69 < factor < 0.71
    torch.testing.assert_close(out, u0 * factor, rtol=0, atol=1e-15)
