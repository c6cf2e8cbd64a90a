"""What a :class:`FieldData` keeps open per process: HDF5 datasets, sieve and chunk caches.

A PDEBench grouped file has one HDF5 dataset per trajectory; each one kept open holds HDF5
state and a data-sieve buffer (64 KiB by default), so the view must not keep them all.
"""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import open_dataset
from pdesurrogate.datasets.reader import CHUNK_CACHE_BYTES, DATASET_CACHE_SIZE, SIEVE_BUF_BYTES

N_GROUPS = 2000


def _open_datasets() -> int:
    """HDF5 datasets open in this process, in any file."""
    return h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_DATASET)


def _handle_of(path) -> h5py.h5f.FileID:
    """The one HDF5 file handle this process holds on ``path``."""
    found = [fid for fid in h5py.h5f.get_obj_ids(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE)
             if fid.name == str(path).encode()]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    """A grouped file of ``N_GROUPS`` trajectories ``data (T=3, X=4)``, trajectory ``i``
    holding ``i * 100 + arange(12)`` so every read can be checked exactly."""
    path = tmp_path_factory.mktemp("grouped") / "1D_diff-sorp_NA_NA.h5"
    with h5py.File(path, "w") as f:
        for i in range(N_GROUPS):
            f[f"{i:04d}/data"] = _trajectory(i)
        f["0000/grid/x"], f["0000/grid/t"] = np.arange(4.0), np.arange(3.0)
    return path


def _trajectory(i: int) -> np.ndarray:
    return (i * 100 + np.arange(12, dtype=np.float32)).reshape(3, 4)


def test_reading_every_trajectory_keeps_a_bounded_number_of_datasets_open(grouped):
    before = _open_datasets()
    with open_dataset(grouped) as d:
        assert d.u.shape == (N_GROUPS, 3, 1, 4)
        for i in range(N_GROUPS):
            np.testing.assert_array_equal(d.u[i, :, 0], _trajectory(i))
            assert _open_datasets() - before <= DATASET_CACHE_SIZE
        assert _open_datasets() - before == DATASET_CACHE_SIZE
        # a trajectory dropped from the cache is opened again and read right
        np.testing.assert_array_equal(d.u[[0, N_GROUPS - 1], 1, 0],
                                      [_trajectory(0)[1], _trajectory(N_GROUPS - 1)[1]])
    assert _open_datasets() == before


def test_files_are_read_with_a_small_sieve_buffer(grouped):
    with open_dataset(grouped) as d:
        d.u[0]
        fapl = _handle_of(grouped).get_access_plist()
        assert fapl.get_sieve_buf_size() == SIEVE_BUF_BYTES


def _chunk_caches(path) -> list[int]:
    """Chunk cache size in bytes of each dataset this process holds open in ``path``."""
    return [i.get_access_plist().get_chunk_cache()[1]
            for i in h5py.h5f.get_obj_ids(_handle_of(path), h5py.h5f.OBJ_DATASET)]


def test_one_chunk_cache_budget_is_split_among_a_files_fields(tmp_path):
    """A PDEBench CFD file with 4 chunked fields: 4 caches of a quarter of the budget each,
    not 4 of the whole budget (HDF5 sizes the cache per dataset)."""
    fields = ("density", "pressure", "Vx", "Vy")
    path = tmp_path / "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_Train.hdf5"
    with h5py.File(path, "w") as f:
        for c, k in enumerate(fields):
            f.create_dataset(k, data=np.full((2, 3, 4, 4), c, np.float32), chunks=(1, 3, 4, 4))
        f["x-coordinate"] = f["y-coordinate"] = np.arange(4.0)
        f["t-coordinate"] = np.arange(4.0)
    with open_dataset(path) as d:
        frame = d.u[1, 2]
        np.testing.assert_array_equal(frame, np.arange(4.0)[:, None, None] * np.ones((4, 4, 4)))
        assert _chunk_caches(path) == [CHUNK_CACHE_BYTES // 4] * 4


def test_a_grouped_files_open_trajectories_share_one_chunk_cache_budget(tmp_path):
    """Chunked trajectories (HDF5 reports no chunk cache for contiguous ones): the
    ``DATASET_CACHE_SIZE`` open at once hold one budget between them."""
    path = tmp_path / "1D_diff-sorp_NA_NA.h5"
    n = 2 * DATASET_CACHE_SIZE
    with h5py.File(path, "w") as f:
        for i in range(n):
            f.create_dataset(f"{i:04d}/data", data=_trajectory(i), chunks=(1, 4))
        f["0000/grid/x"], f["0000/grid/t"] = np.arange(4.0), np.arange(3.0)
    with open_dataset(path) as d:
        np.testing.assert_array_equal(d.u[:, :, 0], [_trajectory(i) for i in range(n)])
        caches = _chunk_caches(path)
        assert len(caches) == DATASET_CACHE_SIZE
        assert sum(caches) <= CHUNK_CACHE_BYTES
