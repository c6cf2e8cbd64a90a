"""NavierStokes2D against exact Taylor–Green decay, an analytic advection term, and in time."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pdesurrogate.solvers.base import SolverDivergedError
from pdesurrogate.solvers.navier_stokes import NavierStokes2D
from pdesurrogate.solvers.spectral import dealias_mask


def mesh(solver: NavierStokes2D) -> tuple[torch.Tensor, torch.Tensor]:
    return solver.grid[1].reshape(1, -1), solver.grid[0].reshape(-1, 1)


def test_taylor_green_decay_exact():
    """w = sin(2 pi k x) sin(2 pi k y) is an eigenfunction of the Laplacian with u . grad w = 0,
    so w(t) = w0 exp(-2 nu (2 pi k)^2 t). float64, n = 16, dt = 1e-3, t = 0.5: diffusion is
    integrated exactly, so the solver reproduces the exact decay to 1e-12 (relative max; the
    Crank–Nicolson diffusion it had was 2e-11 off)."""
    s = NavierStokes2D(n=16, forcing="none", dt=1e-3)
    x, y = mesh(s)
    ks = (1, 2, 3)
    w0 = torch.stack([torch.sin(2 * math.pi * k * x) * torch.sin(2 * math.pi * k * y)
                      for k in (1, 2)] + [torch.cos(6 * math.pi * x) * torch.cos(6 * math.pi * y)])
    w0 = w0.unsqueeze(1)
    nu = torch.tensor([1e-3, 3e-4, 1e-4], dtype=torch.float64)
    t = 0.5
    w = s.advance(w0, {"nu": nu}, t)
    assert w.dtype == torch.float64 and w.shape == w0.shape
    for i, k in enumerate(ks):
        rate = float(nu[i]) * 2 * (2 * math.pi * k) ** 2
        exact = math.exp(-rate * t) * w0[i]
        assert float((w[i] - exact).abs().max() / exact.abs().max()) < 1e-12, k


def test_stiff_high_mode_decays_at_exact_rate():
    """A (10, 10) Taylor–Green mode at n = 32 with nu = 0.01, 0.1, 1 (nu dt k^2 = 0.8, 8, 79
    at the automatic step dt_max = 0.01) decays over t = 0.05 as exp(-2 nu (20 pi)^2 t), i.e.
    by e^-3.9, e^-39, e^-395: max error below 1e-12 (Crank–Nicolson diffusion kept 0.075 of the
    nu = 0.1 mode and 0.78 of the nu = 1 one). Mixed into a GRF flow (nu = 0.1, nonlinear), the
    automatic step stays within 1e-4 (relative max) of a dt = 1e-4 run."""
    s = NavierStokes2D(n=32, forcing="none")
    x, y = mesh(s)
    mode = (torch.sin(20 * math.pi * x) * torch.sin(20 * math.pi * y)).reshape(1, 1, 32, 32)
    nu = torch.tensor([0.01, 0.1, 1.0], dtype=torch.float64)
    w = s.advance(mode.expand(3, -1, -1, -1), {"nu": nu}, 0.05)
    for i in range(3):
        exact = math.exp(-2 * float(nu[i]) * (20 * math.pi) ** 2 * 0.05) * mode[0]
        assert float((w[i] - exact).abs().max()) < 1e-12, float(nu[i])
    w0, _ = s.sample(2, seed=0, dtype=torch.float64)
    w0 = w0 + mode
    p = {"nu": torch.full((2,), 0.1, dtype=torch.float64)}
    ref = NavierStokes2D(n=32, forcing="none", dt=1e-4).advance(w0, p, 0.05)
    got = s.advance(w0, p, 0.05)
    assert float((got - ref).abs().max() / ref.abs().max()) < 1e-4


def test_dealiasing_is_the_two_thirds_rule():
    """The advection term keeps exactly the modes with 3|k| < n per axis (spectral.dealias_mask;
    at n = 48, 496 modes: it kept |k| <= n/3, 561 modes, whose products alias onto kept modes)
    and equals, on a random field, the alias-free product of the masked field computed on a 2n
    grid and masked again (to 1e-12 relative)."""
    n = 48
    s = NavierStokes2D(n=n, forcing="none")
    w = torch.randn(1, 1, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sp, _ = s._spectral(w)
    mask = dealias_mask((n, n))
    assert int(sp.keep.sum()) == int(mask.sum()) == 496
    got = s._advection_hat(torch.fft.rfft2(w[:, 0]), sp)
    # reference: masked field zero-padded onto a 2n grid, where the product cannot alias
    big = NavierStokes2D(n=2 * n, forcing="none")
    w_hat = torch.fft.rfft2(w[:, 0]) * mask
    pad = torch.zeros(1, 2 * n, n + 1, dtype=w_hat.dtype)
    pad[:, : n // 2, : n // 2 + 1] = w_hat[:, : n // 2]
    pad[:, -n // 2:, : n // 2 + 1] = w_hat[:, -n // 2:]
    ux, uy = big.velocity(torch.fft.irfft2(pad * 4, s=(2 * n, 2 * n)).unsqueeze(1))
    wb = torch.fft.irfft2(pad * 4, s=(2 * n, 2 * n))
    spb, _ = big._spectral(wb)
    flux = (spb.dx * torch.fft.rfft2(ux * wb) + spb.dy * torch.fft.rfft2(uy * wb)) / 4
    want = torch.cat([flux[:, : n // 2, : n // 2 + 1], flux[:, -n // 2:, : n // 2 + 1]], 1) * mask
    assert float((got - want).abs().max() / want.abs().max()) < 1e-12


def test_velocity_and_advection_match_analytic():
    """w0 = sin(2 pi x) + cos(4 pi y): u_x = -sin(4 pi y)/(4 pi), u_y = -cos(2 pi x)/(2 pi)
    (to 1e-12), and u . grad w = 1.5 cos(2 pi x) sin(4 pi y), so over tau = 1e-4 (10 small
    steps) (w(tau) - w0)/tau = -u.grad w + nu lap w0 + f to 1e-3 (O(tau) error)."""
    s = NavierStokes2D(n=32, forcing="fno", dt=1e-5)
    x, y = mesh(s)
    w0 = (torch.sin(2 * math.pi * x) + torch.cos(4 * math.pi * y)).reshape(1, 1, 32, 32)
    ux, uy = s.velocity(w0)
    assert torch.allclose(ux[0], -torch.sin(4 * math.pi * y) / (4 * math.pi) + 0 * x, atol=1e-12)
    assert torch.allclose(uy[0], -torch.cos(2 * math.pi * x) / (2 * math.pi) + 0 * y, atol=1e-12)
    nu, tau = 1e-3, 1e-4
    w = s.advance(w0, {"nu": torch.tensor([nu], dtype=torch.float64)}, tau)
    adv = 1.5 * torch.cos(2 * math.pi * x) * torch.sin(4 * math.pi * y)
    lap = -(2 * math.pi) ** 2 * torch.sin(2 * math.pi * x) - (4 * math.pi) ** 2 * torch.cos(
        4 * math.pi * y)
    f = 0.1 * (torch.sin(2 * math.pi * (x + y)) + torch.cos(2 * math.pi * (x + y)))
    rate = (w[0, 0] - w0[0, 0]) / tau
    want = -adv + nu * lap + f
    assert float((rate - want).abs().max() / want.abs().max()) < 1e-3


def test_second_order_in_time():
    """Self-convergence of a nonlinear forced flow (n = 32, sines IC, t = 0.5) with dt = 1/20,
    1/40, 1/80, 1/160 against dt = 1/640: fitted slope of log error vs log dt in [1.8, 2.3]."""
    base = NavierStokes2D(n=32, ic="sines", forcing="fno")
    w0, p = base.sample(2, seed=3, dtype=torch.float64)
    p = {"nu": torch.full((2,), 1e-3, dtype=torch.float64)}
    ref = NavierStokes2D(n=32, ic="sines", dt=1 / 640).advance(w0, p, 0.5)
    dts = [1 / 20, 1 / 40, 1 / 80, 1 / 160]
    errs = [float((NavierStokes2D(n=32, ic="sines", dt=dt).advance(w0, p, 0.5) - ref).abs().max())
            for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 1.8 <= slope <= 2.3, (slope, errs)


def test_auto_dt_follows_cfl():
    """An energetic flow (sines IC x 50, max|u| ~ 4.4, n = 32) over t = 0.2: the automatic
    step (CFL 0.25, dt ~ 1.8e-3) stays within 5e-2 (relative max) of a dt = 2e-4 run, while the
    same run without the CFL limit (cfl = 100, so dt = dt_max = 1e-2) blows up: advance raises
    SolverDivergedError (it used to return the NaN or |u| > 1e6 state)."""
    s = NavierStokes2D(n=32, ic="sines", forcing="none")
    w0, _ = s.sample(2, seed=1, dtype=torch.float64)
    w0 = 50 * w0
    p = {"nu": torch.full((2,), 1e-3, dtype=torch.float64)}
    ref = NavierStokes2D(n=32, forcing="none", dt=2e-4).advance(w0, p, 0.2)
    err = lambda w: float((w - ref).abs().max() / ref.abs().max())  # noqa: E731
    assert err(s.advance(w0, p, 0.2)) < 5e-2
    with pytest.raises(SolverDivergedError, match=r"navier_stokes2d: sample \d diverged at t="):
        NavierStokes2D(n=32, forcing="none", cfl=100.0).advance(w0, p, 0.2)


def test_fno_forcing_run_finite_and_deterministic():
    """FNO setup (GRF IC, FNO forcing, auto dt) at n = 32: same seed gives bit-identical
    samples and trajectories, other seed differs; output finite, float32 kept, mean vorticity
    stays 0 (to 1e-5: the forcing and the advection term have zero mean)."""
    s = NavierStokes2D(n=32)
    u0, p = s.sample(3, seed=7)
    u1, p1 = s.sample(3, seed=7)
    u2, _ = s.sample(3, seed=8)
    assert u0.shape == (3, 1, 32, 32) and u0.dtype == torch.float32
    assert torch.equal(u0, u1) and torch.equal(p["nu"], p1["nu"]) and not torch.equal(u0, u2)
    assert ((p["nu"] >= 1e-4) & (p["nu"] <= 1e-3)).all()
    traj = s.solve(u0, p, [0.0, 0.5, 1.0])
    again = s.solve(u1, p1, [0.0, 0.5, 1.0])
    assert traj.shape == (3, 3, 1, 32, 32) and traj.dtype == torch.float32
    assert torch.isfinite(traj).all() and torch.equal(traj, again)
    assert float(traj.mean(dim=(-1, -2)).abs().max()) < 1e-5
    assert not torch.allclose(traj[:, 2], traj[:, 0])


def test_validation():
    """Bad constructor arguments and non-positive nu are ValueErrors; a non-finite state is a
    SolverDivergedError, never NaN output."""
    with pytest.raises(ValueError, match="even int"):
        NavierStokes2D(n=33)
    with pytest.raises(ValueError, match="forcing"):
        NavierStokes2D(forcing="kolmogorov")
    with pytest.raises(ValueError, match="ic"):
        NavierStokes2D(ic="zero")
    with pytest.raises(ValueError, match="dt"):
        NavierStokes2D(dt=0.0)
    s = NavierStokes2D(n=8)
    u = torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError, match="nu must be positive"):
        s.advance(u, {"nu": torch.tensor([1e-3, 0.0])}, 0.1)
    u[1, 0, 2, 2] = float("nan")
    with pytest.raises(SolverDivergedError):
        s.advance(u, {"nu": torch.tensor([1e-3, 1e-3])}, 0.1)


def test_divergence_names_the_time_it_was_detected():
    """A divergence found inside advance names a real time (it used to say t=nan): 0 for a NaN
    state given to advance (its input check); for a NaN appearing in the 2nd of 5 steps
    (dt = dt_max = 0.01) of solve's 2nd advance, the 3rd step's check at t = 0.1 + 0.02."""
    s = NavierStokes2D(n=8, forcing="none", dt_max=0.01, recheck=1)
    u = torch.zeros(2, 1, 8, 8, dtype=torch.float64)
    nu = {"nu": torch.full((2,), 1e-3, dtype=torch.float64)}
    bad = u.clone()
    bad[1, 0, 2, 2] = math.nan
    with pytest.raises(SolverDivergedError, match=r"sample 1 diverged at t=0 \(NaN/Inf\)"):
        s.advance(bad, nu, 0.1)
    calls, advection = [0], s._advection_hat

    def poisoned(w_hat, sp):  # NaN in sample 1 from the 2nd step of the 2nd advance on
        calls[0] += 1
        out = advection(w_hat, sp)
        if calls[0] > 20 + 2:
            out[1] = math.nan
        return out

    s._advection_hat = poisoned
    with pytest.raises(SolverDivergedError, match="non-finite velocity") as err:
        s.solve(u, nu, [0.1, 0.15])
    assert err.value.sample == 1 and err.value.time == pytest.approx(0.12)
