"""ChebCB's selection rule on a hand-made history: the arm of least ``mean - exploration *
width`` (LinUCB for costs), with mean and width in closed form.

Two arms, omega 1.2 and 1.8, omega features ``[T0, T1] = [1, -1]`` and ``[1, 1]`` (context
degree 0), which are orthogonal: with ``A = ridge I + sum x x^T`` and ``b = sum cost x`` over
``n`` solves of one arm at cost ``c = log(1 + iterations)``, that arm's predicted cost is
``x^T A^-1 b = 2 n c / (ridge + 2 n)`` and its width ``sqrt(x^T A^-1 x) = sqrt(2 / (ridge +
2 n))``, whatever the other arm saw.
"""

import math

import pytest

from pdesurrogate.solvers.linear.tuners import ChebCB

RIDGE = 0.1
# (arm, solves, iterations per solve): the well-tried 1.2 is a little cheaper than the 1.8
# tried once, so only the bonus of the wider 1.8 can make it the choice
HISTORY = ((0, 20, 9), (1, 1, 99))


def closed_form(solves: int, iterations: int) -> tuple[float, float]:
    cost = math.log1p(iterations)
    return 2 * solves * cost / (RIDGE + 2 * solves), math.sqrt(2 / (RIDGE + 2 * solves))


def tuner_after_history(exploration: float) -> ChebCB:
    tuner = ChebCB([1.2, 1.8], context_degree=0, omega_degree=1, ridge=RIDGE,
                   exploration=exploration)
    for arm, solves, iterations in HISTORY:
        for _ in range(solves):
            tuner._pending = (arm, None)  # play this arm, as if choose() had picked it
            tuner.observe(iterations)
    return tuner


def test_exploration_bonus_is_subtracted_from_the_predicted_cost():
    """The switch from 1.2 to 1.8 happens at exploration = (mean_18 - mean_12) / (width_18 -
    width_12) = 2.78: 1.2 at 0 and at 0.99 of it, 1.8 at 1.01 of it and at 5 (a bonus added
    instead of subtracted would keep 1.2 for every exploration >= 0)."""
    (mean_12, width_12), (mean_18, width_18) = (closed_form(n, it) for _, n, it in HISTORY)
    assert mean_12 < mean_18 and width_12 < width_18
    switch = (mean_18 - mean_12) / (width_18 - width_12)
    assert switch == pytest.approx(2.776, abs=1e-3)
    for exploration, omega in ((0.0, 1.2), (0.99 * switch, 1.2), (1.01 * switch, 1.8),
                               (5.0, 1.8)):
        assert tuner_after_history(exploration).choose() == omega, exploration
        assert tuner_after_history(exploration).choose(3.0) == omega, exploration
