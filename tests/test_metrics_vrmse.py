"""pdesurrogate.metrics' vrmse, The Well's variance-scaled RMSE
``sqrt(mean_x e**2 / (var_x u + 1e-7))`` per trajectory, frame and channel: exact values on
constructed fields (0 for the truth, 1 for its spatial mean, |c| for a scaled deviation, a
2-channel 2-D pair worked by hand), the channel and trajectory averages against numpy's own
``np.var``, the same bits whatever the batches, and a channel whose truth is constant in space
(finite, the rmse over sqrt(1e-7)). Arrays of a few hundred points, milliseconds."""

import math
import warnings

import numpy as np
import pytest

import pdesurrogate.metrics as metrics
from pdesurrogate.metrics import NAMES, VRMSE_EPS, ErrorSums, field_errors, trajectory_errors

RNG = np.random.default_rng(11)
EPS = 1e-7  # The Well's eps, written out: the module's constant must be this one


def _mean_in_space(truth: np.ndarray) -> np.ndarray:
    """``truth``'s spatial mean per trajectory, frame and channel, broadcast over its grid."""
    grid = tuple(range(3, truth.ndim))
    return np.broadcast_to(truth.mean(axis=grid, keepdims=True), truth.shape)


def _by_numpy(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(F,)``: the formula with numpy's population variance, per channel, averaged over
    channels and then trajectories (written apart from the module's two-pass sums)."""
    grid = tuple(range(3, truth.ndim))
    per = np.sqrt(((pred - truth) ** 2).mean(axis=grid) / (np.var(truth, axis=grid) + EPS))
    return per.mean(axis=2).mean(axis=0)


def test_the_eps_is_the_wells():
    assert VRMSE_EPS == EPS
    assert "vrmse" in NAMES


def test_the_truth_itself_scores_zero():
    truth = RNG.standard_normal((3, 2, 2, 6, 5))
    r = field_errors(truth.copy(), truth)
    np.testing.assert_array_equal(r["vrmse"], np.zeros(2))


def test_the_truths_spatial_mean_scores_one_up_to_eps():
    """Predicting each channel's spatial mean: mse = var, so vrmse = sqrt(var / (var + eps)),
    1 to 1e-7 for a truth of variance about 1 (and 0.5 for a variance of eps/3: eps counts)."""
    truth = RNG.standard_normal((4, 3, 2, 8, 6))
    r = field_errors(_mean_in_space(truth), truth)
    np.testing.assert_allclose(r["vrmse"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(r["vrmse"], _by_numpy(_mean_in_space(truth), truth), rtol=1e-12)
    # a variance of eps / 3: sqrt((eps/3) / (eps/3 + eps)) = 1/2 exactly
    tiny = np.zeros((1, 1, 1, 4))
    tiny[..., :2] = math.sqrt(EPS / 3)
    tiny[..., 2:] = -math.sqrt(EPS / 3)
    assert field_errors(np.zeros_like(tiny), tiny)["vrmse"][0] == pytest.approx(0.5, rel=1e-9)


@pytest.mark.parametrize("c", [0.5, -2.0, 3.0])
def test_a_scaled_deviation_from_the_mean_scores_its_factor(c):
    """``pred = truth + c (truth - mean_x truth)``: e = c (u - mean), so vrmse = |c| (times
    sqrt(var / (var + eps)), 1 - 5e-8 here), per channel and so on average."""
    truth = 3.0 + RNG.standard_normal((2, 2, 3, 7, 9))
    pred = truth + c * (truth - _mean_in_space(truth))
    r = field_errors(pred, truth)
    np.testing.assert_allclose(r["vrmse"], abs(c), rtol=1e-6)


def test_a_two_channel_2d_pair_worked_by_hand():
    """2x2 grid. Channel 0: truth [[0, 2], [0, 2]] (mean 1, variance 1), error 1 everywhere
    (mse 1): 1 / sqrt(1 + eps). Channel 1: truth [[0, 0], [0, 4]] (mean 1, variance
    (1 + 1 + 1 + 9) / 4 = 3), error [[1, -1], [1, -1]] (mse 1): 1 / sqrt(3 + eps). vrmse is
    their mean; the rmse (1) and nrmse do not see the spread of the truth."""
    truth = np.array([[[0.0, 2.0], [0.0, 2.0]], [[0.0, 0.0], [0.0, 4.0]]])[None, None]
    e = np.array([[[1.0, 1.0], [1.0, 1.0]], [[1.0, -1.0], [1.0, -1.0]]])[None, None]
    r = trajectory_errors(truth + e, truth)
    want = (1 / math.sqrt(1 + EPS) + 1 / math.sqrt(3 + EPS)) / 2
    assert r["vrmse"][0, 0] == pytest.approx(want, rel=1e-15)
    assert r["rmse"][0, 0] == 1.0


def test_channels_then_trajectories_averaged_as_numpy_computes_it():
    """Two channels of different spread and offset (a pooled variance would differ), 2-D,
    several trajectories and frames: the module's value is the numpy formula's."""
    scale = np.array([5.0, 0.02])[:, None, None]
    shift = np.array([100.0, -3.0])[:, None, None]
    truth = shift + scale * RNG.standard_normal((5, 3, 2, 6, 7))
    pred = truth + 0.1 * scale * RNG.standard_normal(truth.shape)
    np.testing.assert_allclose(field_errors(pred, truth)["vrmse"], _by_numpy(pred, truth),
                               rtol=1e-12)


def test_an_offset_of_both_fields_changes_nothing():
    """vrmse sees deviations from the spatial mean only: adding 1e6 to both fields keeps it
    (to the rounding of the shifted values, 1e-10 here), which a one-pass variance
    mean(u**2) - mean(u)**2 would not (about 1e-4 of the variance lost)."""
    truth = RNG.standard_normal((3, 2, 2, 16))
    pred = truth + 0.3 * RNG.standard_normal(truth.shape)
    base = field_errors(pred, truth)["vrmse"]
    shifted = field_errors(pred + 1e6, truth + 1e6)["vrmse"]
    np.testing.assert_allclose(shifted, base, rtol=1e-9)


def test_the_same_bits_for_batches_of_one_and_of_all(monkeypatch):
    """Seven 2-D trajectories through ErrorSums one at a time and all at once, and with one
    trajectory per chunk (CHUNK_VALUES below one frame): the same vrmse, bit for bit, and
    per trajectory the same as trajectory_errors of the whole batch."""
    scale = np.array([2.0, 0.5])[:, None, None]
    truth = (scale * RNG.standard_normal((7, 3, 2, 12, 10))).astype(np.float32)
    pred = (truth + 0.2 * RNG.standard_normal(truth.shape)).astype(np.float32)
    whole = ErrorSums(3)
    per_all = whole.add(pred, truth)["vrmse"]
    ones = ErrorSums(3)
    per_one = np.concatenate([ones.add(pred[i:i + 1], truth[i:i + 1])["vrmse"]
                              for i in range(7)])
    np.testing.assert_array_equal(per_one, per_all)
    np.testing.assert_array_equal(ones.result()["vrmse"], whole.result()["vrmse"])
    monkeypatch.setattr(metrics, "CHUNK_VALUES", 1)
    np.testing.assert_array_equal(trajectory_errors(pred, truth)["vrmse"], per_all)
    np.testing.assert_allclose(whole.result()["vrmse"],
                               _by_numpy(pred.astype(np.float64), truth.astype(np.float64)),
                               rtol=1e-12)


def test_a_channel_constant_in_space_gets_the_rmse_over_sqrt_eps():
    """Channel 0's truth is 5 everywhere (variance 0), channel 1 varies. An error of 1e-3 on
    channel 0 scores 1e-3 / sqrt(1e-7) = 3.162 there: finite, no warning, no NaN; an exact
    prediction of it scores 0. Channel 1 errs by its own deviation from the mean (vrmse 1)."""
    truth = np.empty((1, 1, 2, 4, 4))
    truth[0, 0, 0] = 5.0
    truth[0, 0, 1] = RNG.standard_normal((4, 4))
    pred = truth.copy()
    pred[0, 0, 1] = truth[0, 0, 1].mean()
    on_1 = math.sqrt(np.var(truth[0, 0, 1]) / (np.var(truth[0, 0, 1]) + EPS))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exact = field_errors(pred, truth)["vrmse"][0]
        pred[0, 0, 0] += 1e-3
        off = field_errors(pred, truth)["vrmse"][0]
    assert exact == pytest.approx(on_1 / 2, rel=1e-12)
    assert off == pytest.approx((1e-3 / math.sqrt(EPS) + on_1) / 2, rel=1e-9)
    assert math.isfinite(off) and 1e-3 / math.sqrt(EPS) == pytest.approx(3.1623, rel=1e-4)
