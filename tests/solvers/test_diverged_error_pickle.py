"""A ``SolverDivergedError`` raised in a worker process reaches the caller whole: pickled and
back it is the same error (message, sample, time, reason, parameters, hint), not a TypeError
from Exception's default reduce, which passes the message alone to ``__init__``."""

import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

from pdesurrogate.solvers import make_solver
from pdesurrogate.solvers.base import SolverDivergedError


def _diverge() -> None:
    # Burgers at a fixed step far past the stable one diverges (tests/solvers/test_solver_limits)
    solver = make_solver("burgers1d", n_points=64, nu_range=(0.01, 0.01), dt=10.0)
    u0, params = solver.sample(2, seed=0)
    solver.solve(u0, params, [0.0, 1.0])


def test_pickled_and_back_it_is_the_same_error():
    e = SolverDivergedError("burgers1d", 2, 0.5, "NaN/Inf", {"nu": 0.01}, "lower dt")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is SolverDivergedError and str(back) == str(e)
    assert (back.solver, back.sample, back.time, back.reason, back.params, back.hint) == \
        ("burgers1d", 2, 0.5, "NaN/Inf", {"nu": 0.01}, "lower dt")


def test_a_divergence_in_a_worker_process_is_raised_in_the_caller():
    with pytest.raises(SolverDivergedError) as here:
        _diverge()
    with ProcessPoolExecutor(1) as pool, pytest.raises(SolverDivergedError) as there:
        pool.submit(_diverge).result()
    assert str(there.value) == str(here.value)
    assert there.value.params == here.value.params and there.value.params
