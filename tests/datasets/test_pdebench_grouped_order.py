"""A grouped PDEBench file whose root tracks creation order (h5py ``track_order=True``), its
seeds written last first: h5py lists its groups in that order, and the samples still come in
the order of the seeds' names (open_dataset sorts the one listing it takes; a mutation audit
found an unsorted listing passed every other test, h5py's default order being by name)."""

import h5py
import numpy as np

from pdesurrogate.datasets import open_dataset

SEEDS, T, X = 3, 4, 6


def test_groups_written_out_of_order_read_in_seed_order(tmp_path):
    data = np.random.default_rng(0).standard_normal((SEEDS, T, X, 1)).astype(np.float32)
    path = tmp_path / "1D_diff-sorp_NA_NA.h5"
    with h5py.File(path, "w", track_order=True) as f:
        for i in reversed(range(SEEDS)):
            f[f"{i:04d}/data"] = data[i]
            f[f"{i:04d}/grid/x"] = ((np.arange(X) + 0.5) / X).astype(np.float32)
            f[f"{i:04d}/grid/t"] = np.linspace(0, 1, T).astype(np.float32)
    with h5py.File(path, "r") as f:
        assert list(f.keys()) == ["0002", "0001", "0000"]  # the case this test is about
    with open_dataset(path) as d:
        np.testing.assert_array_equal(d.u[:], np.moveaxis(data, -1, 2))
