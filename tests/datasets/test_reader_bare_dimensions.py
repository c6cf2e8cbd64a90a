"""netCDF dimensions without a coordinate variable, as xarray/h5netcdf write them."""

import numpy as np
import pytest
import xarray as xr

from pdesurrogate.datasets import open_dataset


def write(path, coords):
    """``u(sample, time, channel, x)`` of distinct values with only ``coords`` given."""
    u = np.arange(2 * 3 * 2 * 8, dtype=np.float32).reshape(2, 3, 2, 8)
    xr.Dataset({"u": (("sample", "time", "channel", "x"), u)}, coords=coords,
               attrs={"pde": "burgers"}).to_netcdf(path, engine="h5netcdf")
    return u


def test_dimensions_without_coordinates_read_as_index_positions(tmp_path):
    path = tmp_path / "bare.nc"
    u = write(path, {"time": [0.0, 0.5, 1.0]})
    with open_dataset(path) as data:
        # what xarray shows for such a dimension: positions 0 .. n - 1, not fill values
        np.testing.assert_array_equal(data.grid[0], np.arange(8.0))
        assert data.grid_names == ("x",)
        assert data.channel_names == ("u0", "u1")
        np.testing.assert_array_equal(data.times, [0.0, 0.5, 1.0])
        np.testing.assert_array_equal(data.u[1, 2], u[1, 2])


def test_written_coordinates_are_still_read(tmp_path):
    path = tmp_path / "full.nc"
    x = np.linspace(0.0, 1.0, 8, endpoint=False)
    write(path, {"time": [0.0, 0.5, 1.0], "x": x, "channel": ["a", "b"]})
    with open_dataset(path) as data:
        np.testing.assert_array_equal(data.grid[0], x)
        assert data.channel_names == ("a", "b")


def test_time_without_coordinate_is_refused_by_name(tmp_path):
    path = tmp_path / "no_time.nc"
    write(path, {})
    with pytest.raises(ValueError, match=r"no_time\.nc.*'time' is a netCDF dimension without"):
        open_dataset(path)
