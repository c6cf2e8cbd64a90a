"""The curriculum's number of teacher-forced inputs at a tie: Python's round, half to even.

``n_tf = R - round(rho (R - 1))``; ``rho`` is exactly 1/2 at ``e = E / 2``, so with ``R`` even
``rho (R - 1)`` is a half-integer there and the rounding rule decides ``n_tf``.
"""

import pytest
from torch import nn

from pdesurrogate.training import NextStepModule, curriculum_fraction
from pdesurrogate.training.next_step import teacher_forced_steps


@pytest.mark.parametrize("R", [2, 3, 4, 5, 6, 8])
def test_half_rounds_to_even(R):
    """At rho = 1/2: R - (R - 1)/2 for odd R (no tie); for even R the autoregressive count
    (R - 1)/2 = k + 1/2 rounds to the even one of k, k + 1 (R = 2: 2, R = 4: 2, R = 6: 4,
    R = 8: 4)."""
    half = (R - 1) / 2
    k = int(half)
    n_ar = k if half == k else (k if k % 2 == 0 else k + 1)
    assert teacher_forced_steps(R, 0.5) == R - n_ar
    assert teacher_forced_steps(R, 0.0) == R and teacher_forced_steps(R, 1.0) == 1


@pytest.mark.parametrize("R, n_tf", [(2, 2), (4, 2), (6, 4)])
def test_module_at_the_curriculum_midpoint(R, n_tf):
    """NextStepModule at epoch E/2 (rho exactly 1/2) uses the tie rule above."""
    E = 4
    assert curriculum_fraction(E / 2, E) == 0.5
    with pytest.warns(UserWarning, match="not in pdesurrogate.models.MODELS"):
        m = NextStepModule(nn.Identity(), scheduler="none", rollout_steps=R, curriculum=True,
                           curriculum_epochs=E)
    assert m.teacher_forced_steps(E // 2) == n_tf
