"""Our netCDF file: writer round trip, xarray compatibility, chunking, atomic rename."""

import json
import os

import h5py
import numpy as np
import pytest
import xarray as xr

from pdesurrogate.datasets import DatasetWriter, open_dataset
from pdesurrogate.datasets.ourformat import MAX_CHUNK_BYTES, chunk_shape


def _write(path, u, params, grid, grid_names, times, **kw):
    n = u.shape[0]
    with DatasetWriter(path, "toy", grid, grid_names, times, [f"c{i}" for i in range(u.shape[2])],
                       list(params), n, attrs={"extra": {"a": 1}}, **kw) as w:
        half = n // 2
        w.write(0, u[:half], {k: v[:half] for k, v in params.items()})
        w.write(half, u[half:], {k: v[half:] for k, v in params.items()}, seed=7)


def test_round_trip_1d_exact_values(tmp_path):
    """Every float32 value, coordinate and parameter reads back bit-identical (tolerance 0)."""
    rng = np.random.default_rng(0)
    u = rng.standard_normal((5, 4, 2, 16)).astype(np.float32)
    params = {"nu": rng.uniform(size=5), "beta": rng.uniform(size=5)}
    x = np.linspace(0, 1, 16, endpoint=False)
    times = np.array([0.0, 0.1, 0.2, 0.5])
    path = tmp_path / "a.nc"
    _write(path, u, params, (x,), ("x",), times, seed=3, solver_settings={"n_points": 16})
    with open_dataset(path) as d:
        assert d.format == "pdesurrogate" and d.pde == "toy" and len(d) == 5
        assert d.u.shape == (5, 4, 2, 16) and d.u.dtype == np.float32
        np.testing.assert_array_equal(d.u[:], u)
        np.testing.assert_array_equal(d.times, times)
        np.testing.assert_array_equal(d.grid[0], x)
        assert d.grid_names == ("x",) and d.channel_names == ("c0", "c1")
        assert list(d.params) == ["nu", "beta"]
        np.testing.assert_array_equal(d.params["nu"], params["nu"])
        np.testing.assert_array_equal(d.sim_id, np.arange(5))
        assert d.attrs["Conventions"] == "CF-1.8" and d.attrs["seed"] == 3
        assert json.loads(d.attrs["solver_settings"]) == {"n_points": 16}
        assert json.loads(d.attrs["extra"]) == {"a": 1}
        assert isinstance(d.attrs["pdesurrogate_version"], str)
    with h5py.File(path) as f:
        assert f["u"].chunks == (1, 4, 2, 16)
        np.testing.assert_array_equal(f["seed"][()], [-1, -1, 7, 7, 7])


def test_xarray_opens_2d_file(tmp_path):
    """xarray (engine h5netcdf) sees u(sample, time, channel, y, x), coordinates with units,
    string channel names and parameter variables; values equal what was written (exact)."""
    rng = np.random.default_rng(1)
    u = rng.standard_normal((3, 2, 1, 4, 6)).astype(np.float32)
    y, x = np.arange(4) * 0.25, np.arange(6) / 6
    path = tmp_path / "b.nc"
    _write(path, u, {"kappa": np.arange(3.0)}, (y, x), ("y", "x"), [0.0, 1.0])
    ds = xr.open_dataset(path, engine="h5netcdf")
    try:
        assert ds["u"].dims == ("sample", "time", "channel", "y", "x")
        assert ds["u"].dtype == np.float32
        np.testing.assert_array_equal(ds["u"].values, u)
        assert list(ds["channel"].values) == ["c0"]
        assert ds["x"].attrs["units"] == "1" and ds["time"].attrs["units"] == "1"
        assert ds["kappa"].attrs["kind"] == "parameter"
        np.testing.assert_array_equal(ds["kappa"].values, np.arange(3.0))
        assert ds["sim_id"].dtype == np.int64
        assert ds.attrs["pde"] == "toy"
    finally:
        ds.close()
    with open_dataset(path) as d:
        assert d.grid_names == ("y", "x")
        np.testing.assert_array_equal(d.u[1, 1], u[1, 1])


def test_exception_leaves_no_file(tmp_path):
    """An exception inside the with block deletes the temporary file; nothing under path."""
    path = tmp_path / "c.nc"
    with pytest.raises(KeyError):
        with DatasetWriter(path, "toy", (np.arange(4.0),), ("x",), [0.0], ["u"], [], 2) as w:
            w.write(0, np.zeros((1, 1, 1, 4)), {})
            assert any(p.name.startswith("c.nc.tmp-") for p in tmp_path.iterdir())
            raise KeyError("boom")
    assert os.listdir(tmp_path) == []


def test_missing_samples_is_an_error(tmp_path):
    """Closing before all samples were written raises and leaves no file."""
    path = tmp_path / "d.nc"
    with pytest.raises(RuntimeError, match="never written"):
        with DatasetWriter(path, "toy", (np.arange(4.0),), ("x",), [0.0], ["u"], [], 3) as w:
            w.write(0, np.zeros((2, 1, 1, 4)), {})
    assert os.listdir(tmp_path) == []


def test_bad_inputs_name_the_problem(tmp_path):
    """Wrong shapes, NaNs, missing parameters and reserved names raise ValueError."""
    path = tmp_path / "e.nc"
    with pytest.raises(ValueError, match="reserved"):
        DatasetWriter(path, "toy", (np.arange(4.0),), ("x",), [0.0], ["u"], ["time"], 1)
    with DatasetWriter(path, "toy", (np.arange(4.0),), ("x",), [0.0], ["u"], ["nu"], 2) as w:
        with pytest.raises(ValueError, match="shape"):
            w.write(0, np.zeros((1, 1, 1, 5)), {"nu": [1.0]})
        with pytest.raises(ValueError, match="missing"):
            w.write(0, np.zeros((1, 1, 1, 4)), {})
        with pytest.raises(ValueError, match="NaN"):
            w.write(0, np.full((1, 1, 1, 4), np.nan), {"nu": [1.0]})
        with pytest.raises(ValueError, match="outside"):
            w.write(1, np.zeros((2, 1, 1, 4)), {"nu": [1.0, 2.0]})
        w.write(0, np.zeros((2, 1, 1, 4)), {"nu": [1.0, 2.0]})
    assert path.exists()


def test_chunks_split_time_only_for_large_trajectories():
    """A trajectory chunk is (1, T, C, *grid) unless it exceeds MAX_CHUNK_BYTES; then the
    time axis is split so one chunk fits (and never below one frame)."""
    assert chunk_shape(10, 2, (16,)) == (1, 10, 2, 16)
    frame = 4 * 256 * 256
    big = chunk_shape(100, 1, (256, 256))
    assert big == (1, MAX_CHUNK_BYTES // frame, 1, 256, 256) and big[1] < 100
    assert chunk_shape(5, 3, (2048, 2048))[1] == 1
