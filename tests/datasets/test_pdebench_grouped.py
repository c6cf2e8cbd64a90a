"""PDEBench's one-channel grouped files (synthetic, written with h5py as PDEBench writes them):
diffusion-sorption (gen_diff_sorp.py: ``data`` ``(T, X, 1)``, ``grid/x``, ``grid/t``) and the
radial dam break (sim_radial_dam_break.py: ``data`` ``(T, X, Y, 1)``, ``grid/x``, ``grid/y``,
``grid/t``), each coordinate of one entry per point (cell centres; ``grid/t`` the T saved times).
Their one channel is named ``u``, as a one-channel ``tensor`` file's is."""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import open_dataset

SEEDS, T = 3, 4


@pytest.mark.parametrize("name, grid_shape", [("1D_diff-sorp_NA_NA.h5", (6,)),
                                              ("2D_rdb_NA_NA.h5", (5, 6))])
def test_one_channel_grouped_files_read_back(tmp_path, name, grid_shape):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((SEEDS, T, *grid_shape, 1)).astype(np.float32)
    centres = [((np.arange(s) + 0.5) / s).astype(np.float32) for s in grid_shape]
    times = np.linspace(0, 1, T).astype(np.float32)
    path = tmp_path / name
    with h5py.File(path, "w") as f:
        for i in range(SEEDS):
            f[f"{i:04d}/data"] = data[i]
            for a, c in zip("xy", centres, strict=False):
                f[f"{i:04d}/grid/{a}"] = c
            f[f"{i:04d}/grid/t"] = times
    with open_dataset(path) as d:
        assert d.channel_names == ("u",) and d.grid_names == ("x", "y")[:len(grid_shape)]
        assert d.u.shape == (SEEDS, T, 1, *grid_shape)
        np.testing.assert_array_equal(d.u[:], np.moveaxis(data, -1, 2))
        np.testing.assert_array_equal(d.times, times)
        for got, want in zip(d.grid, centres, strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(d.sim_id, np.arange(SEEDS))
