"""LinearSolveLog: what a batched solve tells the tuner and the log (the slowest system's sweeps),
and the stall policy (a system above ``sqrt(rtol)`` after ``max_iter`` sweeps is an error, one
between ``rtol`` and ``sqrt(rtol)`` only a warning)."""

from __future__ import annotations

import math

import pytest
import torch

from pdesurrogate.solvers.base import SolverDivergedError
from pdesurrogate.solvers.linear.redblack import Stencil, redblack_sor
from pdesurrogate.solvers.linear.tuned_solve import LinearSolveLog, linear_controls
from pdesurrogate.solvers.linear.tuners import FixedOmega

N = 8
RTOL = 1e-8


class Host(LinearSolveLog):
    """The least a solver needs to run ``_linear_solve``."""

    name = "host"

    def __init__(self, omega=None, tuner=None, max_iter=10_000):
        self.omega, self.tuner, self.rtol, self.max_iter = linear_controls(
            omega, tuner, RTOL, max_iter, default_omega=1.5)
        self.linear_stats = []


def poisson(n: int = N, shift: float = 0.0) -> Stencil:
    one = torch.ones(1, n, n + 1, dtype=torch.float64)
    return Stencil.diffusion(one, one.transpose(-1, -2), 1.0 / (n + 1)).shifted(1.0, shift)


def test_batch_reports_its_slowest_system():
    """An easy (strongly shifted) and a hard (Poisson) system solved together: the tuner and
    linear_stats get the hard one's sweeps, the work the batch took, not the easy one's."""
    easy, hard = poisson(shift=1e4), poisson()
    both = Stencil(*(torch.cat([getattr(easy, f).expand(1, N, N),
                                getattr(hard, f).expand(1, N, N)])
                     for f in ("center", "west", "east", "south", "north")))
    b = torch.ones(2, N, N, dtype=torch.float64)
    alone = [int(redblack_sor(s, b[:1], omega=1.5, rtol=RTOL).iterations)
             for s in (easy, hard)]
    assert alone[0] < alone[1]
    host = Host(tuner=FixedOmega(1.5))
    host._linear_solve(both, b, torch.zeros_like(b), context=1.0, time=0.0)
    assert host.linear_stats[-1]["iterations"] == alone[1]
    assert host.tuner.history[-1]["iterations"] == alone[1]
    assert host.linear_stats[-1]["converged"]


def sweeps_to(residual: float) -> int:
    """The fewest sweeps after which Poisson with b = 1 (omega 1.5) is below ``residual``."""
    b = torch.ones(1, N, N, dtype=torch.float64)
    for k in range(1, 1000):
        if float(redblack_sor(poisson(), b, omega=1.5, rtol=RTOL, max_iter=k).residual) \
                <= residual:
            return k
    raise AssertionError(f"residual {residual:g} not reached")


def test_stall_above_sqrt_rtol_is_an_error_below_it_a_warning():
    """max_iter leaving the residual between rtol**0.25 and sqrt(rtol) raises
    SolverDivergedError ('stalled'); just below sqrt(rtol) the solve is accepted with a
    warning."""
    b = torch.ones(1, N, N, dtype=torch.float64)
    x0 = torch.zeros_like(b)
    short = sweeps_to(RTOL ** 0.25)
    res = redblack_sor(poisson(), b, omega=1.5, rtol=RTOL, max_iter=short)
    assert math.sqrt(RTOL) < float(res.residual) <= RTOL ** 0.25
    with pytest.raises(SolverDivergedError, match="stalled"):
        Host(omega=1.5, max_iter=short)._linear_solve(poisson(), b, x0, 1.0, 0.0)
    enough = sweeps_to(math.sqrt(RTOL))
    host = Host(omega=1.5, max_iter=enough)
    with pytest.warns(RuntimeWarning, match="accepted: within sqrt"):
        host._linear_solve(poisson(), b, x0, 1.0, 0.0)
    assert not host.linear_stats[-1]["converged"]
    assert RTOL < host.linear_stats[-1]["residual"] <= math.sqrt(RTOL)
