"""The contract every registered solver keeps: ``advance`` returns new states, never writes
into its input and never reuses a state it returned (the stream's ``solver_simulation`` sends
states while the solver goes on, without copying them, for as long as a split pack takes to
fill), in float32 and float64 (where ``u.to(float64)`` is ``u`` itself)."""

import pytest
import torch

from pdesurrogate.solvers import SOLVERS, make_solver

SMALL = {"advection1d": {"n_points": 32}, "burgers1d": {"n_points": 32},
         "ks1d": {"n_points": 32}, "navier_stokes2d": {"n": 16}, "heat2d": {"n": 12},
         "darcy2d": {"n": 12}}


def test_every_solver_is_covered():
    assert set(SMALL) == set(SOLVERS)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(SMALL))
def test_advance_leaves_its_input_alone(name, dtype):
    solver = make_solver(name, **SMALL[name])
    u, params = solver.sample(2, seed=0, dtype=dtype)
    before = u.clone()
    out = solver.advance(u, params, 0.01)
    assert torch.equal(u, before), f"{name}.advance wrote into its input"
    assert out.shape == u.shape and out.untyped_storage().data_ptr() != \
        u.untyped_storage().data_ptr()
    assert not torch.equal(out, before) or solver.steady
    out.add_(1.0)  # the result shares no memory with the input either
    assert torch.equal(u, before)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_results_stay_as_returned_while_the_solver_goes_on(name):
    """No buffer is reused from one ``advance`` to the next: the stream may hold the states of
    many steps uncopied (a split pack of up to 16 MiB) while the solver goes on."""
    solver = make_solver(name, **SMALL[name])
    u, params = solver.sample(2, seed=0, dtype=torch.float32)
    kept = []
    for _ in range(4):
        u = solver.advance(u, params, 0.01)
        kept.append((u, u.clone()))
    for k, (state, copy) in enumerate(kept):
        assert torch.equal(state, copy), f"{name}: the state of step {k + 1} changed later"
