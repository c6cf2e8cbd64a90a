"""The Well's coordinates and trajectory count (synthetic h5py files): a sample-varying
coordinate ``(N, L)`` is read when its rows agree and refused when they differ, and a file that
declares 2 or more trajectories in ``n_trajectories`` while no field has a trajectory axis is
refused, naming the count."""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import open_dataset


def write_well(path, n=3, x=None, n_attr=None, sample_varying=True) -> None:
    """A 1-D Well file with one t0 field ``u`` of 2 times and 4 points (with a trajectory axis
    of ``n`` when ``sample_varying``), ``dimensions/x`` = ``x``."""
    with h5py.File(path, "w") as f:
        if n_attr is not None:
            f.attrs["n_trajectories"] = n_attr
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x"]
        dims["time"] = np.linspace(0, 1, 2)
        dims["x"] = np.arange(4) / 4 if x is None else x
        g = f.create_group("t0_fields")
        g.attrs["field_names"] = ["u"]
        g["u"] = np.zeros((n, 2, 4) if sample_varying else (2, 4), np.float32)
        g["u"].attrs["sample_varying"] = sample_varying


def test_a_sample_varying_coordinate_repeating_one_row_is_read(tmp_path):
    rows = np.tile(np.arange(4) / 4, (3, 1))
    write_well(tmp_path / "w.hdf5", x=rows)
    with open_dataset(tmp_path / "w.hdf5") as d:
        np.testing.assert_array_equal(d.grid[0], rows[0])


@pytest.mark.parametrize("key", ["time", "x"])
def test_coordinates_that_differ_between_trajectories_are_refused(tmp_path, key):
    """The Well's loader reads a time and space row per trajectory; one time axis and grid for
    all would give trajectories 1..N-1 the first one's (was: read silently from row 0)."""
    path = tmp_path / "w.hdf5"
    write_well(path)
    rows = {"time": np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 2.0]]),
            "x": np.stack([np.arange(4) / 4, np.arange(4) / 4, np.arange(4) / 2])}[key]
    with h5py.File(path, "a") as f:
        del f[f"dimensions/{key}"]
        f[f"dimensions/{key}"] = rows
    with pytest.raises(ValueError, match=rf"^'.*w\.hdf5': 'dimensions/{key}' differs between "
                                         rf"trajectories \(row 0 starts .*, row 2 "):
        open_dataset(path)


@pytest.mark.parametrize("n", [2, 3])
def test_trajectories_declared_without_a_trajectory_axis_are_refused(tmp_path, n):
    write_well(tmp_path / "w.hdf5", n_attr=n, sample_varying=False)
    with pytest.raises(ValueError, match=f"declares {n} trajectories but no field has a "
                                         "trajectory axis"):
        open_dataset(tmp_path / "w.hdf5")


def test_one_declared_trajectory_without_a_trajectory_axis_is_read(tmp_path):
    write_well(tmp_path / "w.hdf5", n_attr=1, sample_varying=False)
    with open_dataset(tmp_path / "w.hdf5") as d:
        assert d.u.shape == (1, 2, 1, 4)


def test_times_are_read_as_stored_not_from_zero(tmp_path):
    """``dimensions/time`` starting later than 0 keeps its values (the Well's own loader
    shifts them to 0 only when asked: normalize_time_grid)."""
    write_well(tmp_path / "w.hdf5")
    with h5py.File(tmp_path / "w.hdf5", "a") as f:
        f["dimensions/time"][...] = [2.5, 3.0]
    with open_dataset(tmp_path / "w.hdf5") as d:
        np.testing.assert_array_equal(d.times, [2.5, 3.0])
