"""ErrorSums fed a batch's frames a few at a time (as ``predict`` feeds a trajectory too long
to hold): the same sums, bit for bit, as whole batches, and the per-trajectory errors of each
part are those of the whole; parts out of order, of another batch size, or a result asked for
in the middle of a batch are refused, and a NaN is named at its frame in the whole batch."""

import numpy as np
import pytest

from pdesurrogate.metrics import NAMES, REL_L2, ErrorSums, trajectory_errors

F, GRID = 5, (20, 18)  # 20x18: every Fourier band holds modes


def _batches():
    rng = np.random.default_rng(3)
    return [(rng.standard_normal((b, F, 2, *GRID)).astype(np.float32),
             rng.standard_normal((b, F, 2, *GRID)).astype(np.float32)) for b in (3, 1, 4)]


def test_frames_added_in_parts_sum_bit_for_bit_as_whole_batches():
    whole, parts = ErrorSums(F), ErrorSums(F)
    for pred, truth in _batches():
        errs = whole.add(pred, truth)
        for lo, hi in ((0, 2), (2, 3), (3, 5)):
            got = parts.add(pred[:, lo:hi], truth[:, lo:hi], frame=lo)
            for name in (*NAMES, REL_L2):
                np.testing.assert_array_equal(got[name], errs[name][:, lo:hi], err_msg=name)
    a, b = whole.result(), parts.result()
    assert whole.count == parts.count == 8
    for name in NAMES:
        np.testing.assert_array_equal(b[name], a[name], err_msg=name)


def test_parts_out_of_order_or_unfinished_are_refused():
    (pred, truth), *_ = _batches()
    sums = ErrorSums(F)
    with pytest.raises(ValueError, match="frames 1..1"):
        sums.add(pred[:, 1:2], truth[:, 1:2], frame=1)  # the batch starts at frame 0
    sums.add(pred[:, :2], truth[:, :2], frame=0)
    with pytest.raises(ValueError, match="under way has frames 0..1 of 5"):
        sums.result()
    with pytest.raises(ValueError, match="2 trajectories' frames 2..2; the batch of 3"):
        sums.add(pred[:2, 2:3], truth[:2, 2:3], frame=2)
    with pytest.raises(ValueError, match="frames 2..5"):
        sums.add(np.zeros((3, 4, 2, *GRID)), np.zeros((3, 4, 2, *GRID)), frame=2)
    with pytest.raises(ValueError, match="this batch has 3"):  # a whole batch mid-batch
        sums.add(pred[:, 2:], truth[:, 2:])


def test_a_nan_is_named_at_its_frame_of_the_whole_batch():
    (pred, truth), *_ = _batches()
    truth = truth.copy()
    truth[1, 3, 0, 0, 0] = np.nan
    sums = ErrorSums(F)
    sums.add(pred[:, :3], truth[:, :3], frame=0)
    with pytest.raises(ValueError, match="truth is not finite .* trajectory 1 .*frame 3,"):
        sums.add(pred[:, 3:], truth[:, 3:], frame=3)
    with pytest.raises(ValueError, match="frame 3,"):
        trajectory_errors(pred[:, 3:], truth[:, 3:], first_frame=3)
