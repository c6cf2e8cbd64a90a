"""The Well files (synthetic, written with h5py in the Well's layout) read back exactly."""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import open_dataset


def _flags(ds, sample=True, time=True, dims=(True, True)):
    ds.attrs["sample_varying"], ds.attrs["time_varying"] = sample, time
    ds.attrs["dim_varying"] = np.array(dims)


def test_well_fields_scalars_and_broadcasts(tmp_path):
    """t0 then t1 (x, y) then t2 (xx, xy, yx, yy) channels; a time-constant field and a field
    without the y axis are broadcast; scalars and root parameters become params (exact)."""
    rng = np.random.default_rng(0)
    n, t, nx, ny = 3, 4, 5, 6
    dens = rng.standard_normal((n, t, nx, ny)).astype(np.float32)
    mask = rng.standard_normal((n, nx, ny)).astype(np.float32)  # not time-varying
    prof = rng.standard_normal((n, t, nx)).astype(np.float32)  # constant along y
    vel = rng.standard_normal((n, t, nx, ny, 2)).astype(np.float32)
    stress = rng.standard_normal((n, t, nx, ny, 2, 2)).astype(np.float32)
    path = tmp_path / "shear_flow_Re1e4.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="shear_flow", n_trajectories=n, n_spatial_dims=2,
                       grid_type="cartesian", simulation_parameters=["Reynolds", "Schmidt"],
                       Reynolds=1e4, Schmidt=0.5)
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims["time"] = np.linspace(0, 3, t)
        dims["x"], dims["y"] = np.arange(nx) / nx, np.arange(ny) / ny
        g0 = f.create_group("t0_fields")
        g0.attrs["field_names"] = ["density", "mask", "profile"]
        g0["density"], g0["mask"], g0["profile"] = dens, mask, prof
        _flags(g0["density"])
        _flags(g0["mask"], time=False)
        _flags(g0["profile"], dims=(True, False))
        g1 = f.create_group("t1_fields")
        g1.attrs["field_names"] = ["velocity"]
        g1["velocity"] = vel
        _flags(g1["velocity"])
        g2 = f.create_group("t2_fields")
        g2.attrs["field_names"] = ["stress"]
        g2["stress"] = stress
        _flags(g2["stress"])
        sc = f.create_group("scalars")
        sc.attrs["field_names"] = ["Reynolds", "forcing"]
        sc["Reynolds"] = np.array([1e4])
        sc["Reynolds"].attrs.update(sample_varying=False, time_varying=False)
        sc["forcing"] = np.arange(t, dtype=np.float64)
        sc["forcing"].attrs.update(sample_varying=False, time_varying=True)
        bc = f.create_group("boundary_conditions/x_periodic")
        bc.attrs["bc_type"] = "periodic"
    with open_dataset(path) as d:
        assert d.format == "the_well" and d.pde == "shear_flow"
        assert d.channel_names == ("density", "mask", "profile", "velocity_x", "velocity_y",
                                   "stress_xx", "stress_xy", "stress_yx", "stress_yy")
        assert d.u.shape == (n, t, 9, nx, ny) and d.grid_names == ("x", "y")
        full = d.u[:]
        np.testing.assert_array_equal(full[:, :, 0], dens)
        np.testing.assert_array_equal(full[:, :, 1], np.broadcast_to(mask[:, None], dens.shape))
        np.testing.assert_array_equal(full[:, :, 2], np.broadcast_to(prof[..., None], dens.shape))
        np.testing.assert_array_equal(full[:, :, 3:5], np.moveaxis(vel, -1, 2))
        np.testing.assert_array_equal(full[:, :, 5:], np.moveaxis(stress.reshape(n, t, nx, ny, 4),
                                                                  -1, 2))
        np.testing.assert_array_equal(d.u[1, [3, 0], 4], vel[1, [3, 0], ..., 1])
        np.testing.assert_array_equal(d.params["Reynolds"], [1e4] * n)
        np.testing.assert_array_equal(d.params["Schmidt"], [0.5] * n)
        assert "forcing" not in d.params and d.attrs["time_varying_scalars"] == ["forcing"]
        assert d.attrs["boundary_conditions"] == {"x_periodic": "periodic"}
        np.testing.assert_allclose(d.times, np.linspace(0, 3, t))


def test_well_1d_without_optional_attrs(tmp_path):
    """Minimal 1-D file: no field_names/flags attrs, n from the data (exact values)."""
    u = np.random.default_rng(1).standard_normal((2, 3, 7)).astype(np.float32)
    path = tmp_path / "w.hdf5"
    with h5py.File(path, "w") as f:
        f["dimensions/time"] = np.arange(3.0)
        f["dimensions/x"] = np.arange(7.0)
        f["t0_fields/u"] = u
    with open_dataset(path) as d:
        assert d.u.shape == (2, 3, 1, 7) and d.params == {}
        np.testing.assert_array_equal(d.u[:, :, 0], u)


def _well(path, **replace):
    """A minimal 1-D Well file: dimensions/time (3,), dimensions/x (5,), t0_fields/u (2, 3, 5),
    scalars/c; ``replace`` swaps a dataset (by path) for another value, or a group: "group"."""
    items = {"dimensions/time": np.arange(3.0), "dimensions/x": np.arange(5.0),
             "t0_fields/u": np.zeros((2, 3, 5), np.float32), "scalars/c": np.array(1.5),
             **replace}
    with h5py.File(path, "w") as f:
        f.create_group("dimensions").attrs["spatial_dims"] = ["x"]
        for key, value in items.items():
            if isinstance(value, str) and value == "group":
                f.create_group(key)
            else:
                f[key] = value
    return path



@pytest.mark.parametrize("key, value, message", [
    ("t0_fields/u", "group", r"'t0_fields/u' is an HDF5 group; expected a numeric array"),
    ("dimensions/time", "group", r"'dimensions/time' is an HDF5 group"),
    ("dimensions/x", np.array([b"a"] * 5), r"'dimensions/x' holds strings"),
    ("scalars/c", b"fast", r"'scalars/c' holds strings; expected numbers"),
    ("t0_fields/u", np.array([[[b"a"] * 5] * 3] * 2), r"'t0_fields/u' holds strings"),
    ("dimensions/time", np.arange(4.0),
     r"t0_fields/u has shape \(2, 3, 5\), expected \(2, 4, 5\): trajectories, time \(4 entries "
     r"in 'dimensions/time'\), x \(5 entries in 'dimensions/x'\)"),
    ("dimensions/x", np.arange(7.0), r"t0_fields/u .* x \(7 entries in 'dimensions/x'\)"),
])
def test_malformed_well_files_name_file_and_key(tmp_path, key, value, message):
    """Groups or strings where numbers belong, and coordinates whose lengths disagree with a
    field: one ValueError naming the file and the key (was: AttributeError, h5py's TypeError,
    "could not convert string to float: b'fast'")."""
    path = _well(tmp_path / "bad.hdf5", **{key: value})
    with pytest.raises(ValueError, match=rf"^'.*bad\.hdf5': {message}"):
        open_dataset(path)


def test_minimal_well_file_reads(tmp_path):
    with open_dataset(_well(tmp_path / "ok.hdf5")) as d:
        assert d.u.shape == (2, 3, 1, 5) and d.params["c"].tolist() == [1.5, 1.5]
