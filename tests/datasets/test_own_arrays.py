"""A user's own trajectories into our file: DatasetWriter.write_arrays from numpy arrays, and
files written with plain xarray in our layout, whose missing pieces are named with the fix."""

import warnings

import numpy as np
import pytest
import xarray as xr

from pdesurrogate.datasets import DatasetWriter, open_dataset


def advected_sines(n: int, shape: tuple[int, ...], times: np.ndarray) -> tuple:
    """``sin(2 pi (x - c t))`` (and ``+ y`` in 2-D) with one speed ``c`` per trajectory:
    ``u (n, T, 1, *shape)``, the grid ``[x]`` or ``[y, x]``, ``c (n,)``."""
    grid = [np.linspace(0.0, 1.0, m, endpoint=False) for m in shape]
    c = np.linspace(0.5, 1.5, n)
    mesh = np.meshgrid(*grid, indexing="ij")
    phase = sum(mesh)[None, None] - (c[:, None] * times[None, :])[(...,) + (None,) * len(shape)]
    return np.sin(2 * np.pi * phase)[:, :, None], grid, c


@pytest.mark.parametrize("shape", [(16,), (8, 12)])
def test_write_arrays_defaults_the_names_the_arrays_do_not_give(tmp_path, shape):
    times = np.linspace(0.0, 0.4, 5)
    u, grid, c = advected_sines(3, shape, times)
    path = DatasetWriter.write_arrays(tmp_path / "own.nc", u, times, grid, {"c": c})
    assert path == tmp_path / "own.nc"
    with open_dataset(path) as data:
        assert data.format == "pdesurrogate" and data.pde == "unknown"
        assert data.grid_names == ("x",) if len(shape) == 1 else ("y", "x")
        assert data.channel_names == ("u",)
        np.testing.assert_array_equal(data.u[:], u.astype(np.float32))
        np.testing.assert_array_equal(data.times, times)
        for got, want in zip(data.grid, grid, strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(data.params["c"], c)


def test_write_arrays_names_channels_and_refuses_a_missing_channel_axis(tmp_path):
    times = np.array([0.0, 0.1])
    u, grid, _ = advected_sines(2, (8,), times)
    two = np.concatenate([u, -u], axis=2)
    DatasetWriter.write_arrays(tmp_path / "two.nc", two, times, grid, pde="mine")
    with open_dataset(tmp_path / "two.nc") as data:
        assert data.channel_names == ("u0", "u1") and data.params == {} and data.pde == "mine"
    with pytest.raises(ValueError, match=r"u\[:, :, None\]"):
        DatasetWriter.write_arrays(tmp_path / "flat.nc", u[:, :, 0], times, grid)
    assert not (tmp_path / "flat.nc").exists()


@pytest.mark.parametrize("grid", [np.linspace(0.0, 1.0, 8), [0.0, 0.5, 1.0]])
def test_a_bare_coordinate_array_as_grid_is_refused_with_the_fix(tmp_path, grid):
    # before: "grid[0] must be a non-empty 1-D array, got shape ()", about an axis never meant
    with pytest.raises(ValueError, match=r"for a 1-D grid pass grid=\[x\]"):
        DatasetWriter(tmp_path / "a.nc", "toy", grid, ["x"], [0.0], ["u"], [], 1)
    assert list(tmp_path.iterdir()) == []


def write_with_xarray(path, attrs: dict, param_attrs: dict) -> np.ndarray:
    times = np.linspace(0.0, 0.4, 5)
    u, (x,), c = advected_sines(3, (16,), times)
    xr.Dataset({"u": (("sample", "time", "channel", "x"), u.astype(np.float32)),
                "c": (("sample",), c, param_attrs)},
               coords={"time": times, "x": x, "channel": ["u"]},
               attrs=attrs).to_netcdf(path, engine="h5netcdf")
    return c


def test_xarray_file_without_the_format_attribute_is_refused_naming_it(tmp_path):
    path = tmp_path / "plain.nc"
    write_with_xarray(path, {}, {"kind": "parameter"})
    with pytest.raises(ValueError) as e:
        open_dataset(path)
    assert "ds.attrs['pdesurrogate_format'] = 1" in str(e.value), str(e.value)
    assert "'plain.nc'" in str(e.value) or str(path) in str(e.value)


def test_xarray_per_sample_variable_without_kind_warns_naming_it(tmp_path):
    path = tmp_path / "unmarked.nc"
    write_with_xarray(path, {"pdesurrogate_format": 1}, {})
    with pytest.warns(UserWarning, match=r"\['c'\] are not read as parameters.*"
                                         r"ds\['c'\]\.attrs\['kind'\] = 'parameter'"):
        with open_dataset(path) as data:
            assert data.params == {}
    marked = tmp_path / "marked.nc"
    c = write_with_xarray(marked, {"pdesurrogate_format": 1}, {"kind": "parameter"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_dataset(marked) as data:
            np.testing.assert_array_equal(data.params["c"], c)
        # the writer's own per-sample ids and seeds are not parameters to warn about
        DatasetWriter.write_arrays(tmp_path / "ours.nc", data.u[:], data.times, data.grid,
                                   {"c": c})
        open_dataset(tmp_path / "ours.nc").close()


def test_write_arrays_creates_missing_folders(tmp_path):
    """README's block writes data/own.nc: in a fresh folder that works, as generate --out
    does (the writer alone refuses a missing folder)."""
    x, times = np.linspace(0, 1, 8, endpoint=False), np.array([0.0, 0.5])
    path = tmp_path / "data" / "runs" / "own.nc"
    DatasetWriter.write_arrays(path, np.ones((2, 2, 1, 8), np.float32), times, [x],
                               {"c": [1.0, 2.0]})
    assert open_dataset(path).u.shape == (2, 2, 1, 8)
