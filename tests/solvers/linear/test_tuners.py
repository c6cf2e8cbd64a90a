"""omega tuners: regret on synthetic sequences with a known best arm, and the interface."""

import numpy as np
import pytest

from pdesurrogate.solvers.linear.tuners import (
    ChebCB,
    FixedOmega,
    TsallisINF,
    default_omegas,
)

GRID = default_omegas(10)


def run(tuner, T, cost, rng, context=None):
    """Total cost of ``tuner`` over T rounds; ``cost(omega, c)`` -> iterations (noisy)."""
    total = 0
    for _ in range(T):
        c = None if context is None else context(rng)
        w = tuner.choose(c)
        it = cost(w, c, rng)
        tuner.observe(it)
        total += it
    return total


def fixed_cost(w, c, rng):
    # best arm at omega = 1.65 (a grid point); noisy
    return int(100 + 800 * abs(w - 1.65) + rng.integers(0, 20))


def test_tsallis_average_regret_shrinks():
    """Average regret vs the best fixed arm over T = 4000 is under half that over T = 250 (mean
    of 4 seeds), and under 25% of the best arm's cost."""
    def avg_regret(T):
        out = []
        for s in range(4):
            rng = np.random.default_rng(100 + s)
            total = run(TsallisINF(GRID, max_iter=2000, seed=s), T, fixed_cost, rng)
            out.append(total / T - 110)  # best arm's mean cost is 100 + 9.5
        return float(np.mean(out))
    short, long = avg_regret(250), avg_regret(4000)
    assert long < 0.5 * short, (short, long)
    assert long < 0.25 * 110


def context_cost(w, c, rng):
    best = 1.1 + 0.8 * c  # the best omega moves with the context in [0, 1]
    return int(50 + 1000 * (w - best) ** 2 + rng.integers(0, 5))


def test_chebcb_beats_best_fixed_and_approaches_oracle():
    """With the best omega a function of the context, ChebCB's total over 1500 rounds beats the
    best fixed omega in hindsight and is within 25% of the per-context oracle."""
    rng = np.random.default_rng(0)
    ctx = rng.uniform(0, 1, 1500)
    tuner = ChebCB(GRID, max_iter=5000, seed=0, context_range=(0.0, 1.0), log_context=False)
    total = 0
    for c in ctx:
        w = tuner.choose(float(c))
        it = context_cost(w, c, np.random.default_rng(0))
        tuner.observe(it)
        total += it
    det = lambda w, c: 50 + 1000 * (w - (1.1 + 0.8 * c)) ** 2  # noqa: E731
    best_fixed = min(sum(det(w, c) for c in ctx) for w in GRID)
    oracle = sum(min(det(w, c) for w in GRID) for c in ctx)
    assert total < best_fixed
    assert total < 1.25 * oracle + 2.5 * len(ctx), (total, oracle, best_fixed)


def test_interface_and_validation():
    t = FixedOmega(1.3)
    assert t.choose() == 1.3
    t.observe(10)
    assert t.history == [{"omega": 1.3, "context": None, "iterations": 10, "converged": True}]
    with pytest.raises(RuntimeError, match="without a preceding choose"):
        t.observe(3)
    with pytest.raises(ValueError, match="omega must be a number in"):
        TsallisINF([1.0, 2.0])
    with pytest.raises(ValueError, match="omegas must not be empty"):
        TsallisINF([])
    with pytest.raises(ValueError, match="context_range"):
        ChebCB(context_range=(0.0, 1.0))  # log of 0
    p = TsallisINF(GRID).probabilities()
    assert np.isclose(p.sum(), 1.0) and np.allclose(p, 1 / len(GRID))


def test_heat_and_darcy_use_the_contextual_tuner_by_default():
    """heat2d/darcy2d default to ChebCB: every linear solve asks it for omega, and the chosen
    omega and iteration count are what the solver's linear_stats record."""
    import torch

    from pdesurrogate.solvers import Darcy2D, Heat2D

    for solver, duration in ((Heat2D(n=8), 0.5), (Darcy2D(n=8), 0.0)):
        assert isinstance(solver.tuner, ChebCB)
        u0, p = solver.sample(2, seed=0, dtype=torch.float64)
        solver.solve(u0, p, [0.0, duration] if not solver.steady else [0.0])
        hist = solver.tuner.history
        assert len(hist) == len(solver.linear_stats) > 0
        for h, s in zip(hist, solver.linear_stats, strict=True):
            assert h["omega"] == s["omega"] and h["iterations"] == s["iterations"]
        assert solver.settings()["tuner"]["class"] == "ChebCB"
    assert Heat2D(n=8, tuner="fixed").tuner is None
    with pytest.raises(ValueError, match="tuner must be"):
        Heat2D(n=8, tuner="bandit")


def test_numbers_and_bad_arguments():
    """numpy scalars are numbers; a bad argument is one ValueError naming it (NaN iterations
    used to say 'cannot convert float NaN to integer', learning_rate='2' a TypeError, seed=-1
    numpy's message)."""
    t = TsallisINF(max_iter=np.int64(100), seed=np.int64(3), learning_rate=np.float32(2.0))
    assert t.max_iter == 100 and t.seed == 3
    t.choose(np.float64(0.5))
    for bad in (float("nan"), -1, 2.5, "3"):
        with pytest.raises(ValueError, match=r"iterations must be a whole number >= 0, got"):
            t.observe(bad)
    with pytest.raises(ValueError, match="converged must be a bool, got 'no'"):
        t.observe(3, "no")
    t.observe(np.int64(7), np.False_)  # the pending choice survives the refused calls
    assert t.history[-1]["iterations"] == 100 and not t.history[-1]["converged"]
    for kwargs, name in (({"learning_rate": "2"}, "learning_rate"), ({"seed": -1}, "seed"),
                         ({"max_iter": True}, "max_iter"), ({"loss_scale": 0.0}, "loss_scale"),
                         ({"max_iter": np.int64(0)}, "max_iter")):
        with pytest.raises(ValueError, match=f"^{name} must be"):
            TsallisINF(**kwargs)
    for kwargs, name in (({"ridge": "1"}, "ridge"), ({"exploration": -1.0}, "exploration"),
                         ({"context_degree": 1.5}, "context_degree"),
                         ({"context_range": "ab"}, "context_range")):
        with pytest.raises(ValueError, match=f"^{name} must be"):
            ChebCB(**kwargs)
    with pytest.raises(ValueError, match="context must be a finite number, got 'x'"):
        ChebCB().choose("x")


def test_observe_takes_zero_dimensional_arrays_and_tensors():
    """redblack_sor's per-batch results reduced to one value (torch 0-d tensors) and 0-d numpy
    arrays count as numbers; a 2-element tensor is still refused."""
    import torch

    tuner = TsallisINF(seed=0)
    tuner.choose()
    tuner.observe(torch.tensor(5), torch.tensor(True))
    tuner.choose()
    tuner.observe(np.array(7), np.array(False))
    assert [(h["iterations"], h["converged"]) for h in tuner.history] == [
        (5, True), (tuner.max_iter, False)]
    tuner.choose()
    with pytest.raises(ValueError, match="iterations must be a whole number"):
        tuner.observe(torch.tensor([5, 6]))
