"""pdesurrogate.metrics: what the mutation audit of fb0d656 found unpinned by test_metrics.py.
ErrorSums refuses a bool frame count (True is an int to isinstance), and a result is the
caller's copy, not a view of the running maximum that a later add would change."""

import numpy as np
import pytest

from pdesurrogate.metrics import ErrorSums


@pytest.mark.parametrize("frames", [True, False])
def test_a_bool_frame_count_is_refused(frames):
    with pytest.raises(ValueError, match="frames must be an int >= 1, got " + repr(frames)):
        ErrorSums(frames)


def test_a_result_is_not_changed_by_later_batches():
    """The first result's max error (1 in each frame) stays 1 after a batch erring by 5 is
    added; the new result has 5."""
    sums = ErrorSums(2)
    truth = np.zeros((1, 2, 1, 8))
    sums.add(truth + 1.0, truth)
    first = sums.result()
    sums.add(truth + 5.0, truth)
    np.testing.assert_array_equal(first["max_error"], [1.0, 1.0])
    np.testing.assert_array_equal(sums.result()["max_error"], [5.0, 5.0])
