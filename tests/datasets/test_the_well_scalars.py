"""The Well's ``scalars/`` group read back (synthetic h5py files): a scalar of one value or of
one value per trajectory flagged ``sample_varying`` is a parameter; a time-varying one is listed
in ``attrs["time_varying_scalars"]`` and any other one, constant in time but of another size, in
``attrs["unread_scalars"]``, never labelled time-varying."""

import h5py
import numpy as np

from pdesurrogate.datasets import open_dataset

N = 3  # trajectories


def write_well(path, scalars: dict) -> None:
    """A 1-D Well file of N trajectories, 2 times and 4 points, with ``scalars``
    ``{name: (values, sample_varying, time_varying)}``."""
    with h5py.File(path, "w") as f:
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x"]
        dims["time"], dims["x"] = np.linspace(0, 1, 2), np.arange(4) / 4
        g = f.create_group("t0_fields")
        g.attrs["field_names"] = ["u"]
        g["u"] = np.zeros((N, 2, 4), np.float32)
        sc = f.create_group("scalars")
        for name, (values, sample, time) in scalars.items():
            sc[name] = values
            sc[name].attrs.update(sample_varying=sample, time_varying=time)


def test_scalars_are_parameters_time_varying_or_unread_by_their_flags_and_size(tmp_path):
    per_trajectory = np.array([1.0, 2.0, 3.0])
    write_well(tmp_path / "w.hdf5", {
        "one": (np.array([0.25]), False, False),
        "each": (per_trajectory, True, False),
        # N values but not sample_varying: not one per trajectory, whatever its length
        "constant_vector": (per_trajectory, False, False),
        "two": (np.array([5.0, 6.0]), False, False),
        "forcing": (np.arange(2.0), False, True),
    })
    with open_dataset(tmp_path / "w.hdf5") as d:
        assert set(d.params) == {"one", "each"}
        np.testing.assert_array_equal(d.params["one"], [0.25] * N)
        np.testing.assert_array_equal(d.params["each"], per_trajectory)
        assert d.attrs["time_varying_scalars"] == ["forcing"]
        assert sorted(d.attrs["unread_scalars"]) == ["constant_vector", "two"]


def test_a_file_without_scalars_lists_none(tmp_path):
    write_well(tmp_path / "w.hdf5", {})
    with open_dataset(tmp_path / "w.hdf5") as d:
        assert d.params == {}
        assert d.attrs["time_varying_scalars"] == [] and d.attrs["unread_scalars"] == []


def test_a_scalars_dataset_wins_over_the_root_attribute_of_the_same_name(tmp_path):
    """The Well lists its parameters in the root ``simulation_parameters`` attribute, each as a
    root attribute and a ``scalars/`` dataset (scripts/check_thewell_formatting.py); only the
    dataset can hold one value per trajectory (sample_varying). The dataset is read; a listed
    root attribute without a dataset fills in."""
    per_trajectory = np.array([1.0, 2.0, 3.0])
    path = tmp_path / "w.hdf5"
    write_well(path, {"alpha": (per_trajectory, True, False)})
    with h5py.File(path, "a") as f:
        f.attrs["simulation_parameters"] = ["alpha", "zeta"]
        f.attrs["alpha"], f.attrs["zeta"] = 9.0, 0.5
    with open_dataset(path) as d:
        np.testing.assert_array_equal(d.params["alpha"], per_trajectory)
        np.testing.assert_array_equal(d.params["zeta"], [0.5] * N)
