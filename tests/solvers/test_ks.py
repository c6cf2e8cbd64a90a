"""KS1D: fourth-order ETDRK4 convergence, agreement with an independent integrator, sampling."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from pdesurrogate.solvers.base import SolverDivergedError
from pdesurrogate.solvers.ks import KS1D


def smooth_ic(s: KS1D) -> torch.Tensor:
    x = s.grid[0]
    w = 2 * math.pi / s.length
    return (torch.cos(w * x) * (1 + torch.sin(w * x))).reshape(1, 1, -1)


def test_fourth_order_in_time():
    """Self-convergence at t = 10 (n = 32, L = 32, ν = 1, float64): errors at dt = 0.1, 0.05,
    0.025 against dt = 0.1/16 have fitted slope in [3.5, 4.6] (design order 4)."""
    nu = {"nu": torch.tensor([1.0], dtype=torch.float64)}
    u0 = smooth_ic(KS1D(n_points=32, length=32.0))
    ref = KS1D(n_points=32, length=32.0, dt=0.1 / 16).advance(u0, nu, 10.0)
    dts = [0.1, 0.05, 0.025]
    errs = [(KS1D(n_points=32, length=32.0, dt=dt).advance(u0, nu, 10.0) - ref).abs().max().item()
            for dt in dts]
    slope = float(np.polyfit(np.log(dts), np.log(errs), 1)[0])
    assert 3.5 <= slope <= 4.6, errs


@pytest.mark.parametrize("dealias", [True, False])
def test_matches_method_of_lines_reference(dealias):
    """The same semi-discretisation (u_t = −½∂x(u²) − u_xx − ν u_xxxx, spectral derivatives,
    optional 2/3 rule) integrated by scipy's DOP853 at rtol 1e-11 agrees with ETDRK4 (dt = 0.02)
    at t = 8 to < 1e-7, ν = 0.9: checks the equation's signs and the solver's algebra."""
    n, length, nu, t_end = 32, 32.0, 0.9, 8.0
    s = KS1D(n_points=n, length=length, dt=0.02, dealias=dealias)
    u0 = smooth_ic(s)
    k = 2 * np.pi / length * np.fft.rfftfreq(n, 1.0 / n)
    kd = k.copy()
    kd[-1] = 0.0  # Nyquist derivative dropped, as in the solver
    keep = (3 * np.arange(n // 2 + 1) < n) if dealias else np.ones(n // 2 + 1, bool)

    def rhs(_, u):
        uh = np.fft.rfft(u)
        flux = -0.5j * kd * np.fft.rfft(np.fft.irfft(uh * keep, n) ** 2) * keep
        return np.fft.irfft(flux + (k**2 - nu * k**4) * uh, n)

    ref = solve_ivp(rhs, (0, t_end), u0[0, 0].numpy(), method="DOP853", rtol=1e-11, atol=1e-12)
    got = s.advance(u0, {"nu": torch.tensor([nu], dtype=torch.float64)}, t_end)[0, 0].numpy()
    assert np.abs(got - ref.y[:, -1]).max() < 1e-7


def test_per_sample_nu_matches_single_runs():
    """A batch with ν = (0.8, 1.2, 0.8) equals three single-sample runs to 1e-12 (per-sample
    operators gathered from the distinct ν values)."""
    s = KS1D(n_points=32, length=32.0)
    u0 = smooth_ic(s).expand(3, 1, -1).clone()
    nu = torch.tensor([0.8, 1.2, 0.8], dtype=torch.float64)
    batch = s.advance(u0, {"nu": nu}, 5.0)
    for i in range(3):
        single = KS1D(n_points=32, length=32.0).advance(u0[i:i + 1], {"nu": nu[i:i + 1]}, 5.0)
        assert (batch[i] - single[0]).abs().max() < 1e-12


def test_auto_step_on_the_attractor():
    """Default settings (n = 256, L = 64, automatic step) in float32 over t = 150 stay on the
    chaotic attractor: finite, float32, 1.5 < max|u| < 5 at the end (sine ICs grow from
    amplitude <= 3), and the spatial mean (conserved) stays within 1e-3 of its start."""
    s = KS1D()
    u0, p = s.sample(2, seed=5)
    traj = s.solve(u0, p, [75.0, 150.0])
    assert traj.dtype == torch.float32 and torch.isfinite(traj).all()
    amax = traj[:, -1].abs().amax().item()
    assert 1.5 < amax < 5.0
    assert (traj[:, -1].mean(dim=-1) - u0.mean(dim=-1)).abs().max() < 1e-3


def test_long_advance_rechecks_the_automatic_step():
    """From a small state (0.05 x the sines IC, n = 512, L = 64) the chaos develops within one
    advance of t = 30: the step, picked at 0.25 for the small start, must shrink as max|u|
    grows. One advance is within 2e-4 of a dt = 0.05 run and within 1e-4 of 30 frames one
    time unit apart (each re-picking the step); the step picked once at the start was 9.7e-4
    and 9.4e-4 off."""
    s = KS1D(n_points=512)
    u0, p = s.sample(2, seed=1, dtype=torch.float64)
    u0 = 0.05 * u0
    ref = KS1D(n_points=512, dt=0.05).advance(u0, p, 30.0)
    one = s.advance(u0, p, 30.0)
    frames = s.solve(u0, p, torch.linspace(0, 30, 31))[:, -1]
    assert float(ref.abs().max()) > 2  # on the attractor by then
    assert float((one - ref).abs().max()) < 2e-4
    assert float((one - frames).abs().max()) < 1e-4


def test_sample_deterministic_grf_variance_and_shapes():
    """sample: same seed -> identical, other seed -> different, ν in nu_range; the "grf" field
    has unit pointwise variance within 10% (300 samples); solve shape (n, T, 1, nx)."""
    for ic in ("sines", "grf"):
        s = KS1D(n_points=64, length=32.0, ic=ic)
        u0, p = s.sample(3, seed=1)
        u1, p1 = s.sample(3, seed=1)
        u2, _ = s.sample(3, seed=2)
        assert u0.shape == (3, 1, 64) and torch.equal(u0, u1) and torch.equal(p["nu"], p1["nu"])
        assert not torch.equal(u0, u2)
        assert ((p["nu"] >= 0.8) & (p["nu"] <= 1.2)).all()
        assert s.solve(u0, p, [0.0, 1.0, 2.0]).shape == (3, 3, 1, 64)
    u, _ = KS1D(n_points=64, length=32.0, ic="grf").sample(300, seed=0, dtype=torch.float64)
    assert abs(u.var(dim=-1, correction=0).mean().item() - 1.0) < 0.1


def test_huge_dt_diverges():
    """A forced step of 5 (20x the automatic one) blows up and solve raises
    SolverDivergedError naming ks1d."""
    s = KS1D(n_points=64, length=32.0, dt=5.0)
    u0, p = s.sample(2, seed=0, dtype=torch.float64)
    with pytest.raises(SolverDivergedError, match="ks1d"):
        s.solve(u0, p, [10.0, 50.0])


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"n_points": 10.5}, "n_points"),
        ({"n_points": 2}, "n_points"),
        ({"length": math.inf}, "length"),
        ({"nu_range": (0.0, 1.0)}, "nu_range"),
        ({"nu_range": (1.2, 0.8)}, "nu_range"),
        ({"ic": "noise"}, "ic"),
        ({"dt": math.nan}, "dt"),
        ({"dealias": "yes"}, "dealias"),
    ],
)
def test_bad_arguments(kwargs, word):
    """Invalid constructor arguments raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=word):
        KS1D(**kwargs)


def test_bad_nu_and_duration_at_advance():
    """ν <= 0 or a negative/NaN duration passed to advance raise ValueError naming them."""
    s = KS1D(n_points=16)
    u = torch.zeros(1, 1, 16)
    with pytest.raises(ValueError, match="nu"):
        s.advance(u, {"nu": torch.tensor([-1.0])}, 1.0)
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError, match="duration"):
            s.advance(u, {"nu": torch.tensor([1.0])}, bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    """On CUDA the result stays on the device and matches the CPU run to 1e-9 (float64, t = 5)."""
    s = KS1D(n_points=64, length=32.0)
    u0, p = s.sample(4, seed=0, dtype=torch.float64)
    cpu = s.advance(u0, p, 5.0)
    gpu = s.advance(u0.cuda(), {"nu": p["nu"].cuda()}, 5.0)
    assert gpu.is_cuda and (gpu.cpu() - cpu).abs().max() < 1e-9


def test_operators_are_built_once_per_step_size():
    """A solve steps with a few sizes in turn (each frame's pick, halvings inside an advance):
    each size's operators are built once and then come from the cache (n = 256, 40 frames:
    4 sizes, 4 builds; a one-entry cache rebuilt them 10 times)."""
    s = KS1D(n_points=256)
    u0, p = s.sample(2, seed=1, dtype=torch.float64)
    built = []
    make = s._operators
    s._operators = lambda *a, **k: built.append(a[1]) or make(*a, **k)
    s.solve(u0, p, torch.linspace(0, 40, 41))
    assert len(set(built)) > 1 and len(built) == len(set(built)), built
