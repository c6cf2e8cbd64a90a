"""LazyArray's reads (b9003a0): what the mutation audit found unpinned by
test_lazy_spatial_index.py, whose grids are too small or whose random keys too rarely reach
these paths. Each test counts the values read through a dataset wrapper and checks the values
against numpy: a second index list read as its covering range with the gcd of its gaps as step,
a step equal to the chunk read as the covering range, the widening of short runs (its 64-byte
boundary, the run growing with each widened axis, no widening past MAX_WIDEN_BYTES), index lists
of samples and times read one sample at a time, and whole frames read by the plain path."""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import lazy
from pdesurrogate.datasets.lazy import ArraySource, LazyArray

from .test_lazy_spatial_index import _Counted, files, no_widening  # noqa: F401  (fixtures)


def _ours(path, values, chunks=None):
    """A LazyArray over ``values`` ``(N, T, C, *grid)`` stored as ours, and its read log."""
    f = h5py.File(path, "w")
    f.create_dataset("u", data=values, chunks=chunks)
    log: list = []
    arr = LazyArray(lambda key: _Counted(f[key], log),
                    [ArraySource("u", values.shape[2], values.shape[3:],
                                 channel_axis="after_time")], values.shape)
    return f, arr, log


def test_a_second_list_is_read_every_gcd_of_its_gaps(files, no_widening):  # noqa: F811
    """Rows [0, 4, 10] stay a list (the most waste as a range); columns [0, 3, 9] are read as
    0..9 every 3rd (gcd of 3 and 6): 2 channels x 3 rows x 4 columns, picked right."""
    arr, full, log = files[False]["ours"]
    log.clear()
    rest = (slice(None), [0, 4, 10], [0, 3, 9])
    np.testing.assert_array_equal(arr[(0, 0, *rest)], full[0, 0][rest])
    assert sum(n for n, _ in log) == 2 * 3 * 4, log


def test_a_step_of_one_chunk_is_read_as_its_covering_range(files, no_widening):  # noqa: F811
    """Rows every 4th in 4 x 4 chunks: each chunk is read whole anyway, so HDF5 is asked for
    rows 0..8 without a step (a step inside a chunk is walked value by value)."""
    arr, full, log = files[True]["ours"]
    log.clear()
    key = (1, 2, 0, slice(0, 12, 4), slice(None))
    np.testing.assert_array_equal(arr[key], full[key])
    [(read, sel)] = log
    assert sel[3] == slice(0, 9, 1), sel
    assert read == 9 * full.shape[4], log


@pytest.mark.parametrize("grid, key, box", [
    # 16 columns of 4 bytes are exactly MIN_RUN_BYTES: read as they are, not as whole rows
    ((4, 40), (slice(None), slice(0, 16)), (4, 16)),
    # 3 columns widened to whole rows of 128 bytes: long enough, the 2 rows stay 2 rows
    ((8, 32), (slice(2, 4), slice(0, 3)), (2, 32)),
    # a row of 5000 values is past MAX_WIDEN_BYTES: one column is gathered, not whole rows
    ((2, 5000), (slice(None), 7), (2, 1)),
])
def test_short_runs_are_widened_as_far_as_needed(tmp_path, grid, key, box):
    values = np.random.default_rng(4).standard_normal((1, 1, 1, *grid)).astype(np.float32)
    f, arr, log = _ours(tmp_path / "u.h5", values)
    with f:
        got = arr[(0, 0, 0, *key)]
    np.testing.assert_array_equal(got, values[(0, 0, 0, *key)])
    assert lazy.MIN_RUN_BYTES == 64 and lazy.MAX_WIDEN_BYTES == 16384
    assert [n for n, _ in log] == [int(np.prod(box))], log


def test_lists_of_samples_and_times_read_one_sample_at_a_time(tmp_path):
    """Samples [0, 1, 4] and times [0, 1, 3] (neither evenly spaced) with a column list: each
    sample is read alone (HDF5 takes one list a read) with the times list, in whole rows of 8
    values (32 bytes, widened): 3 reads of 3 times x 8 columns, never the samples 2 and 3 nor
    the time 2, not asked for."""
    values = np.random.default_rng(5).standard_normal((5, 4, 1, 8)).astype(np.float32)
    f, arr, log = _ours(tmp_path / "u.h5", values)
    with f:
        got = arr[[0, 1, 4], [0, 1, 3], 0, [0, 2, 7]]
    np.testing.assert_array_equal(got, values[[0, 1, 4]][:, [0, 1, 3]][:, :, 0][..., [0, 2, 7]])
    assert [n for n, _ in log] == [24, 24, 24], log


def test_whole_frames_take_the_plain_read(files):  # noqa: F811
    """Full slices on every channel and grid axis (written out or by an Ellipsis) read the
    sample and time selection alone, as before b9003a0: no per-axis selection, no picking."""
    arr, full, log = files[False]["ours"]
    for key in [(0, 1, slice(None), slice(None), slice(None)), (0, 1, Ellipsis), (0, 1)]:
        log.clear()
        np.testing.assert_array_equal(arr[key], full[0, 1])
        assert [len(sel) for _, sel in log] == [2], (key, log)
