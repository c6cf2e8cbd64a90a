"""The default SOR factor of Darcy2D / darcy_solve is Young's optimum for the 5-point Laplacian.

Young's theorem: for a consistently ordered matrix whose Jacobi iteration has spectral radius
``rho``, SOR converges fastest at ``omega = 2 / (1 + sqrt(1 - rho^2))``. Here ``rho`` is computed
from the eigenvalues of a 5-point Laplacian assembled in the test, not from a formula.
"""

import math

import numpy as np
import torch

from pdesurrogate.solvers.darcy import Darcy2D, darcy_solve, poisson_omega

F64 = torch.float64


def young_omega(n: int) -> float:
    """Optimal SOR factor for the n x n interior nodes of the unit square's 5-point Laplacian,
    from the Jacobi matrix's largest eigenvalue magnitude (the 1/h^2 cancels in D^-1 A)."""
    t = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    a = np.kron(np.eye(n), t) + np.kron(t, np.eye(n))
    jacobi = np.eye(n * n) - a / 4  # D = 4 I
    rho = float(np.abs(np.linalg.eigvalsh(jacobi)).max())
    return 2 / (1 + math.sqrt(1 - rho**2))


def test_default_omega_is_youngs_optimum():
    """n = 15 and 20: poisson_omega(h), Darcy2D(tuner="fixed").omega and the omega darcy_solve
    uses when none is given (same sweep count) all equal Young's omega to 1e-10 (1.674 and
    1.741; sin(2 pi h) in place of sin(pi h) would give 1.446 and 1.545)."""
    for n in (15, 20):
        h = 1 / (n + 1)
        best = young_omega(n)
        assert abs(poisson_omega(h) - best) < 1e-10, (n, poisson_omega(h), best)
        assert abs(Darcy2D(n=n, tuner="fixed").omega - best) < 1e-10
        a = torch.ones(1, n, n, dtype=F64)
        default = darcy_solve(a, a, h, rtol=1e-10)
        given = darcy_solve(a, a, h, omega=best, rtol=1e-10)
        assert default.converged.all() and torch.equal(default.iterations, given.iterations)


def test_default_omega_needs_fewer_sweeps_than_its_neighbours():
    """Poisson (a = 1, f = 1) on 31 x 31 nodes to rtol 1e-10: the default omega (149 sweeps)
    beats omega +- 0.02 (216, 154) and +- 0.05 (280, 179)."""
    n = 31
    a = torch.ones(1, n, n, dtype=F64)
    best = poisson_omega(1 / (n + 1))
    sweeps = {dw: int(darcy_solve(a, a, 1 / (n + 1), omega=best + dw, rtol=1e-10).iterations)
              for dw in (-0.05, -0.02, 0.0, 0.02, 0.05)}
    assert all(sweeps[0.0] < s for dw, s in sweeps.items() if dw != 0.0), sweeps
