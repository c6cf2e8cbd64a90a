"""DatasetWriter.write_arrays and the reader's checks on a user's own files, in the cases
test_own_arrays leaves open: torch tensors that require grad, names and writer options given,
a grid that is a string, a u with an axis too many, an integer parameter left unmarked and a
file with 'u' but no 'time'. Each kills a mutant of the code that test_own_arrays let through."""

import numpy as np
import pytest
import torch
import xarray as xr

from pdesurrogate.datasets import DatasetWriter, open_dataset

TIMES = np.array([0.0, 0.1, 0.2])


def sines(n: int, nx: int) -> tuple[np.ndarray, np.ndarray]:
    """``u (n, 3, 1, nx)``: ``sin(2 pi (x - t) + i)`` for trajectory ``i``, and ``x (nx,)``."""
    x = np.linspace(0.0, 1.0, nx, endpoint=False)
    phase = 2 * np.pi * (x[None, None] - TIMES[None, :, None]) + np.arange(n)[:, None, None]
    return np.sin(phase)[:, :, None], x


def test_a_tensor_that_requires_grad_is_written_as_its_values(tmp_path):
    u, x = sines(2, 8)
    # a differentiable solver's output: numpy cannot take it without detach
    ut = torch.tensor(u, dtype=torch.float64, requires_grad=True)
    path = DatasetWriter.write_arrays(tmp_path / "t.nc", ut, TIMES, [torch.tensor(x)],
                                      {"k": torch.tensor([1.0, 2.0])})
    with open_dataset(path) as data:
        np.testing.assert_array_equal(data.u[:], u.astype(np.float32))
        np.testing.assert_array_equal(data.params["k"], [1.0, 2.0])


def test_given_names_and_writer_options_are_kept(tmp_path):
    u, x = sines(2, 8)
    path = tmp_path / "named.nc"
    DatasetWriter.write_arrays(path, u, TIMES, [x], grid_names=["r"], channel_names=["h"])
    with open_dataset(path) as data:
        assert data.grid_names == ("r",) and data.channel_names == ("h",)
    # the writer's keyword arguments reach it: overwrite=False (its default) refuses, True
    # replaces the file
    with pytest.raises(FileExistsError):
        DatasetWriter.write_arrays(path, -u, TIMES, [x], overwrite=False)
    with open_dataset(path) as data:
        np.testing.assert_array_equal(data.u[:], u.astype(np.float32))
    DatasetWriter.write_arrays(path, -u, TIMES, [x], overwrite=True)
    with open_dataset(path) as data:
        np.testing.assert_array_equal(data.u[:], -u.astype(np.float32))


@pytest.mark.parametrize("grid", ["x", b"x"])
def test_a_grid_given_as_text_is_refused_naming_what_to_give(tmp_path, grid):
    u, _ = sines(1, 8)
    with pytest.raises(ValueError, match=r"list of 1-D coordinate arrays.*got (str|bytes)"):
        DatasetWriter.write_arrays(tmp_path / "s.nc", u, TIMES, grid)
    assert list(tmp_path.iterdir()) == []


def test_u_with_an_axis_too_many_is_refused_counting_the_grid(tmp_path):
    u, x = sines(2, 8)
    with pytest.raises(ValueError, match=r"one axis per grid coordinate \(1 given\)"):
        DatasetWriter.write_arrays(tmp_path / "e.nc", u[:, :, None], TIMES, [x])
    assert list(tmp_path.iterdir()) == []


def test_an_unmarked_integer_per_sample_variable_warns(tmp_path):
    u, x = sines(3, 8)
    path = tmp_path / "ints.nc"
    xr.Dataset({"u": (("sample", "time", "channel", "x"), u.astype(np.float32)),
                "order": (("sample",), np.array([1, 2, 3], dtype=np.uint16))},
               coords={"time": TIMES, "x": x, "channel": ["u"]},
               attrs={"pdesurrogate_format": 1}).to_netcdf(path, engine="h5netcdf")
    with pytest.warns(UserWarning, match=r"\['order'\] are not read as parameters"):
        open_dataset(path).close()


def test_a_file_with_u_but_no_time_is_an_unknown_layout_not_a_missing_attribute(tmp_path):
    path = tmp_path / "u_only.nc"
    xr.Dataset({"u": (("a", "b"), np.zeros((2, 3)))}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match="unknown HDF5 layout") as e:
        open_dataset(path)
    assert "pdesurrogate_format'] = 1" not in str(e.value)
