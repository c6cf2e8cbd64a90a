"""The fRMSE of a Fourier band that holds no mode of the grid (|k| > 12 on 16 points, or on
16x16) is NaN, and predict's table reads it ``n/a`` with the reason. Before, it was exactly 0,
which reads as a perfect score, in predict's table, its attributes and test's logged metrics."""

import math

import numpy as np
import pytest
import torch

from pdesurrogate.metrics import NAMES, empty_bands, field_errors, trajectory_errors
from pdesurrogate.predict import metrics_table
from pdesurrogate.training.evaluation import TrajectoryMeans
from pdesurrogate.training.rollout_errors import add_rollout_errors

RNG = np.random.default_rng(5)


@pytest.mark.parametrize("grid, empty", [((16,), ("high",)), ((16, 16), ("high",)),
                                         ((9,), ("mid", "high")), ((26,), ()),
                                         ((18, 18), ())])
def test_a_band_without_a_mode_of_the_grid_is_nan_and_the_others_add_up(grid, empty):
    """NaN exactly for the bands without a mode (1-D: the high band from 26 points on; 2-D:
    from 18x18, whose largest |k| is sqrt(9^2 + 9^2) = 12.7); the bands kept still add up in
    squares to the RMSE (Parseval), so nothing was lost by leaving the empty one out."""
    truth = RNG.standard_normal((2, 2, 1, *grid))
    pred = truth + RNG.standard_normal(truth.shape)
    assert empty_bands(grid) == empty
    r = trajectory_errors(pred, truth)  # one channel: per (trajectory, frame)
    for band in ("low", "mid", "high"):
        assert np.isnan(r[f"frmse_{band}"]).all() == (band in empty), band
    assert all(np.isfinite(field_errors(pred, truth)[name]).all() for name in NAMES
               if name.removeprefix("frmse_") not in empty)
    kept = sum(r[f"frmse_{b}"] ** 2 for b in ("low", "mid", "high") if b not in empty)
    np.testing.assert_allclose(kept, r["rmse"] ** 2, rtol=1e-12)


def test_the_table_reads_n_a_and_says_why():
    metrics = {name: np.array([0.0, 0.5, 0.25]) for name in NAMES}
    metrics["frmse_high"] = np.full(3, np.nan)
    lines = metrics_table(metrics, 4).splitlines()
    assert lines[-3].split() == ["frmse_high"] + ["n/a"] * 3
    assert lines[-1] == "  frmse_high: n/a, this grid has no Fourier mode with |k| > 12"
    narrow = metrics_table(metrics, 4, width=40).splitlines()
    assert narrow.count("    frmse_high n/a") == 3 and narrow[-1] == lines[-1]
    assert not any("nan" in line for line in lines + narrow)


def test_test_logs_nan_for_the_empty_band_and_finite_values_for_the_others():
    """``pdesurrogate test`` on a 16-point grid: test/frmse_high is NaN, not 0."""
    means = TrajectoryMeans()
    truth = torch.from_numpy(RNG.standard_normal((3, 3, 1, 16)))
    pred = truth + 0.1 * torch.from_numpy(RNG.standard_normal((3, 3, 1, 16)))
    add_rollout_errors(means, "test", pred, truth)
    assert math.isnan(float(means._sums["test/frmse_high"][0]))
    for name in NAMES:
        if name not in ("max_error", "frmse_high"):
            assert math.isfinite(float(means._sums[f"test/{name}"][0])), name
