"""A dataset's storage is checked once per file handle, not at every reopen.

A PDEBench grouped file read in shuffled order reopens a trajectory's dataset for nearly every
item (the view keeps only ``DATASET_CACHE_SIZE`` open): checking its storage again each time
cost about 85 us of a 290 us item. The check still runs for each new handle (after ``close``,
in a forked or unpickled copy), which is where a file swapped in after opening is caught.
"""

import pickle

import h5py
import numpy as np
import pytest

import pdesurrogate.datasets.reader as reader
from pdesurrogate.datasets import open_dataset

N_GROUPS = 6


def _trajectory(i: int) -> np.ndarray:
    return (i * 100 + np.arange(12, dtype=np.float32)).reshape(3, 4)


@pytest.fixture
def checks(tmp_path, monkeypatch):
    """A grouped file of ``N_GROUPS`` trajectories, a view keeping 2 datasets open, and the
    list of dataset names ``refuse_outside_data`` was asked about."""
    path = tmp_path / "1D_diff-sorp_NA_NA.h5"
    with h5py.File(path, "w") as f:
        for i in range(N_GROUPS):
            f[f"{i:04d}/data"] = _trajectory(i)
        f["0000/grid/x"], f["0000/grid/t"] = np.arange(4.0), np.arange(3.0)
    seen: list[str] = []
    check = reader.refuse_outside_data

    def counted(f, ds, where, name):
        seen.append(name)
        check(f, ds, where, name)

    monkeypatch.setattr(reader, "refuse_outside_data", counted)
    monkeypatch.setattr(reader, "DATASET_CACHE_SIZE", 2)
    return path, seen


def _read_all_twice(d) -> None:
    for _ in range(2):
        for i in range(N_GROUPS):
            np.testing.assert_array_equal(d.u[i, 1:3, 0], _trajectory(i)[1:3])


def test_reopened_datasets_are_not_checked_again(checks):
    path, seen = checks
    with open_dataset(path) as d:
        seen.clear()  # what opening the file checked
        _read_all_twice(d)  # every read reopens: only 2 datasets stay open
        assert sorted(seen) == [f"{i:04d}/data" for i in range(N_GROUPS)]


def test_a_new_handle_checks_again(checks):
    path, seen = checks
    with open_dataset(path) as d:
        _read_all_twice(d)
        seen.clear()
        d.close()  # the next read opens a new handle
        _read_all_twice(d)
        assert len(seen) == N_GROUPS
        seen.clear()
        copy = pickle.loads(pickle.dumps(d))  # as a spawned DataLoader worker gets it
        _read_all_twice(copy)
        assert len(seen) == N_GROUPS
        copy.close()
