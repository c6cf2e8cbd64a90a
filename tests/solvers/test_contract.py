"""The contract every registered solver keeps: ``advance`` returns new states, never writes
into its input and never reuses a state it returned (the stream's ``solver_simulation`` sends
states while the solver goes on, without copying them, for as long as a split pack takes to
fill), in float32 and float64 (where ``u.to(float64)`` is ``u`` itself). Also the argument
checks every solver shares (batch size, dtype, parameter names) and the reporting of a
non-finite initial state."""

import math
import re

import numpy as np
import pytest
import torch

from pdesurrogate.solvers import SOLVERS, Solver, SolverDivergedError, make_solver

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


@pytest.mark.parametrize("name", sorted(SMALL))
def test_sample_refuses_a_bad_batch_size(name):
    """``sample(n)`` needs an int n >= 1: n = 0 used to fail inside MKL's FFT (burgers1d) or
    return empty batches, naming no solver."""
    solver = make_solver(name, **SMALL[name])
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match=rf"{name}: n \(samples to draw\) must be an int"):
            solver.sample(bad, seed=0)
    assert solver.sample(np.int64(1), seed=0)[0].shape[0] == 1


@pytest.mark.parametrize("name", sorted(SMALL))
def test_unsupported_dtypes_are_refused_naming_solver_and_dtype(name):
    """Only float32 and float64: float16 used to be drawn and then fail in the FFT or SOR with
    ``Unsupported dtype Half`` naming no solver."""
    solver = make_solver(name, **SMALL[name])
    with pytest.raises(ValueError, match=rf"{name}: dtype must be .*float16"):
        solver.sample(2, seed=0, dtype=torch.float16)
    u, params = solver.sample(2, seed=0)
    for dtype in (torch.float16, torch.bfloat16, torch.int64):
        with pytest.raises(ValueError, match=rf"{name}: state dtype must be .*{dtype}"):
            solver.advance(u.to(dtype), params, 0.01)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_unknown_parameter_names_are_refused(name):
    """A parameter the solver does not know (a misspelling) used to be ignored silently."""
    solver = make_solver(name, **SMALL[name])
    u, params = solver.sample(2, seed=0)
    extra = {**params, "bogus": torch.ones(2)}
    expected = str(list(solver.param_names)).replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(ValueError, match=rf"{name}: unknown parameter\(s\) \['bogus'\]; "
                                         rf"expected exactly {expected}"):
        solver.advance(u, extra, 0.01)
    with pytest.raises(ValueError, match="bogus"):
        solver.solve(u, extra, [0.0, 0.01])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_nonfinite_initial_state_is_a_divergence_at_t0(name):
    """A NaN in u0 is reported by ``solve`` at once as sample 1 at t = 0: not at the first
    output time, nor at t = nan (navier_stokes2d), nor after max_iter SOR sweeps (heat2d,
    darcy2d), and never returned (times = [0] used to hand back the NaN)."""
    solver = make_solver(name, **SMALL[name])
    u, params = solver.sample(2, seed=0, dtype=torch.float64)
    u[1, 0, ..., 3] = math.nan
    for times in ([0.0], [0.0, 0.01], [0.02]):
        with pytest.raises(SolverDivergedError, match=rf"{name}: sample 1 diverged at t=0 "):
            solver.solve(u, params, times)
    assert getattr(solver, "linear_stats", []) == []


@pytest.mark.parametrize("name", sorted(SMALL))
def test_nonfinite_times_are_refused(name):
    """times = [0, nan, 0.02] used to return a frame equal to u0 at the NaN (NaN compares
    False with every time, so the order check let it pass): now a ValueError naming it."""
    solver = make_solver(name, **SMALL[name])
    if solver.steady:
        pytest.skip("a steady solver ignores times")
    u, params = solver.sample(2, seed=0, dtype=torch.float64)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match=rf"{name}: times must be finite, got {bad}"):
            solver.solve(u, params, [0.0, bad, 0.02])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_parameters_given_as_lists_follow_the_state_dtype(name):
    """Python floats (a list) as parameters of a float64 state give exactly the result of
    float64 tensors; they used to become float32 first (burgers1d: 4.9e-10 apart). A fresh
    solver per run, so a learning SOR tuner has the same history."""
    u, params = make_solver(name, **SMALL[name]).sample(2, seed=0, dtype=torch.float64)
    params = {k: v + 1e-9 * (1 + torch.arange(2, dtype=v.dtype)) for k, v in params.items()}
    as_lists = {k: v.tolist() for k, v in params.items()}
    want = make_solver(name, **SMALL[name]).solve(u, params, [0.0, 0.02])
    got = make_solver(name, **SMALL[name]).solve(u, as_lists, [0.0, 0.02])
    assert torch.equal(got, want)
    with pytest.raises(ValueError, match=r"parameter .* must be a tensor or a sequence"):
        make_solver(name, **SMALL[name]).solve(u, {k: ["x", "y"] for k in params}, [0.02])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_seed_is_checked_and_numpy_integers_accepted(name):
    """seed: a Python or numpy integer in [0, 2**63). np.int64(3) used to raise TypeError
    from torch, 2**64 an OverflowError, 1.5 a RuntimeError, none naming seed."""
    solver = make_solver(name, **SMALL[name])
    u, p = solver.sample(2, seed=np.int64(3))
    u3, p3 = solver.sample(2, seed=3)
    assert torch.equal(u, u3) and all(torch.equal(p[k], p3[k]) for k in p)
    for bad in (-1, 2**63, 2**64, 1.5, True, "3", None):
        with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*63\), got"):
            solver.sample(2, seed=bad)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_numpy_integer_sizes_are_accepted(name):
    """Grid sizes (and NS's recheck, heat's ic_modes) given as numpy integers are accepted and
    stored as Python ints (settings() go to JSON); check_n_points and the n checks used
    isinstance(int) and refused np.int64(64) with a message that looked like a contradiction."""
    sizes = {k: np.int64(v) for k, v in SMALL[name].items()}
    if name == "navier_stokes2d":
        sizes["recheck"] = np.int64(7)
    if name == "heat2d":
        sizes["ic_modes"] = np.int64(3)
    settings = make_solver(name, **sizes).settings()
    for k, v in sizes.items():
        assert settings[k] == v and type(settings[k]) is int, k


class _FailsLater(Solver):
    """Raises from its second ``advance`` call, a quarter of the way through it."""

    name, param_names = "fails_later", ("a",)

    def __init__(self):
        self.grid, self.calls = (torch.arange(4, dtype=torch.float64) / 4,), 0

    def sample(self, n, seed, dtype=torch.float32, device="cpu"):
        return torch.zeros(n, 1, 4, dtype=dtype), {"a": torch.zeros(n, dtype=dtype)}

    def advance(self, u, params, duration):
        self.calls += 1
        if self.calls == 2:
            raise SolverDivergedError(self.name, 1, 0.25 * duration, "test")
        return u.clone()


def test_solve_reports_divergence_at_the_time_since_t0():
    """``advance`` counts time from its own start; ``solve`` adds the time the advance
    started at (0.5), so the error names 0.5 + 0.25 * 0.5."""
    solver = _FailsLater()
    u, params = solver.sample(2, seed=0)
    with pytest.raises(SolverDivergedError, match=r"sample 1 diverged at t=0\.625 \(test\)") as e:
        solver.solve(u, params, [0.0, 0.5, 1.0])
    assert e.value.time == 0.625 and e.value.sample == 1


def test_numpy_scalars_are_numbers_in_argument_checks():
    """Numbers from numpy (a float32 dt, an int64 size) pass the shared checks as Python
    numbers do; bools and strings do not."""
    import numpy as np

    from pdesurrogate.models._checks import check_int as model_int
    from pdesurrogate.solvers.base import check_positive

    assert check_positive("dt", np.float32(0.5)) == 0.5
    for check in (model_int,):
        got = check("width", np.int64(3), 1)
        assert got == 3 and type(got) is int
        for bad in (True, 2.0, "3", np.int64(0)):
            with pytest.raises(ValueError, match="width must be an int >= 1"):
                check("width", bad, 1)
    for bad in (True, "1", np.float64("nan"), -1.0):
        with pytest.raises(ValueError, match="dt must be a positive finite number"):
            check_positive("dt", bad)


# states and calls that blow up inside one advance (audit cases): (constructor, scale of u0,
# duration)
BLOWUPS = {"burgers1d": ({"n_points": 32, "dt": 1.0}, 100.0, 2.0),
           "ks1d": ({"n_points": 32, "dt": 1e3}, 1.0, 2000.0),
           "navier_stokes2d": ({"n": 16, "dt": 0.5}, 50.0, 20.0)}


@pytest.mark.parametrize("name", sorted(BLOWUPS))
def test_advance_raises_on_blowup_as_solve_does(name):
    """``advance`` of the spectral solvers used to return NaN (ks1d, navier_stokes2d) without an
    error; only ``solve`` checked. Now advance raises SolverDivergedError naming the solver,
    within (0, duration]; solve still raises it, at the same time."""
    kwargs, scale, duration = BLOWUPS[name]
    solver = make_solver(name, **kwargs)
    u, params = solver.sample(2, seed=0, dtype=torch.float64)
    with pytest.raises(SolverDivergedError, match=rf"^{name}: sample \d diverged at t=") as e:
        solver.advance(scale * u, params, duration)
    assert 0 < e.value.time <= duration
    with pytest.raises(SolverDivergedError, match=rf"^{name}: sample \d diverged at t=") as s:
        solver.solve(scale * u, params, [0.0, duration])
    assert (s.value.sample, s.value.time) == (e.value.sample, e.value.time)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_advance_raises_for_a_bad_input_state(name):
    """A NaN, or a value past ``blowup``, in the input of ``advance`` is a divergence of that
    sample at t = 0, for every solver: burgers1d and ks1d used to return it unchanged,
    advection1d and navier_stokes2d to carry the NaN on."""
    solver = make_solver(name, **SMALL[name])
    u, params = solver.sample(2, seed=0, dtype=torch.float64)
    for bad, reason in ((math.nan, "NaN/Inf"), (2 * solver.blowup, "|u| > ")):
        v = u.clone()
        v[1, -1, ..., 3] = bad
        with pytest.raises(SolverDivergedError,
                           match=rf"^{name}: sample 1 diverged at t=0 \({re.escape(reason)}"):
            solver.advance(v, params, 0.01)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_scalar_parameters_are_the_value_of_every_sample(name):
    """A Python float, numpy float or 0-d tensor for a parameter is repeated over the batch
    (``advance(u, {"nu": 0.05}, dt)`` used to fail "must have shape (2,), got ()"); other
    shapes than (B,) are still refused."""
    u, params = make_solver(name, **SMALL[name]).sample(2, seed=0, dtype=torch.float64)
    first = {k: v[0] for k, v in params.items()}
    repeated = {k: v.expand(2).clone() for k, v in first.items()}
    want = make_solver(name, **SMALL[name]).advance(u, repeated, 0.02)
    for scalars in ({k: float(v) for k, v in first.items()},
                    {k: np.float64(v) for k, v in first.items()}, first):
        got = make_solver(name, **SMALL[name]).advance(u, scalars, 0.02)
        assert torch.equal(got, want)
    for shape in ((1,), (3,), (2, 1)):
        bad = {k: v.expand(shape).clone() for k, v in first.items()}
        with pytest.raises(ValueError, match=re.escape(f"must have shape (2,), got {shape}")):
            make_solver(name, **SMALL[name]).advance(u, bad, 0.02)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_solver_refuses_a_bad_duration(name):
    """A negative, NaN, infinite or non-numeric duration is a ValueError naming the solver and
    the value; darcy2d, which ignores the duration, used to accept any."""
    solver = make_solver(name, **SMALL[name])
    u, params = solver.sample(2, seed=0)
    for bad in (-0.1, math.nan, math.inf, "1", True):
        with pytest.raises(ValueError,
                           match=rf"^{name}: duration must be a finite number >= 0, got "):
            solver.advance(u, params, bad)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_make_solver_takes_the_class_name_too(name):
    """``make_solver("Burgers1D")`` builds the class registered as burgers1d, as the CLI's
    --solver does (it was 'unknown solver'); other spellings (case included) are refused,
    listing the registry names."""
    cls = SOLVERS[name]
    solver = make_solver(cls.__name__, **SMALL[name])
    assert type(solver) is cls and solver.settings() == make_solver(name, **SMALL[name]).settings()
    for bad in (cls.__name__ + " ", "x" + cls.__name__, "BURGERS1D"):
        with pytest.raises(ValueError, match=re.escape(f"unknown solver {bad!r}; choose from "
                                                       f"{sorted(SOLVERS)}")):
            make_solver(bad)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_repr_is_the_constructor_call(name):
    """``repr`` names the class and every constructor argument (``settings()``); evaluated, it
    builds a solver with the same settings (the tuner object included)."""
    from pdesurrogate.solvers.linear import tuners

    solver = make_solver(name, **SMALL[name])
    text = repr(solver)
    assert text.startswith(f"{type(solver).__name__}(")
    for key in solver.settings():
        assert f"{key}=" in text
    rebuilt = eval(text, {c.__name__: c for c in SOLVERS.values()} | vars(tuners))
    assert type(rebuilt) is type(solver) and rebuilt.settings() == solver.settings()
