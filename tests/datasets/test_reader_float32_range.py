"""A float64 file holding a finite value beyond float32's range: reading it names the file,
variable and value, instead of an inf that the finite checks then reported as NaN or Inf in
the file."""

import numpy as np
import pytest
import xarray as xr

from pdesurrogate.datasets import DatasetWriter, open_dataset


def _float64_copy(tmp_path, value: float):
    x = np.arange(8) / 8
    small = tmp_path / "f32.nc"
    with DatasetWriter(small, "toy", (x,), ("x",), np.array([0.0, 1.0]), ["u"], [], 3) as w:
        w.write(0, np.ones((3, 2, 1, 8), np.float32), {})
    with xr.open_dataset(small, engine="h5netcdf") as ds:
        ds = ds.load()
    u = ds.u.values.astype(np.float64)
    u[1, 1, 0, 2] = value
    ds["u"] = (ds.u.dims, u, ds.u.attrs)
    path = tmp_path / "f64.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def test_a_value_beyond_float32_is_named(tmp_path):
    path = _float64_copy(tmp_path, -2e39)
    with open_dataset(path) as d:
        assert d.u[0].dtype == np.float32  # the trajectories without it read as before
        with pytest.raises(ValueError, match=r"f64\.nc': variable 'u' holds -2e\+39, beyond "
                                             r"the range of float32"):
            d.u[1]
        with pytest.raises(ValueError, match="holds -2e"):
            d.u[1, :, 0, 1:4]  # a spatial subset reads another way


def test_float64_values_within_range_read_as_float32(tmp_path):
    path = _float64_copy(tmp_path, 1e30)
    with open_dataset(path) as d:
        got = d.u[1, 1, 0]
        assert got.dtype == np.float32 and got[2] == np.float32(1e30) and got[0] == 1.0
