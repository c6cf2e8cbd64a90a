"""Opening a PDEBench file lists its top-level keys once: open_dataset lists them and the
PDEBench checks and layout reuse the list. Before, a grouped or single-array file was listed
four times (open_dataset, is_pdebench twice, pdebench_layout), about 65 ms a listing for a file
of 20,000 groups."""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import open_dataset


@pytest.fixture
def root_listings(monkeypatch):
    """The list, one entry per listing of a file's top-level keys (``h5py.Group.__iter__`` on
    the root group, which ``keys()``, ``sorted`` and ``set`` go through)."""
    seen: list[str] = []
    iterate = h5py.Group.__iter__

    def counted(group):
        if group.name == "/":
            seen.append(group.file.filename)
        return iterate(group)

    monkeypatch.setattr(h5py.Group, "__iter__", counted)
    return seen


def test_a_grouped_file_is_listed_once(tmp_path, root_listings):
    path = tmp_path / "1D_diff-sorp_NA_NA.h5"
    with h5py.File(path, "w") as f:
        for i in range(5):
            f[f"{i:04d}/data"] = np.full((3, 4), i, np.float32)
        f["0000/grid/x"], f["0000/grid/t"] = np.arange(4.0), np.arange(3.0)
    root_listings.clear()
    with open_dataset(path, progress=False) as d:
        assert root_listings == [str(path)]
        assert d.u.shape == (5, 3, 1, 4)
        np.testing.assert_array_equal(d.u[3, :, 0], np.full((3, 4), 3, np.float32))


def test_a_single_array_file_is_listed_once(tmp_path, root_listings):
    path = tmp_path / "1D_Advection_Sols_beta0.1.hdf5"
    u = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    with h5py.File(path, "w") as f:
        f["tensor"], f["x-coordinate"] = u, np.arange(4.0)
        f["t-coordinate"] = np.arange(4.0)
    root_listings.clear()
    with open_dataset(path, progress=False) as d:
        assert root_listings == [str(path)]
        np.testing.assert_array_equal(d.u[1, :, 0], u[1])
