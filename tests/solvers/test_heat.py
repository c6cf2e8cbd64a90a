"""Heat2D: exact eigenmode decay, orders in space and time, linear-solve logging and tuners."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pdesurrogate.solvers.base import SolverDivergedError
from pdesurrogate.solvers.heat import RECENT_STATES, Heat2D
from pdesurrogate.solvers.linear.tuners import ChebCB

F64 = torch.float64


def eigenmode(s: Heat2D) -> torch.Tensor:
    y, x = s.grid
    return (torch.sin(math.pi * y).reshape(-1, 1) * torch.sin(math.pi * x).reshape(1, -1))[
        None, None]


def constant(kappa: float, batch: int = 1) -> dict[str, torch.Tensor]:
    return {"kappa": torch.full((batch,), kappa, dtype=F64),
            "kappa_var": torch.zeros(batch, dtype=F64)}


def test_eigenmode_second_order_in_space():
    """sin(pi x) sin(pi y), kappa = 0.1, t = 0.5, CN with dt = h/10 (time error ~1 % of the
    space error): max error to exp(-2 pi^2 kappa t) over n = 8, 16, 32 has slope in [1.8, 2.3]
    in h, and is below 4e-3 on the coarsest grid."""
    hs, errs = [], []
    for n in (8, 16, 32):
        s = Heat2D(n=n, dt=0.1 / (n + 1), rtol=1e-12, omega=1.2)
        u0 = eigenmode(s)
        u = s.advance(u0, constant(0.1), 0.5)
        exact = u0 * math.exp(-2 * math.pi**2 * 0.1 * 0.5)
        hs.append(s.h), errs.append(float((u - exact).abs().max()))
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert 1.8 <= slope <= 2.3, (slope, errs)
    assert errs[0] < 4e-3


@pytest.mark.parametrize("scheme, lo, hi", [("cn", 1.8, 2.3), ("be", 0.8, 1.2)])
def test_order_in_time(scheme, lo, hi):
    """At fixed n = 16 the eigenmode is an exact eigenvector of the stencil with eigenvalue
    lam_h = 8 kappa sin^2(pi h / 2) / h^2, so the error to exp(-lam_h t) is pure time error:
    slope over dt = 0.1, 0.05, 0.025 (t = 0.4) in [1.8, 2.3] for CN, [0.8, 1.2] for BE."""
    dts, errs = [0.1, 0.05, 0.025], []
    for dt in dts:
        s = Heat2D(n=16, dt=dt, scheme=scheme, rtol=1e-13)
        u0 = eigenmode(s)
        lam_h = 8 * 0.1 * math.sin(math.pi * s.h / 2) ** 2 / s.h**2
        u = s.advance(u0, constant(0.1), 0.4)
        errs.append(float((u - u0 * math.exp(-lam_h * 0.4)).abs().max()))
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert lo <= slope <= hi, (slope, errs)


def test_order_in_time_through_solve_frames():
    """Frames one step apart (each advance a single Crank–Nicolson step, the pattern of solve and
    of the online loop u = advance(u, ...)) keep second order: the start-up runs once per
    trajectory, not once per advance. Same case as above; slope in [1.8, 2.3]; repeated
    advance of the returned state gives solve's frames exactly."""
    dts, errs = [0.1, 0.05, 0.025], []
    for dt in dts:
        s = Heat2D(n=16, dt=dt, rtol=1e-13, omega=1.5)
        u0 = eigenmode(s)
        lam_h = 8 * 0.1 * math.sin(math.pi * s.h / 2) ** 2 / s.h**2
        times = [dt * k for k in range(round(0.4 / dt) + 1)]
        traj = s.solve(u0, constant(0.1), times)
        errs.append(float((traj[:, -1] - u0 * math.exp(-lam_h * 0.4)).abs().max()))
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 1.8 <= slope <= 2.3, (slope, errs)
    u = u0
    for k in range(1, len(times)):
        u = s.advance(u, constant(0.1), times[k] - times[k - 1])
        assert torch.equal(u, traj[:, k])


@pytest.mark.parametrize("kappa", [10.0, 1000.0])
def test_stiff_eigenmode_decays_with_default_dt(kappa):
    """Crank–Nicolson at the default dt = h with kappa dt / h^2 >> 1: the eigenmode
    sin(pi x) sin(pi y) (n = 15) must decay like exp(-2 pi^2 kappa t) instead of flipping sign
    with an amplification near -1 (it kept |u| = 0.97 at kappa = 1000, t = 0.1, exact e^-1974).
    Max error to the exact solution at t = 0.05, 0.1 below 1e-2 (kappa = 10: one step per
    frame, lam dt ~ 10, so the step itself is too long for accuracy; CN alone left -0.66) and
    1e-7 (kappa = 1000); u never drops below -1e-2 (the data is positive)."""
    s = Heat2D(n=15, rtol=1e-12, omega=1.5)
    u0 = eigenmode(s)
    times = [0.0, 0.05, 0.1]
    traj = s.solve(u0, constant(kappa), times)
    for k, t in enumerate(times[1:], 1):
        exact = u0 * math.exp(-2 * math.pi**2 * kappa * t)
        err = float((traj[:, k] - exact).abs().max())
        assert err < (1e-2 if kappa == 10 else 1e-7), (t, err)
    assert float(traj.min()) > -1e-2


def test_start_up_after_an_in_place_edit_and_pickling_after_use():
    """An advance's output edited in place is a new initial state: a stiff mode added to it
    (kappa = 1000, t = 0.1) decays as it does from a fresh tensor. A solver that has advanced
    pickles (generate's spawn workers get copies), and its copy gives the same result."""
    import pickle

    s = Heat2D(n=15, rtol=1e-12, omega=1.5)
    u0 = eigenmode(s)
    u = s.advance(u0, constant(1000.0), 0.05)
    u.add_(u0)  # the stiff mode again, in the very tensor advance returned
    fresh = u.clone()
    edited = s.advance(u, constant(1000.0), 0.1)
    assert float(edited.abs().max()) < 1e-7
    copy = pickle.loads(pickle.dumps(s))
    assert torch.equal(copy.advance(fresh, constant(1000.0), 0.1), edited)


def test_variable_kappa_operator_second_order():
    """Truncation error of the face-midpoint stencil for kappa = 0.05 (1 + 0.5 sin sin) and
    u = sin(pi x) sin(2 pi y) x: max |L_h u - (-div(kappa grad u))| has slope in [1.8, 2.3] over
    n = 8, 16, 32 (second order also next to the boundary)."""
    k0, var = 0.05, 0.5
    hs, errs = [], []
    for n in (8, 16, 32):
        s = Heat2D(n=n)
        y, x = (g.reshape(-1, 1) if i == 0 else g.reshape(1, -1) for i, g in enumerate(s.grid))
        pi = math.pi
        u = torch.sin(pi * x) * torch.sin(2 * pi * y) * x
        ux = (pi * torch.cos(pi * x) * x + torch.sin(pi * x)) * torch.sin(2 * pi * y)
        uxx = (-pi**2 * torch.sin(pi * x) * x + 2 * pi * torch.cos(pi * x)) * torch.sin(2 * pi * y)
        uy = 2 * pi * torch.sin(pi * x) * torch.cos(2 * pi * y) * x
        uyy = -4 * pi**2 * u
        kap = k0 * (1 + var * torch.sin(pi * x) * torch.sin(pi * y))
        kx = k0 * var * pi * torch.cos(pi * x) * torch.sin(pi * y)
        ky = k0 * var * pi * torch.sin(pi * x) * torch.cos(pi * y)
        exact = -(kx * ux + ky * uy + kap * (uxx + uyy))
        st = s.operator(torch.tensor([k0], dtype=F64), torch.tensor([var], dtype=F64), u)
        hs.append(s.h), errs.append(float((st.apply(u[None]) - exact).abs().max()))
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert 1.8 <= slope <= 2.3, (slope, errs)


def test_gaussian_forcing_reaches_steady_state():
    """Backward Euler to t = 20 (kappa = 0.1: transients decay like e^{-40}) reaches the
    discrete steady state L u = f: relative residual below 1e-6, and u > 0 inside."""
    s = Heat2D(n=8, forcing="gaussian", scheme="be", dt=0.5, rtol=1e-12)
    u0, _ = s.sample(2, seed=0, dtype=F64)
    p = {"kappa": torch.tensor([0.1, 0.1], dtype=F64),
         "kappa_var": torch.tensor([0.0, 0.4], dtype=F64)}
    u = s.advance(u0, p, 20.0)[:, 0]
    f = s._forcing(u)
    lu = s.operator(p["kappa"], p["kappa_var"], u).apply(u)
    assert float((lu - f).abs().max() / f.abs().max()) < 1e-6
    assert (u > 0).all()


def test_sample_deterministic_and_in_range():
    """Same seed -> identical fields and parameters; kappa, kappa_var within their ranges;
    float32 in, float32 out; advance of a batch equals advancing each sample alone (1e-6)."""
    s = Heat2D(n=12)
    u0, p = s.sample(4, seed=11)
    u1, p1 = s.sample(4, seed=11)
    assert u0.shape == (4, 1, 12, 12) and u0.dtype == torch.float32
    assert torch.equal(u0, u1) and all(torch.equal(p[k], p1[k]) for k in p)
    assert ((p["kappa"] >= 0.01) & (p["kappa"] <= 0.1)).all()
    assert ((p["kappa_var"] >= 0) & (p["kappa_var"] <= 0.5)).all()
    u = s.advance(u0, p, 0.2)
    assert u.dtype == torch.float32 and torch.isfinite(u).all()
    one = s.advance(u0[2:3], {k: v[2:3] for k, v in p.items()}, 0.2)
    assert torch.allclose(u[2:3], one, atol=1e-6)


def test_sample_mode_amplitudes_scale_as_documented():
    """The initial field is sum a_ml sin(m pi x) sin(l pi y) with a_ml ~ N(0, 1) / (m^2 + l^2):
    projecting 4000 samples onto the discrete sine modes gives (m^2 + l^2) a_ml with variance 1
    (within 10 %) for every mode, and nothing past ic_modes."""
    n, modes = 10, 3
    s = Heat2D(n=n, ic_modes=modes)
    u, _ = s.sample(4000, seed=5, dtype=torch.float64)
    m = torch.arange(1, n + 1, dtype=torch.float64)
    # the sine vectors sin(m pi i h), i, m = 1..n, are orthogonal with squared norm (n + 1) / 2
    basis = torch.sin(math.pi * m.reshape(-1, 1) * s.grid[0].reshape(1, -1))  # (mode, node)
    a = torch.einsum("ly,byx,mx->blm", basis, u[:, 0], basis) / ((n + 1) / 2) ** 2
    scaled = a[:, :modes, :modes] * (m[:modes].reshape(-1, 1) ** 2 + m[:modes] ** 2)
    var = (scaled**2).mean(0)
    assert bool(((var - 1).abs() < 0.1).all()), var
    assert float(a[:, modes:, :].abs().max()) < 1e-10 and float(a[:, :, modes:].abs().max()) < 1e-10


class FakeTuner:
    """Records what the solver tells it; proposes omegas from a list, in turn."""

    def __init__(self, omegas):
        self.omegas, self.contexts, self.observed, self.converged = list(omegas), [], [], []

    def choose(self, context):
        self.contexts.append(context)
        return self.omegas[(len(self.contexts) - 1) % len(self.omegas)]

    def observe(self, iterations, converged):
        self.observed.append(iterations)
        self.converged.append(converged)


def test_tuner_protocol_and_stats():
    """One choose/observe pair per linear solve; the tuner's omega is used; the context is
    mean(kappa) theta dt / h^2 (the 4 backward-Euler start-up substeps: theta = 1, dt / 4;
    then 3 Crank–Nicolson steps); stats hold one entry per solve with the same iterations (and
    converged flag) the tuner observed; reset_linear_stats empties them."""
    tuner = FakeTuner([1.1, 1.6])
    s = Heat2D(n=10, dt=0.05, tuner=tuner)
    u0, p = s.sample(3, seed=2, dtype=F64)
    s.advance(u0, p, 0.2)
    assert len(s.linear_stats) == 7 == len(tuner.contexts) == len(tuner.observed)
    d = float(p["kappa"].mean()) * 0.5 * 0.05 / s.h**2
    assert tuner.contexts == pytest.approx([d / 2] * 4 + [d] * 3, rel=1e-12)
    assert [r["omega"] for r in s.linear_stats] == [1.1, 1.6, 1.1, 1.6, 1.1, 1.6, 1.1]
    assert [r["iterations"] for r in s.linear_stats] == tuner.observed
    assert [r["converged"] for r in s.linear_stats] == tuner.converged == [True] * 7
    for r in s.linear_stats:
        assert set(r) == {"omega", "iterations", "converged", "context", "residual"}
        assert r["converged"] and r["residual"] <= 1e-8 and r["iterations"] > 0
    # d ~ 0.15 here, where the optimal omega is ~1.04: 1.1 must beat 1.6 on every pair of
    # solves, which shows the tuner's omega is the one used
    its = tuner.observed
    assert its[0] < its[1] and its[2] < its[3] and its[4] < its[5], its
    s.reset_linear_stats()
    assert s.linear_stats == []


def test_linear_stats_keep_the_most_recent_solves(monkeypatch):
    """A long-lived solver's log stays bounded: past twice LINEAR_STATS_KEEP entries it keeps
    the last LINEAR_STATS_KEEP (here 3: at most 6), the newest solve last."""
    from pdesurrogate.solvers.linear import tuned_solve

    monkeypatch.setattr(tuned_solve, "LINEAR_STATS_KEEP", 3)
    tuner = FakeTuner([1.1, 1.6])
    s = Heat2D(n=8, dt=0.05, tuner=tuner)
    u0, p = s.sample(1, seed=0, dtype=F64)
    s.advance(u0, p, 0.5)  # 4 start-up substeps + 9 steps: 13 solves
    assert len(tuner.observed) == 13 and 3 <= len(s.linear_stats) <= 6
    assert [r["iterations"] for r in s.linear_stats] == tuner.observed[-len(s.linear_stats):]


def test_unconverged_solve_policy():
    """Not reaching rtol = 1e-8 within max_iter: logged converged=False with
    iterations=max_iter and the run continues while the residual is <= sqrt(rtol) = 1e-4
    (max_iter = 14, omega = 1), with a RuntimeWarning saying what to raise (it went on
    silently: an unreachable rtol ran all max_iter sweeps of every solve unnoticed); far from it
    (max_iter = 2) is a SolverDivergedError."""
    s = Heat2D(n=16, max_iter=14, omega=1.0, rtol=1e-8, tuner="fixed")
    u0, p = s.sample(2, seed=0, dtype=F64)
    with pytest.warns(RuntimeWarning, match=r"heat2d: a linear solve stopped after max_iter=14 "
                                            r"sweeps above rtol=1e-08 .*raise max_iter"):
        u = s.advance(u0, p, 0.1)
    assert torch.isfinite(u).all()
    first = s.linear_stats[0]
    assert not first["converged"] and first["iterations"] == 14
    assert 1e-8 < first["residual"] <= 1e-4
    s = Heat2D(n=16, max_iter=2, omega=1.0, rtol=1e-8, tuner="fixed")
    with pytest.raises(SolverDivergedError, match="sample 0"):
        s.advance(u0, p, 0.1)


def test_validation():
    """Bad arguments and parameters are ValueErrors saying what was expected."""
    with pytest.raises(ValueError, match="omega"):
        Heat2D(omega=2.0, tuner="fixed")
    with pytest.raises(ValueError, match="scheme"):
        Heat2D(scheme="rk4")
    with pytest.raises(ValueError, match="kappa_var_range"):
        Heat2D(kappa_var_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="tuner"):
        Heat2D(tuner=object())
    with pytest.raises(ValueError, match="max_iter"):
        Heat2D(max_iter=0)
    s = Heat2D(n=4)
    u = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="kappa must be positive"):
        s.advance(u, {"kappa": torch.tensor([-0.1]), "kappa_var": torch.zeros(1)}, 0.1)
    with pytest.raises(ValueError, match="kappa_var"):
        s.advance(u, {"kappa": torch.tensor([0.1]), "kappa_var": torch.tensor([1.5])}, 0.1)


def test_nonfinite_state_diverges_at_once():
    """A NaN/Inf state is a SolverDivergedError naming the sample and t = 0 before any linear
    solve (it used to run all max_iter sweeps, then report a stalled residual of nan)."""
    s = Heat2D(n=8)
    u, p = s.sample(3, seed=0, dtype=F64)
    u[2, 0, 4, 4] = math.inf
    with pytest.raises(SolverDivergedError, match=r"heat2d: sample 2 diverged at t=0 \(NaN"):
        s.advance(u, p, 0.1)
    assert s.linear_stats == []


def test_given_omega_is_used_and_recorded():
    """An explicit omega is the omega of every solve, and settings() (the dataset's
    solver_settings) say so; it used to be overridden by the default ChebCB tuner while
    settings() recorded it as if used. With no omega the default tuner chooses and settings()
    record omega None; omega with a learning tuner is a ValueError naming both."""
    s = Heat2D(n=16, omega=1.9)
    u0, p = s.sample(2, seed=0, dtype=F64)
    s.advance(u0, p, 0.1)
    assert s.tuner is None and {r["omega"] for r in s.linear_stats} == {1.9}
    assert s.settings()["omega"] == 1.9 and s.settings()["tuner"] == "fixed"
    assert Heat2D(n=4, omega=np.float32(1.25), tuner="fixed").omega == 1.25
    fixed = Heat2D(n=4, tuner="fixed")
    assert fixed.omega == 1.5 and fixed.settings()["tuner"] == "fixed"
    auto = Heat2D(n=4).settings()
    assert auto["omega"] is None and auto["tuner"]["class"] == "ChebCB"
    with pytest.raises(ValueError, match=r"omega=1.9 and tuner='chebcb' conflict"):
        Heat2D(n=4, omega=1.9, tuner="chebcb")
    with pytest.raises(ValueError, match=r"omega=1.9 and tuner=<FakeTuner> conflict"):
        Heat2D(n=4, omega=1.9, tuner=FakeTuner([1.2]))


class OneArgTuner(FakeTuner):
    def observe(self, iterations):  # the old one-argument protocol
        self.observed.append(iterations)


def test_tuner_learns_of_unconverged_solves():
    """A solve that hits max_iter is observed as (max_iter, converged=False), so ChebCB's
    penalty for it applies (observe used to get the count alone, i.e. converged=True); a tuner
    whose observe cannot take the flag is refused at construction, naming the protocol."""
    s = Heat2D(n=16, max_iter=14, rtol=1e-8, tuner=FakeTuner([1.0]))
    u0, p = s.sample(2, seed=0, dtype=F64)
    s.advance(u0, p, 0.1)
    assert s.tuner.observed[0] == 14 and s.tuner.converged[0] is False
    chebcb = Heat2D(n=16, max_iter=14, rtol=1e-8, tuner=ChebCB([1.0], max_iter=14))
    chebcb.advance(u0, p, 0.1)
    assert chebcb.tuner.history[0]["converged"] is False
    assert chebcb.tuner.history[0]["iterations"] == 14
    with pytest.raises(ValueError, match=r"observe must take \(iterations, converged\)"):
        Heat2D(n=4, tuner=OneArgTuner([1.2]))


def test_stalled_solve_says_to_raise_max_iter():
    """A solve far from rtol after max_iter sweeps says which option to raise."""
    s = Heat2D(n=16, max_iter=2, omega=1.0, rtol=1e-8)
    u0, p = s.sample(1, seed=0, dtype=F64)
    with pytest.raises(SolverDivergedError, match=r"after max_iter=2 sweeps .*raise max_iter"):
        s.advance(u0, p, 0.1)


@pytest.mark.parametrize("kwargs, match", [
    ({"rtol": 0.0}, r"rtol must be a number in \(0, 1\)"),
    ({"rtol": 1.0}, r"rtol must be a number in \(0, 1\)"),
    ({"max_iter": np.int64(0)}, "max_iter must be an int >= 1"),
    ({"omega": 2.0}, r"omega must be a number in \(0, 2\)"),
])
def test_linear_control_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Heat2D(n=4, **kwargs)


def test_solve_under_inference_mode():
    """Lightning's validate/test/predict run under torch.inference_mode, whose tensors keep no
    version counter: solve works there and gives the same frames."""
    s = Heat2D(n=8, dt=0.05, omega=1.5)
    u0, p = s.sample(2, seed=0, dtype=F64)
    ref = s.solve(u0, p, [0.0, 0.1, 0.2])
    with torch.inference_mode():
        got = Heat2D(n=8, dt=0.05, omega=1.5).solve(u0, p, [0.0, 0.1, 0.2])
    assert torch.equal(got, ref)


@pytest.fixture(scope="module")
def stepping_case():
    """A sampled float64 batch (n = 16), 12 steps of h, and the state at t = 12 h from
    dt = h / 16 (its own error ~7e-6 of the norm; that of 12 CN steps of h ~2e-3)."""
    s = Heat2D(n=16, omega=1.5)
    u0, p = s.sample(2, seed=0, dtype=F64)
    fine = Heat2D(n=16, omega=1.5, dt=s.h / 16).solve(u0, p, [12 * s.h])[:, -1]
    return u0, p, fine


def rel_error(u: torch.Tensor, ref: torch.Tensor) -> float:
    return float((u.double() - ref).norm() / ref.norm())


def test_copied_cast_and_interleaved_states_keep_crank_nicolson(stepping_case):
    """advance decides by value whether its input continues a trajectory: a loop over copies
    (``.clone()``), over states cast float32 <-> float64 each step, and two trajectories stepped
    alternately on one solver each keep the plain loop's accuracy against a fine-step reference
    (within 5 %); each used to get the backward-Euler start-up at every step, 20x the error,
    which a loop with restart=True shows (it must stay > 5x)."""
    u0, p, fine = stepping_case
    h = 1 / 17

    def loop(step) -> torch.Tensor:
        s, u = Heat2D(n=16, omega=1.5), u0
        for _ in range(12):
            u = step(s, u)
        return u

    plain = rel_error(loop(lambda s, u: s.advance(u, p, h)), fine)
    assert plain < 3e-3, plain
    restarted = rel_error(loop(lambda s, u: s.advance(u, p, h, restart=True)), fine)
    assert restarted > 5 * plain, (restarted, plain)
    copied = rel_error(loop(lambda s, u: s.advance(u, p, h).clone()), fine)
    assert copied == plain

    def cast(s: Heat2D, u: torch.Tensor) -> torch.Tensor:
        out = s.advance(u, p, h)
        return out.double() if out.dtype == torch.float32 else out.float()

    assert rel_error(loop(cast), fine) < 1.05 * plain
    swap = [1, 0]  # trajectory B: the same samples in the other order, so its own reference
    p_b = {k: v[swap] for k, v in p.items()}
    s, ua, ub = Heat2D(n=16, omega=1.5), u0, u0[swap]
    for _ in range(12):
        ua, ub = s.advance(ua, p, h), s.advance(ub, p_b, h)
    assert rel_error(ua, fine) < 1.05 * plain
    assert rel_error(ub, fine[swap]) < 1.05 * plain
    assert len(s._recent) <= RECENT_STATES  # the copies kept stay bounded


def test_scalar_parameters_keep_crank_nicolson_across_casts(stepping_case):
    """Scalar parameters ({"kappa": 0.05, ...}) become tensors of the state's dtype, so a
    float32 step and the next float64 one see kappa a float32 rounding apart: still the same
    trajectory (it used to get the start-up at every step after a cast, 30x the error)."""
    u0, p, _ = stepping_case
    h = 1 / 17
    scalar = {k: float(v[0]) for k, v in p.items()}
    fine = Heat2D(n=16, omega=1.5, dt=h / 16).solve(u0, scalar, [12 * h])[:, -1]

    def loop(cast: bool) -> torch.Tensor:
        s, u = Heat2D(n=16, omega=1.5), u0
        for _ in range(12):
            u = s.advance(u, scalar, h)
            if cast:
                u = u.double() if u.dtype == torch.float32 else u.float()
        return u

    plain = rel_error(loop(False), fine)
    assert plain < 3e-3, plain
    assert rel_error(loop(True), fine) < 1.05 * plain


def test_restart_keyword_forces_or_skips_the_start_up():
    """restart=False: Crank–Nicolson from the first step, so the stiff mode (kappa = 1000,
    t = 0.1, exact e^-1974) keeps most of its amplitude; restart=True on a state the solver
    returned: the start-up again, the result of a fresh solver; a non-bool is refused."""
    s = Heat2D(n=15, rtol=1e-12, omega=1.5)
    u0 = eigenmode(s)
    assert float(s.advance(u0, constant(1000.0), 0.1, restart=False).abs().max()) > 0.5
    u = s.advance(u0, constant(1000.0), 0.05)
    again = s.advance(u, constant(1000.0), 0.05, restart=True)
    fresh = Heat2D(n=15, rtol=1e-12, omega=1.5).advance(u.clone(), constant(1000.0), 0.05)
    assert torch.equal(again, fresh)
    with pytest.raises(ValueError, match="restart must be None, True or False, got 'yes'"):
        s.advance(u0, constant(1.0), 0.1, restart="yes")
