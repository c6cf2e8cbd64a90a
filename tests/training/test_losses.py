"""relative_l2's batch reduction: the mean of the per-sample relative errors."""

import torch

from pdesurrogate.training import relative_l2


def test_mean_is_the_mean_of_per_sample_ratios():
    """Targets of norms 5 and 10, errors 5 and 0: per sample 1 and 0, so the mean is exactly
    1/2. A ratio of means (mean error / mean norm = 2.5 / 7.5) would give 1/3 and weight each
    sample by its norm."""
    t = torch.tensor([[3.0, 4.0], [6.0, 8.0]])
    p = torch.tensor([[0.0, 0.0], [6.0, 8.0]])
    assert relative_l2(p, t, reduction="none").tolist() == [1.0, 0.0]
    assert relative_l2(p, t).item() == 0.5
    # the same on fields (B, C, X): the norm runs over every axis but the first
    t3 = t.reshape(2, 1, 2).repeat(1, 3, 1)
    p3 = p.reshape(2, 1, 2).repeat(1, 3, 1)
    assert relative_l2(p3, t3).item() == 0.5
