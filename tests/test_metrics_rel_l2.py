"""metrics.trajectory_errors gives the whole frame's relative L2 (one norm over all channels and
grid points) beside its PDEBench-style errors: predict takes its rel_l2_vs_truth from there, so
it must be the value predict computed before with np.linalg.norm, bit for bit, whatever the
chunking of trajectories."""

import numpy as np

import pdesurrogate.metrics as metrics
from pdesurrogate.metrics import NAMES, REL_L2, ErrorSums, trajectory_errors

RNG = np.random.default_rng(3)


def _by_norm(pred, truth):
    """``(B, F)``: ``||pred - truth|| / ||truth||`` over each frame's channels and points."""
    b, f = pred.shape[:2]
    out = np.empty((b, f))
    for j in range(f):
        t = truth[:, j].reshape(b, -1).astype(np.float64)
        out[:, j] = (np.linalg.norm(pred[:, j].reshape(b, -1) - t, axis=-1)
                     / np.maximum(np.linalg.norm(t, axis=-1), 1e-30))
    return out


def test_rel_l2_is_the_whole_frames_norm_bit_for_bit_in_any_chunking(monkeypatch):
    """Two channels of very different size (a channel average, nrmse, would differ), float32
    as predict's rollouts; one and several trajectories per chunk."""
    scale = np.array([3.0, 0.01])[:, None, None]
    truth = (RNG.standard_normal((4, 3, 2, 6, 5)) * scale).astype(np.float32)
    pred = (truth + 0.1 * RNG.standard_normal(truth.shape)).astype(np.float32)
    want = _by_norm(pred, truth)
    whole = trajectory_errors(pred, truth)
    assert list(whole) == [*NAMES, REL_L2]
    assert np.array_equal(whole[REL_L2], want)
    assert not np.allclose(whole[REL_L2], whole["nrmse"])
    monkeypatch.setattr(metrics, "CHUNK_VALUES", 1)
    assert np.array_equal(trajectory_errors(pred, truth)[REL_L2], want)
    # ErrorSums.add hands it back per trajectory; its result keeps to NAMES
    sums = ErrorSums(3)
    assert np.array_equal(sums.add(pred, truth)[REL_L2], want)
    assert list(sums.result()) == list(NAMES)


def test_a_zero_truth_is_floored():
    truth = np.zeros((1, 1, 2, 4))
    pred = np.full((1, 1, 2, 4), 1e-3)
    assert trajectory_errors(pred, truth)[REL_L2][0, 0] == np.sqrt(8e-6) / 1e-30
