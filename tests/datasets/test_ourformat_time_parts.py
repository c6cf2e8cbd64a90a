"""DatasetWriter.write(..., time=t): a block of samples stored a few saved times at a time (as
``predict`` writes a trajectory too long to hold) reads back as written whole; a file with a
time left unwritten is discarded on close, and a time or a part outside the file is refused."""

import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, open_dataset

T, NX = 7, 12


def _writer(path):
    return DatasetWriter(path, "toy", (np.arange(NX) / NX,), ("x",), np.arange(T) * 0.5,
                         ["u", "v"], ["nu"], 3)


def test_time_parts_read_back_as_the_whole(tmp_path):
    u = np.random.default_rng(0).standard_normal((3, T, 2, NX)).astype(np.float32)
    nu = np.array([0.1, 0.2, 0.3])
    with _writer(tmp_path / "d.nc") as w:
        w.write(2, u[2:], {"nu": nu[2:]}, sim_id=[12])
        for lo, hi in ((4, 7), (0, 1), (1, 4)):  # in any order
            w.write(0, u[:2, lo:hi], {"nu": nu[:2]}, sim_id=[10, 11], time=lo)
    data = open_dataset(tmp_path / "d.nc")
    try:
        np.testing.assert_array_equal(data.u[:], u)
        np.testing.assert_array_equal(data.params["nu"], nu)
        np.testing.assert_array_equal(data.sim_id, [10, 11, 12])
    finally:
        data.close()


def test_an_unwritten_time_or_a_part_outside_the_file_is_refused(tmp_path):
    u = np.zeros((3, T, 2, NX), np.float32)
    w = _writer(tmp_path / "d.nc")
    with pytest.raises(ValueError, match=r"time must be an int in 0..6, got 7"):
        w.write(0, u[:, :1], {"nu": np.zeros(3)}, time=7)
    with pytest.raises(ValueError, match=r"\(b, f <= 2, ...\) from time 5"):
        w.write(0, u[:, :3], {"nu": np.zeros(3)}, time=5)
    w.write(0, u[:, :6], {"nu": np.zeros(3)})  # six of the seven times
    with pytest.raises(RuntimeError, match="3 of 3 samples were never written"):
        w.close()
    assert not (tmp_path / "d.nc").exists()
