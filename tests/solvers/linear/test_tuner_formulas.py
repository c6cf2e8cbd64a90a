"""The omega tuners' rules, checked against their formulas: TsallisINF's probabilities are
``p_i = 4 / (eta_t (Lhat_i - x))^2`` (its docstring) with ``eta_t = lr / sqrt(t)`` and the losses
divided by the mean iteration count of the ``t - 1`` solves seen so far; ChebCB costs a solve
that did not converge above any that did, and breaks ties between equally scored arms with its
seeded generator (not always towards the lowest omega)."""

import math

import numpy as np

from pdesurrogate.solvers.linear.tuners import ChebCB, TsallisINF


def tsallis_probabilities(losses: np.ndarray, eta: float) -> np.ndarray:
    """``p_i = 4 / (eta (L_i - x))^2`` summing to one, the normaliser ``x < min L`` found by
    bisection (the tuner uses Newton's method)."""
    L = losses - losses.min()
    lo, hi = -1e6, -1e-15
    for _ in range(300):
        x = (lo + hi) / 2
        lo, hi = (x, hi) if (4 / (eta * (L - x)) ** 2).sum() < 1 else (lo, x)
    w = 4 / (eta * (L - x)) ** 2
    return w / w.sum()


def test_tsallis_probabilities_follow_the_formula():
    lr, iterations = 2.0, {1.2: 30, 1.5: 10, 1.8: 40}
    tuner = TsallisINF(list(iterations), learning_rate=lr, seed=3)
    K = np.zeros(3)  # importance-weighted cumulative iterations
    total = 0
    for t in range(1, 7):
        p = tuner.probabilities()
        if t == 1:
            np.testing.assert_allclose(p, [1 / 3] * 3, rtol=1e-12)
        else:  # the scale: the mean iteration count of the t - 1 solves seen
            want = tsallis_probabilities(K / max(total / (t - 1), 1.0), lr / math.sqrt(t))
            np.testing.assert_allclose(p, want, rtol=1e-9)
        omega = tuner.choose()
        arm = tuner.omegas.index(omega)
        tuner.observe(iterations[omega])
        K[arm] += iterations[omega] / p[arm]
        total += iterations[omega]
    assert len({h["omega"] for h in tuner.history}) == 3  # every arm's loss took part


def test_chebcb_costs_a_solve_that_did_not_converge_above_one_that_converged_at_max_iter():
    """1.2 did not converge and 1.8 converged in exactly max_iter sweeps, as often: a tuner
    that costed both alike would see a tie and pick either; ChebCB picks 1.8 whatever its
    seed (no exploration bonus, and both arms seen equally, so only the costs differ)."""
    max_iter = 50
    for seed in range(10):
        tuner = ChebCB([1.2, 1.8], max_iter=max_iter, seed=seed, context_degree=0,
                       omega_degree=1, exploration=0.0)
        for arm, converged in ((0, False), (1, True)) * 3:
            tuner._pending = (arm, None)  # play this arm, as if choose() had picked it
            tuner.observe(max_iter, converged=converged)
        assert tuner.choose() == 1.8, seed


def test_chebcb_breaks_ties_with_its_seeded_generator():
    """A new tuner predicts cost 0 everywhere: the widest arms, both ends of the grid (T_k(-1)
    and T_k(1) have equal norms), tie for the first choice, and the seed picks between them."""
    grid = ChebCB().omegas
    firsts = [ChebCB(seed=s).choose() for s in range(20)]
    assert set(firsts) == {grid[0], grid[-1]}
    assert firsts == [ChebCB(seed=s).choose() for s in range(20)]  # the seed decides


def test_chebcb_maps_contexts_through_a_log_when_asked():
    """log_context=True maps context_range (1e-2, 1e2) to [-1, 1] through a log: 1e-2, 1 (the
    geometric midpoint) and 1e2 go to -1, 0 and 1, and 1e-5 clips to -1; a tuner with
    log_context=False over (-1, 1) given those mapped values has the same features. (A linear
    map would put 1 at -0.98.)"""
    log = ChebCB(context_range=(1e-2, 1e2), log_context=True)
    linear = ChebCB(context_range=(-1.0, 1.0), log_context=False)
    for context, mapped in ((1e-2, -1.0), (1.0, 0.0), (1e2, 1.0), (1e-5, -1.0),
                            (10.0, 0.5)):
        np.testing.assert_allclose(log._features(context), linear._features(mapped),
                                   rtol=0, atol=1e-12, err_msg=str(context))
