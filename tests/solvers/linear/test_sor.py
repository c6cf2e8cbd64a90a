"""SOR on CSR matrices: agreement with a direct solve, the optimal omega of the model problem,
and clear errors on bad input."""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from pdesurrogate.solvers.linear.sor import DIVERGENCE_GROWTH, sor_solve


def poisson2d(n: int) -> sp.csr_matrix:
    """5-point -Laplacian * h^2 on the n x n interior grid, zero Dirichlet."""
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return (sp.kron(sp.eye(n), t) + sp.kron(t, sp.eye(n))).tocsr()


@pytest.mark.parametrize("omega", [0.6, 1.0, 1.1, 1.25])
def test_matches_direct_solve_diagonally_dominant(omega):
    """Random strictly diagonally dominant system: SOR converges (for omega <= 1 by theory,
    mild over-relaxation here); solution within 1e-7 relative of spsolve at rtol 1e-10."""
    rng = np.random.default_rng(0)
    n = 200
    A = sp.random(n, n, density=0.03, random_state=1, format="csr")
    A = A + sp.diags(np.asarray(abs(A).sum(axis=1)).ravel() + 1.0)
    b = rng.standard_normal(n)
    res = sor_solve(A, b, omega, rtol=1e-10)
    exact = sla.spsolve(A.tocsc(), b)
    assert res.converged
    assert np.linalg.norm(res.x - exact) / np.linalg.norm(exact) < 1e-7


@pytest.mark.parametrize("omega", [0.5, 1.0, 1.5, 1.9])
def test_matches_direct_solve_spd(omega):
    """Random SPD system (SOR converges for every omega in (0, 2)): within 1e-6 of spsolve."""
    rng = np.random.default_rng(2)
    n = 120
    B = sp.random(n, n, density=0.05, random_state=3, format="csr")
    A = (B @ B.T + sp.eye(n) * 0.5).tocsr()
    b = rng.standard_normal(n)
    res = sor_solve(A, b, omega, rtol=1e-10, max_iter=50_000)
    exact = sla.spsolve(A.tocsc(), b)
    assert res.converged, res
    assert np.linalg.norm(res.x - exact) / np.linalg.norm(exact) < 1e-6


def test_best_omega_on_poisson_is_the_theoretical_one():
    """On the 2-D model problem (n = 32) the omega with the fewest sweeps over a fine grid lies
    within 0.03 of 2 / (1 + sin(pi h))."""
    n = 32
    h = 1.0 / (n + 1)
    A = poisson2d(n)
    b = np.random.default_rng(0).standard_normal(n * n)
    grid = np.linspace(1.70, 1.96, 27)
    its = [sor_solve(A, b, w, rtol=1e-8).iterations for w in grid]
    best = grid[int(np.argmin(its))]
    theory = 2 / (1 + math.sin(math.pi * h))
    assert abs(best - theory) < 0.03, (best, theory)
    assert min(its) < sor_solve(A, b, 1.0, rtol=1e-8).iterations / 5


def test_max_iter_reports_not_converged():
    A = poisson2d(16)
    res = sor_solve(A, np.ones(256), 1.0, rtol=1e-12, max_iter=5)
    assert not res.converged and res.iterations == 5 and res.residual_norm > 1e-12
    # the reported residual is the relative 2-norm one of the returned x
    true = np.linalg.norm(np.ones(256) - A @ res.x) / np.linalg.norm(np.ones(256))
    assert res.residual_norm == pytest.approx(true, rel=1e-12)


def test_zero_rhs_is_zero_solution():
    res = sor_solve(poisson2d(4), np.zeros(16), 1.2)
    assert res.converged and res.iterations == 0 and not res.x.any()


@pytest.mark.parametrize("omega", [0.0, 2.0, -1.0, float("nan")])
def test_bad_omega(omega):
    with pytest.raises(ValueError, match="omega must be a number in \\(0, 2\\)"):
        sor_solve(poisson2d(3), np.ones(9), omega)


def test_bad_matrices_and_rhs():
    with pytest.raises(ValueError, match="square"):
        sor_solve(sp.random(3, 4, density=1.0, format="csr"), np.ones(3), 1.0)
    A = poisson2d(3).tolil()
    A[4, 4] = 0.0
    with pytest.raises(ValueError, match="zero or non-finite diagonal at row 4"):
        sor_solve(A.tocsr(), np.ones(9), 1.0)
    with pytest.raises(ValueError, match=r"b must have shape \(9,\)"):
        sor_solve(poisson2d(3), np.ones(8), 1.0)


def test_numpy_scalars_are_numbers():
    """rtol, omega and max_iter given as numpy scalars are accepted like Python numbers (they
    were refused with 'rtol must be positive, got np.float32(1e-06)')."""
    res = sor_solve(poisson2d(4), np.ones(16), np.float32(1.5), rtol=np.float32(1e-6),
                    max_iter=np.int64(100))
    assert res.converged and res.residual_norm <= 1e-6


@pytest.mark.parametrize("rtol", [0.0, -1e-3, 1.0, 5.0, float("inf"), float("nan"), True, "1e-6"])
def test_bad_rtol(rtol):
    """rtol outside (0, 1) (inf and True used to return x = 0 'converged'), or not a number."""
    with pytest.raises(ValueError, match=r"rtol must be a number in \(0, 1\), got"):
        sor_solve(poisson2d(3), np.ones(9), 1.0, rtol=rtol)


@pytest.mark.parametrize("max_iter", [-1, 2.0, True, np.True_])
def test_bad_max_iter(max_iter):
    with pytest.raises(ValueError, match=r"max_iter must be an int >= 0, got"):
        sor_solve(poisson2d(3), np.ones(9), 1.0, max_iter=max_iter)


def test_complex_and_nonfinite_input_refused():
    """Complex A or b (used to be cast to real with a numpy warning and reported converged), a
    non-finite x0 or non-finite entries of A: one ValueError naming what is wrong."""
    A = poisson2d(3)
    with pytest.raises(ValueError, match="A must be real .*complex128"):
        sor_solve(A.astype(np.complex128), np.ones(9), 1.0)
    with pytest.raises(ValueError, match="b must be real .*complex128"):
        sor_solve(A, np.ones(9) + 1j, 1.0)
    with pytest.raises(ValueError, match="x0 has non-finite entries"):
        sor_solve(A, np.ones(9), 1.0, x0=np.full(9, np.nan))
    with pytest.raises(ValueError, match="x0 must be real"):
        sor_solve(A, np.ones(9), 1.0, x0=np.zeros(9, dtype=complex))
    B = A.tolil()
    B[0, 1] = np.inf
    with pytest.raises(ValueError, match="A has non-finite entries"):
        sor_solve(B.tocsr(), np.ones(9), 1.0)


def test_diverging_system_stops_without_warnings():
    """An indefinite, non-diagonally-dominant system: SOR diverges; it is stopped long before
    max_iter with converged=False, diverged=True and no numpy overflow warning."""
    A = sp.diags([-3.0, 1.0, -3.0], [-1, 0, 1], shape=(50, 50), format="csr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = sor_solve(A, np.ones(50), 1.5, max_iter=2000)
    assert not res.converged and res.diverged and res.iterations < 100
    # stopped by the growth test (x = 0 starts at relative residual 1), not by overflow
    assert DIVERGENCE_GROWTH < res.residual_norm < math.inf and np.isfinite(res.x).all()
    assert not sor_solve(poisson2d(4), np.ones(16), 1.5).diverged
