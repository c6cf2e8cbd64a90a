"""Darcy2D: manufactured-solution order, an independent sparse assembly, sampling, logging."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from pdesurrogate.solvers.base import SolverDivergedError
from pdesurrogate.solvers.darcy import Darcy2D, darcy_solve, poisson_omega

F64 = torch.float64


def test_manufactured_solution_second_order():
    """a = 1 + x^2 + y, u = sin(pi x) sin(pi y), f = -div(a grad u) analytically: max nodal
    error over n = 8, 16, 32 has slope in [1.8, 2.3] in h (measured ~1.97) and is < 2e-2
    on the coarsest grid."""
    pi = math.pi
    hs, errs = [], []
    for n in (8, 16, 32):
        h = 1.0 / (n + 1)
        g = torch.arange(1, n + 1, dtype=F64) * h
        x, y = g.reshape(1, -1), g.reshape(-1, 1)
        a = 1 + x**2 + y
        u = torch.sin(pi * x) * torch.sin(pi * y)
        ux = pi * torch.cos(pi * x) * torch.sin(pi * y)
        uy = pi * torch.sin(pi * x) * torch.cos(pi * y)
        f = -(2 * x * ux + uy - 2 * pi**2 * a * u)
        res = darcy_solve(a[None], f[None], h, rtol=1e-12)
        assert bool(res.converged.all())
        hs.append(h), errs.append(float((res.x[0] - u).abs().max()))
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert 1.8 <= slope <= 2.3, (slope, errs)
    assert errs[0] < 2e-2


def reference_solve(a: np.ndarray, h: float) -> np.ndarray:
    """-div(a grad u) = 1 assembled flux by flux (harmonic-mean faces, boundary faces take the
    interior node's a, boundary u = 0) and solved by scipy's spsolve."""
    ny, nx = a.shape
    idx = lambda i, j: i * nx + j  # noqa: E731
    A = sp.lil_matrix((ny * nx, ny * nx))
    for i in range(ny):
        for j in range(nx):
            for di, dj in ((0, -1), (0, 1), (-1, 0), (1, 0)):
                ii, jj = i + di, j + dj
                inside = 0 <= ii < ny and 0 <= jj < nx
                face = 2 * a[i, j] * a[ii, jj] / (a[i, j] + a[ii, jj]) if inside else a[i, j]
                A[idx(i, j), idx(i, j)] += face / h**2
                if inside:
                    A[idx(i, j), idx(ii, jj)] -= face / h**2
    return spla.spsolve(A.tocsr(), np.ones(ny * nx)).reshape(ny, nx)


def test_solve_matches_independent_assembly():
    """A sampled FNO-style coefficient at n = 12: solve returns [a, u] with a unchanged and u
    within 1e-7 (relative, rtol = 1e-10) of the independently assembled sparse direct solve."""
    s = Darcy2D(n=12, rtol=1e-10)
    state, p = s.sample(2, seed=5, dtype=F64)
    out = s.solve(state, p, [0.0])
    assert out.shape == (2, 1, 2, 12, 12)
    assert torch.equal(out[:, 0, 0], state[:, 0])
    for k in range(2):
        ref = reference_solve(state[k, 0].numpy(), s.h)
        err = np.abs(out[k, 0, 1].numpy() - ref).max() / np.abs(ref).max()
        assert err < 1e-7, (k, err)
        assert (out[k, 0, 1] > 0).all()  # maximum principle: positive source, zero boundary


def test_sample_is_two_valued_and_deterministic():
    """Channel 0 takes only a_pos and a_neg (both present), channel 1 is 0; same seed gives the
    same batch, another seed a different one; float32 stays float32 through solve."""
    s = Darcy2D(n=16, a_pos_range=(10.0, 14.0), a_neg_range=(2.0, 4.0))
    state, p = s.sample(3, seed=1)
    again, p2 = s.sample(3, seed=1)
    other, _ = s.sample(3, seed=2)
    assert state.shape == (3, 2, 16, 16) and state.dtype == torch.float32
    assert torch.equal(state, again) and torch.equal(p["a_pos"], p2["a_pos"])
    assert not torch.equal(state, other)
    assert (state[:, 1] == 0).all()
    for k in range(3):
        values = set(state[k, 0].unique().tolist())
        assert values == {float(p["a_pos"][k]), float(p["a_neg"][k])}
    assert ((p["a_pos"] >= 10) & (p["a_pos"] <= 14)).all()
    out = s.solve(state, p, [0.0])
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


class FakeTuner:
    def __init__(self, omega):
        self.omega, self.contexts, self.observed, self.converged = omega, [], [], []

    def choose(self, context):
        self.contexts.append(context)
        return self.omega

    def observe(self, iterations, converged):
        self.observed.append(iterations)
        self.converged.append(converged)


def test_tuner_and_stats():
    """The context is the mean contrast a_pos / a_neg (4 for FNO's 12 / 3); the tuner's omega
    is used and its observed count equals the logged one; a better omega needs fewer sweeps."""
    counts = {}
    for omega in (1.2, 1.8):
        tuner = FakeTuner(omega)
        s = Darcy2D(n=16, tuner=tuner)
        state, p = s.sample(2, seed=0, dtype=F64)
        s.advance(state, p, 0.0)
        (rec,) = s.linear_stats
        assert tuner.contexts == [pytest.approx(4.0)]
        assert rec["omega"] == omega and rec["converged"] and rec["iterations"] == tuner.observed[0]
        assert tuner.converged == [True]
        assert rec["residual"] <= 1e-8
        counts[omega] = rec["iterations"]
    assert counts[1.8] < counts[1.2] / 2, counts


def test_validation():
    """Bad arguments and non-positive coefficients are ValueErrors saying what was expected."""
    with pytest.raises(ValueError, match="a_pos_range"):
        Darcy2D(a_pos_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="omega"):
        Darcy2D(omega=2.0, tuner="fixed")
    s = Darcy2D(n=4)
    state, p = s.sample(1, seed=0)
    with pytest.raises(ValueError, match="positive"):
        s.advance(state, {"a_pos": torch.tensor([-1.0]), "a_neg": p["a_neg"]}, 0.0)
    state[0, 0, 1, 1] = 0.0
    with pytest.raises(ValueError, match="channel 0"):
        s.advance(state, p, 0.0)
    with pytest.raises(ValueError, match="a and f"):
        darcy_solve(torch.ones(1, 4, 4), torch.ones(1, 4, 5), 0.2)


@pytest.mark.parametrize("channel", [0, 1])
def test_nonfinite_state_diverges_at_once(channel):
    """NaN in the coefficient (it used to be reported as a non-positive one) or in the initial
    guess (it used to run all max_iter sweeps) is a SolverDivergedError naming the sample, at
    once."""
    s = Darcy2D(n=8)
    state, p = s.sample(2, seed=0, dtype=F64)
    state[1, channel, 3, 3] = math.nan
    with pytest.raises(SolverDivergedError, match=r"darcy2d: sample 1 diverged at t=0 \(NaN"):
        s.advance(state, p, 0.0)
    assert s.linear_stats == []


def test_given_omega_is_used_and_recorded():
    """An explicit omega is used for the solve and recorded in settings() (omega=1.3 used to
    be overridden by the default tuner: 1.95); tuner="fixed" alone uses the Poisson optimum and
    records it; omega with a learning tuner is a ValueError naming both."""
    s = Darcy2D(n=12, omega=1.3)
    state, p = s.sample(1, seed=0, dtype=F64)
    s.advance(state, p, 0.0)
    assert [r["omega"] for r in s.linear_stats] == [1.3]
    assert s.settings()["omega"] == 1.3 and s.settings()["tuner"] == "fixed"
    fixed = Darcy2D(n=12, tuner="fixed")
    assert fixed.omega == pytest.approx(poisson_omega(1 / 13))
    assert fixed.settings()["omega"] == fixed.omega
    assert Darcy2D(n=12).settings()["omega"] is None
    with pytest.raises(ValueError, match=r"omega=1.3 and tuner='tsallis_inf' conflict"):
        Darcy2D(n=12, omega=1.3, tuner="tsallis_inf")


def test_unconverged_solve_observed_and_message():
    """Hitting max_iter: the tuner observes converged=False; far from rtol the error says to
    raise max_iter."""
    tuner = FakeTuner(1.5)
    s = Darcy2D(n=12, tuner=tuner, max_iter=3)
    state, p = s.sample(1, seed=0, dtype=F64)
    with pytest.raises(SolverDivergedError, match=r"after max_iter=3 sweeps .*raise max_iter"):
        s.advance(state, p, 0.0)
    assert tuner.observed == [3] and tuner.converged == [False]
