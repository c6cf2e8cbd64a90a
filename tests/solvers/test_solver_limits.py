"""Solvers pushed past their limits: under-resolved fronts, unstable fixed steps, tiny steps,
extreme coefficients. Each either refuses with an error naming what to change, warns that the
result is wrong, or does the job; none returns a wrong result silently or hangs."""

import math
import time
import warnings

import pytest
import torch

from pdesurrogate.solvers import Advection1D, Burgers1D, Darcy2D, SolverDivergedError, make_solver
from pdesurrogate.solvers.darcy import darcy_operator


def burgers_sine(n: int, nu: float, t: float = 0.5) -> tuple[torch.Tensor, list[str]]:
    """Burgers from u0 = sin(2πx) on n points to time t (float64), and the warnings raised."""
    s = Burgers1D(n_points=n, nu_range=(nu, nu))
    u0 = torch.sin(2 * math.pi * s.grid[0]).reshape(1, 1, -1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        u = s.solve(u0, {"nu": torch.tensor([nu], dtype=torch.float64)}, [0.0, t])
    return u[0, -1, 0], [str(w.message) for w in caught if w.category is RuntimeWarning]


def test_burgers_under_resolved_shock_warns():
    """ν = 1e-3 on 16 points overshoots (max|u| 1.1 from 1), on 32 points holds 20 % of its
    energy in the top third of its modes; both are off by 0.7-1 from a 1024-point run, and
    RuntimeWarnings say so, naming the sample, ν, n_points and what to change. ν = 3e-3 on 256
    points, within 1e-3 of the fine run, stays silent (it used to be silent in all three)."""
    nu = 1e-3
    ref, quiet = burgers_sine(1024, nu)
    assert not quiet
    coarse, said = burgers_sine(16, nu)
    assert (coarse - ref[::64]).abs().max() > 0.5
    grew = [m for m in said if "max|u| grew" in m]
    assert len(grew) == 1 and "sample 0 (nu=0.001)" in grew[0] and "n_points=16" in grew[0]
    assert "raise n_points" in grew[0]
    coarse, said = burgers_sine(32, nu)
    assert (coarse - ref[::32]).abs().max() > 0.5
    assert len(said) == 1 and "sample 0 (nu=0.001) holds 20% of its energy" in said[0]
    assert "n_points=32 does not resolve it" in said[0]
    ref, _ = burgers_sine(1024, 3e-3)
    fine, said = burgers_sine(256, 3e-3)
    assert (fine - ref[::4]).abs().max() < 1e-3 and not said


def test_ks_under_resolved_warns():
    """KS on L = 64 with 32 points (the shipped config has 256) piles energy at the cut-off and
    grows to max|u| > 100, where 256 points stay near 3; it used to pass silently, now a
    RuntimeWarning says n_points=32 does not resolve it. 256 points stay silent."""
    def run(n):
        s = make_solver("ks1d", n_points=n, length=64.0)
        x = s.grid[0].reshape(1, 1, -1)
        u0 = torch.cos(2 * math.pi * x / 64) + 0.5 * torch.sin(6 * math.pi * x / 64 + 1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            u = s.solve(u0, {"nu": 1.0}, [0.0, 25.0, 50.0])
        return u, [str(w.message) for w in caught if w.category is RuntimeWarning]
    fine, quiet = run(256)
    coarse, said = run(32)
    assert not quiet and fine.abs().max() < 5 and coarse.abs().max() > 20
    assert len(said) == 1 and "n_points=32 does not resolve it" in said[0]


@pytest.mark.parametrize("scheme", ["etdrk4", "imex"])
def test_burgers_unstable_fixed_step_raises(scheme):
    """A fixed dt = 10 on 64 points (Courant number ~600) used to return a field with max|u|
    123 (etdrk4) or 6.5 (imex) from 0.98, silently; max|u| cannot grow, so it is a divergence
    naming the growth, ν and what to change."""
    s = Burgers1D(n_points=64, nu_range=(0.01, 0.01), dt=10.0, scheme=scheme)
    u0, p = s.sample(2, seed=0)
    with pytest.raises(SolverDivergedError, match=r"max\|u\| grew .* with nu=0.01; .*lower cfl"):
        s.solve(u0, p, [0.0, 1.0])


def test_divergence_names_parameters_and_fix():
    """A KS run with ν = 1e-3 (modes up to k = 1/√ν unstable, past the grid) blows up; the
    error used to name only the sample and time, now also its ν and what to change."""
    s = make_solver("ks1d", n_points=64, nu_range=(1e-3, 1e-3))
    u0, p = s.sample(2, seed=0)
    with pytest.raises(SolverDivergedError) as e:
        s.solve(u0, p, [0.0, 10.0])
    assert e.value.params == {"nu": pytest.approx(1e-3)}
    assert "with nu=0.001; lower dt" in str(e.value) and "raise n_points" in str(e.value)


def test_advection_tiny_fixed_step_costs_nothing():
    """dt = 1e-8 over 0.01 (1e6 steps) took ~6 s in a loop over the steps (dt = 1e-12 over 1
    never ended) and drifted by round-off; it is now the exact shift, as dt=None gives."""
    u0, p = Advection1D(n_points=64).sample(2, seed=0, dtype=torch.float64)
    start = time.perf_counter()
    tiny = Advection1D(n_points=64, dt=1e-8).advance(u0, p, 0.01)
    assert time.perf_counter() - start < 1.0
    assert (tiny - Advection1D(n_points=64).advance(u0, p, 0.01)).abs().max() < 1e-12


@pytest.mark.parametrize("name, key, bad", [("advection1d", "beta_range", (1.0, 1e300)),
                                            ("advection1d", "beta_range", (-1e300, 1.0)),
                                            ("burgers1d", "nu_range", (1.0, 1e300)),
                                            ("darcy2d", "a_pos_range", (1.0, 1e300))])
def test_range_past_float32_is_refused_at_construction(name, key, bad):
    """A range reaching 1e300 (or -1e300) was accepted, drawn in float32 as inf and refused
    at the solve as "parameter ... has non-finite values"; it is refused when the solver is
    built, naming the range and the limit."""
    with pytest.raises(ValueError, match=rf"{key} must lie within ±3\.403e\+38"):
        make_solver(name, **{key: bad})


@pytest.mark.parametrize("name, key", [("burgers1d", "nu_range"), ("darcy2d", "a_pos_range")])
def test_positive_range_below_float32_is_refused_at_construction(name, key):
    """A positive range from 1e-50 was accepted, drawn in float32 as 0 and refused at the
    solve as "parameter ... must be positive, got [0.0, 0.0]"; it is refused when the solver
    is built, naming the range and the limit."""
    with pytest.raises(ValueError, match=rf"{key} must be at least 1\.175e-38"):
        make_solver(name, **{key: (1e-50, 1.0)})


@pytest.mark.parametrize("a_pos, a_neg", [(2e6, 1.0), (1.0, 1e-8)])
def test_darcy_extreme_coefficients_are_solved(a_pos, a_neg):
    """A coefficient above 1e6, or a pressure above it (u ~ 1/a_neg), used to be refused as
    "diverged at t=0 (|u| > 1e+06)"; both are solved to the requested residual."""
    s = Darcy2D(n=8, a_pos_range=(a_pos, a_pos), a_neg_range=(a_neg, a_neg), tuner="fixed")
    u0, p = s.sample(2, seed=0, dtype=torch.float64)
    out = s.solve(u0, p, [0.0])[:, 0]
    resid = darcy_operator(out[:, 0], s.h).apply(out[:, 1]) - 1
    assert float(resid.norm() / math.sqrt(resid.numel())) < 1e-6


@pytest.mark.parametrize("name, kwargs, t_end, n_times", [
    ("burgers1d", {"n_points": 1024, "nu_range": (0.01, 0.1)}, 1.0, 21),
    ("ks1d", {"n_points": 256, "length": 64.0, "nu_range": (0.8, 1.2)}, 100.0, 101),
])
def test_shipped_configs_stay_silent(name, kwargs, t_end, n_times):
    """The solvers of configs/data/burgers1d.yaml and ks1d.yaml, 4 samples over their saved
    times: no growth or resolution warning (measured: max|u| falls to 0.96 of its start at
    most; energy share in the top third 2e-7 and 2e-13)."""
    s = make_solver(name, **kwargs)
    u0, p = s.sample(4, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        s.solve(u0, p, [t_end * i / (n_times - 1) for i in range(n_times)])


def _runtime_warnings(solver, u0, nu, times) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        solver.solve(u0, {"nu": torch.tensor(nu, dtype=torch.float64)}, times)
    return [str(w.message) for w in caught if w.category is RuntimeWarning]


@pytest.mark.parametrize("n, said", [(16, "max|u| grew"), (32, "of its energy")])
def test_warnings_name_the_sample_that_is_wrong(n, said):
    """Of a batch whose sample 0 (ν = 0.2) is resolved and sample 1 (ν = 1e-3) is not, the
    growth (16 points) and resolution (32 points) warnings name sample 1 and its ν."""
    s = Burgers1D(n_points=n, nu_range=(1e-3, 0.2))
    u0 = torch.sin(2 * math.pi * s.grid[0]).reshape(1, 1, -1).repeat(2, 1, 1).double()
    msgs = [m for m in _runtime_warnings(s, u0, [0.2, 1e-3], [0.0, 0.5]) if said in m]
    assert len(msgs) == 1 and "sample 1 (nu=0.001)" in msgs[0]


def test_resolution_ignores_the_mean():
    """Burgers is Galilean invariant: 3 + sin(2πx) is the 32-point under-resolved run of
    test_burgers_under_resolved_shock_warns moved along, with the same 20 % of the energy of
    its modes 1.. in the top third; its mean (mode 0, 36x that energy) hides nothing."""
    s = Burgers1D(n_points=32, nu_range=(1e-3, 1e-3))
    u0 = (3 + torch.sin(2 * math.pi * s.grid[0])).reshape(1, 1, -1).double()
    msgs = _runtime_warnings(s, u0, [1e-3], [0.0, 0.5])
    assert any("holds 20% of its energy" in m for m in msgs), msgs


def test_growth_spread_over_many_frames_warns():
    """Saved every 0.002 to t = 2 (16 points, ν = 1e-3), no single step grows max|u| by 1 %,
    but it peaks at 1.31x its start (t ≈ 0.26) and has fallen to 0.73 by t = 2: the growth
    is measured over the whole run, against u0, at its peak."""
    s = Burgers1D(n_points=16, nu_range=(1e-3, 1e-3))
    u0 = torch.sin(2 * math.pi * s.grid[0]).reshape(1, 1, -1).double()
    msgs = _runtime_warnings(s, u0, [1e-3], [2.0 * i / 1000 for i in range(1001)])
    grew = [m for m in msgs if "max|u| grew" in m]
    assert len(grew) == 1 and "grew 1.31x" in grew[0] and "between t=0 and t=2," in grew[0]


def test_a_zero_sample_is_not_growth():
    """u0 = 0 stays 0 (max|u| 0 -> 0 is no growth, not 0/0) beside a resolved sample."""
    s = Burgers1D(n_points=256, nu_range=(3e-3, 3e-3))
    u0 = torch.sin(2 * math.pi * s.grid[0]).reshape(1, 1, -1).repeat(2, 1, 1).double()
    u0[0] = 0
    assert _runtime_warnings(s, u0, [3e-3, 3e-3], [0.0, 0.5]) == []


def test_divergence_names_the_diverging_samples_parameters():
    """Of KS samples ν = 1 (stable on 64 points) and ν = 1e-3 (blows up), the error names
    sample 1 and its ν."""
    s = make_solver("ks1d", n_points=64, nu_range=(1e-3, 1.0))
    u0, _ = s.sample(2, seed=0)
    with pytest.raises(SolverDivergedError) as e:
        s.solve(u0, {"nu": torch.tensor([1.0, 1e-3])}, [0.0, 10.0])
    assert e.value.sample == 1 and e.value.params == {"nu": pytest.approx(1e-3)}
    assert "sample 1 " in str(e.value) and "with nu=0.001;" in str(e.value)


def test_growth_inside_a_run_names_no_wrong_times():
    """Growth found within one advance of a longer run (saved every 0.1, or every fixed step
    of 0.2) is told as the time it took, not as "between t=0 and t=0.1" (the advance's own
    clock), which named the wrong times when it happened later; the error's own "at t=" is
    the time since t = 0."""
    s = Burgers1D(n_points=16, nu_range=(1e-3, 1e-3))
    u0 = torch.sin(2 * math.pi * s.grid[0]).reshape(1, 1, -1).double()
    msgs = _runtime_warnings(s, u0, [1e-3], [0.1 * i for i in range(6)])
    grew = [m for m in msgs if "max|u| grew" in m]
    assert len(grew) == 1 and "over 0.1 of simulated time" in grew[0], msgs
    assert "between t=0 and" not in grew[0]
    s = Burgers1D(n_points=64, nu_range=(0.01, 0.01), dt=0.2, scheme="imex")
    u0, p = s.sample(1, seed=0)
    with pytest.raises(SolverDivergedError) as e, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the growth under 2x before it
        s.solve(u0, p, [0.2 * i for i in range(10)])
    assert e.value.time > 0.2 and "over 0.2 of simulated time" in str(e.value), str(e.value)
    assert f"diverged at t={e.value.time:.6g} " in str(e.value)


def test_growth_past_2x_over_the_run_names_the_parameters():
    """A fixed dt = 0.14 (imex, 64 points) grows max|u| 3x over 9 saved steps, none of them
    2x: the divergence is found over the whole run, and names ν as every other does (it
    named none)."""
    s = Burgers1D(n_points=64, nu_range=(0.01, 0.01), dt=0.14, scheme="imex")
    u0, p = s.sample(1, seed=0)
    with pytest.raises(SolverDivergedError) as e, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the growth under 2x of each step
        s.solve(u0, p, [0.14 * i for i in range(10)])
    assert "between t=0 and t=1.26" in str(e.value) and "with nu=0.01;" in str(e.value)
    assert e.value.params == {"nu": pytest.approx(0.01)}
