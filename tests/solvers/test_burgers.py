"""Burgers1D: Cole–Hopf exact solution, temporal orders of both schemes, sampling, errors."""

import math

import numpy as np
import pytest
import torch

from pdesurrogate.solvers.base import SolverDivergedError
from pdesurrogate.solvers.burgers import Burgers1D

# φ = 1.6 + cos(2πx) + 0.4 cos(4πx) at t = 0 solves the heat equation φ_t = ν φ_xx mode by mode,
# stays positive, and u = −2ν φ_x / φ solves u_t + u u_x = ν u_xx (Cole–Hopf); max|u| ≈ 0.57
# for ν = 0.05, analytic, so 64 points resolve it to round-off.
MODES = ((1, 1.0), (2, 0.4))


def cole_hopf(x: torch.Tensor, t: float, nu: torch.Tensor) -> torch.Tensor:
    """Exact u(x, t) on [0, 1), shape (len(nu), 1, len(x))."""
    nu = nu.reshape(-1, 1, 1)
    phi = torch.full_like(x * nu, 1.6)
    phix = torch.zeros_like(phi)
    for m, c in MODES:
        q = 2 * math.pi * m
        decay = torch.exp(-nu * q**2 * t)
        phi = phi + c * decay * torch.cos(q * x)
        phix = phix - c * q * decay * torch.sin(q * x)
    return -2 * nu * phix / phi


def error(scheme: str, nu: torch.Tensor, t: float = 1.0, dt: float | None = None, n: int = 64):
    s = Burgers1D(n_points=n, scheme=scheme, dt=dt)
    x = s.grid[0]
    u = s.advance(cole_hopf(x, 0.0, nu), {"nu": nu}, t)
    return (u - cole_hopf(x, t, nu)).abs().max().item()


def slope(dts, errs) -> float:
    return float(np.polyfit(np.log(dts), np.log(errs), 1)[0])


def test_cole_hopf_etdrk4_batch():
    """ETDRK4 with the automatic (CFL) step matches Cole–Hopf at t = 1 to < 1e-8 (max norm) for a
    batch of ν = (0.05, 0.1, 0.05): per-sample operators, repeated ν included."""
    nu = torch.tensor([0.05, 0.1, 0.05], dtype=torch.float64)
    assert error("etdrk4", nu) < 1e-8


def test_cole_hopf_imex():
    """IMEX ARS(2,2,2) with the automatic step matches Cole–Hopf at t = 1 to < 5e-5."""
    assert error("imex", torch.tensor([0.05, 0.1], dtype=torch.float64)) < 5e-5


def test_temporal_order_etdrk4():
    """ETDRK4 error vs Cole–Hopf at dt = 0.1, 0.05, 0.025 (space exact to round-off) falls with
    fitted slope in [3.6, 4.4] (design order 4)."""
    nu = torch.tensor([0.05], dtype=torch.float64)
    dts = [0.1, 0.05, 0.025]
    errs = [error("etdrk4", nu, dt=dt) for dt in dts]
    assert 3.6 <= slope(dts, errs) <= 4.4, errs


def test_temporal_order_imex():
    """IMEX ARS(2,2,2) error vs Cole–Hopf at dt = 0.1, 0.05, 0.025 falls with fitted slope in
    [1.8, 2.3] (design order 2)."""
    nu = torch.tensor([0.05], dtype=torch.float64)
    dts = [0.1, 0.05, 0.025]
    errs = [error("imex", nu, dt=dt) for dt in dts]
    assert 1.8 <= slope(dts, errs) <= 2.3, errs


def test_float32_keeps_dtype_and_accuracy():
    """float32 in, float32 out, within 1e-5 of Cole–Hopf at t = 0.5 (both schemes)."""
    nu = torch.tensor([0.05, 0.08])
    for scheme, tol in (("etdrk4", 1e-5), ("imex", 5e-5)):
        s = Burgers1D(n_points=64, scheme=scheme)
        x = s.grid[0]
        u = s.advance(cole_hopf(x, 0.0, nu.double()).float(), {"nu": nu}, 0.5)
        assert u.dtype == torch.float32
        assert (u.double() - cole_hopf(x, 0.5, nu.double())).abs().max() < tol


def test_sample_deterministic_and_shapes():
    """sample: same seed -> identical u0 and ν, other seed -> different; ν within nu_range;
    shapes (n, 1, nx) / (n,); solve gives (n, T, 1, nx)."""
    for ic in ("grf", "sines"):
        s = Burgers1D(n_points=32, nu_range=(0.02, 0.08), ic=ic)
        u0, p = s.sample(3, seed=11)
        u1, p1 = s.sample(3, seed=11)
        u2, p2 = s.sample(3, seed=12)
        assert u0.shape == (3, 1, 32) and p["nu"].shape == (3,)
        assert torch.equal(u0, u1) and torch.equal(p["nu"], p1["nu"])
        assert not torch.equal(u0, u2) and not torch.equal(p["nu"], p2["nu"])
        assert ((p["nu"] >= 0.02) & (p["nu"] <= 0.08)).all()
        traj = s.solve(u0, p, torch.tensor([0.0, 0.05, 0.1]))
        assert traj.shape == (3, 3, 1, 32) and traj.dtype == torch.float32


def test_grf_variance():
    """The "grf" field has the FNO covariance 625(−Δ+25)^−2 on [0, 1): pointwise variance
    sum_{k≠0} 625 (4π²k² + 25)^−2 ≈ 0.35 matched within 10% over 400 samples, and the ratio of
    the mean energies of modes 1 and 3 within 25% of the predicted ((36π²+25)/(4π²+25))²."""
    s = Burgers1D(n_points=128)
    u0, _ = s.sample(400, seed=0, dtype=torch.float64)
    k = torch.arange(1, 64, dtype=torch.float64)
    lam = 625 * (4 * math.pi**2 * k**2 + 25) ** -2.0
    want = 2 * lam.sum() + 625 * (4 * math.pi**2 * 64**2 + 25) ** -2.0
    assert abs(u0.var(dim=-1, correction=0).mean() / want - 1) < 0.1
    energy = (torch.fft.rfft(u0[:, 0]).abs() ** 2).mean(dim=0)
    assert abs((energy[1] / energy[3]) / (lam[0] / lam[2]) - 1) < 0.25


def test_huge_dt_diverges():
    """A forced step of 1 on a large-amplitude field (CFL ≈ 6000) makes solve raise
    SolverDivergedError naming the solver, never return NaN."""
    s = Burgers1D(n_points=64, dt=1.0, nu_range=(0.01, 0.01))
    u0, p = s.sample(2, seed=0, dtype=torch.float64)
    with pytest.raises(SolverDivergedError, match="burgers1d"):
        s.solve(100 * u0, p, [1.0, 2.0])


def test_nonfinite_state_is_raised_in_advance():
    """advance raises for a NaN state at t = 0 (it used to return it unchanged, leaving the
    report to solve), as solve does; also for a zero duration."""
    s = Burgers1D(n_points=16)
    u = torch.zeros(2, 1, 16)
    u[1, 0, 3] = math.nan
    p = {"nu": torch.tensor([0.05, 0.05])}
    for duration in (0.1, 0.0):
        with pytest.raises(SolverDivergedError, match=r"sample 1 diverged at t=0 \(NaN"):
            s.advance(u, p, duration)
    with pytest.raises(SolverDivergedError) as err:
        s.solve(u, p, [0.1])
    assert err.value.sample == 1


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"n_points": 4}, "n_points"),
        ({"n_points": 31}, "n_points"),
        ({"n_points": 32.0}, "n_points"),
        ({"nu_range": (0.0, 0.1)}, "nu_range"),
        ({"nu_range": (-0.1, 0.1)}, "nu_range"),
        ({"ic": "bump"}, "ic"),
        ({"scheme": "rk4"}, "scheme"),
        ({"dt": 0.0}, "dt"),
        ({"cfl": -1.0}, "cfl"),
        ({"length": -1.0}, "length"),
    ],
)
def test_bad_arguments(kwargs, word):
    """Invalid constructor arguments raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=word):
        Burgers1D(**kwargs)


def test_bad_nu_at_advance():
    """Negative or zero ν passed to advance raises ValueError naming 'nu'."""
    s = Burgers1D(n_points=16)
    u = torch.zeros(2, 1, 16)
    for bad in ([0.1, -0.1], [0.0, 0.1]):
        with pytest.raises(ValueError, match="nu"):
            s.advance(u, {"nu": torch.tensor(bad)}, 0.1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    """On CUDA the result stays on the device, keeps float32/float64 and matches the CPU run
    (1e-10 in float64, 1e-4 in float32), both schemes."""
    for scheme in ("etdrk4", "imex"):
        s = Burgers1D(n_points=128, scheme=scheme)
        for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
            u0, p = s.sample(4, seed=0, dtype=dtype)
            cpu = s.advance(u0, p, 0.1)
            gpu = s.advance(u0.cuda(), {"nu": p["nu"].cuda()}, 0.1)
            assert gpu.is_cuda and gpu.dtype == dtype
            assert (gpu.cpu() - cpu).abs().max() < tol
