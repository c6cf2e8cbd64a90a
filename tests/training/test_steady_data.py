"""``SteadyDataModule``: samples of a steady file (ours and PDEBench's Darcy flow) as
input/target pairs, split and normalised as ``FieldDataModule`` does, and one clear error for
a wrong channel name, a time-dependent file or a file that declares no map."""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, generate_dataset, open_dataset, split_indices
from pdesurrogate.solvers import Burgers1D, Darcy2D
from pdesurrogate.training import FieldDataModule, SteadyDataModule


@pytest.fixture
def darcy_file(tmp_path):
    """10 samples of the real Darcy solver on an 8x8 grid: channels [a, u]."""
    path = tmp_path / "darcy.nc"
    generate_dataset(Darcy2D(n=8, tuner="fixed"), path, samples=10, times=[0.0], seed=0,
                     workers=1, progress=False)
    return path


def test_split_is_by_sample_disjoint_covering_and_that_of_fielddatamodule(darcy_file):
    dm = SteadyDataModule(str(darcy_file), fractions=(0.6, 0.2, 0.2), seed=3)
    dm.setup("fit")
    parts = [dm.train_indices, dm.val_indices, dm.test_indices]
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    for ours, theirs in zip(parts, split_indices(10, (0.6, 0.2, 0.2), 3), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert dm.data_info["inputs"] == ["a"] and dm.data_info["targets"] == ["u"]


def test_items_are_the_named_channels_and_stats_come_from_the_training_split(darcy_file):
    dm = SteadyDataModule(str(darcy_file), batch_size=3, fractions=(0.5, 0.3, 0.2))
    dm.setup("fit")
    with open_dataset(darcy_file) as d:
        u = np.asarray(d.u[:, 0], dtype=np.float64)  # (N, 2, 8, 8): [a, u]
    train = u[dm.train_indices]
    np.testing.assert_allclose(dm.stats.mean, train.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(dm.stats.std, train.std(axis=(0, 2, 3)), rtol=1e-6)
    # not the whole file's: the pressure's mean differs between the two
    assert abs(dm.stats.mean[1] - u[:, 1].mean()) > 1e-6
    batch = next(iter(dm.val_dataloader()))
    assert batch["input"].shape == (3, 1, 8, 8) and batch["target"].shape == (3, 1, 8, 8)
    np.testing.assert_array_equal(batch["input"][:, 0], u[dm.val_indices[:3], 0])
    np.testing.assert_array_equal(batch["target"][:, 0], u[dm.val_indices[:3], 1])


def test_names_may_be_given_and_a_wrong_one_names_file_name_and_channels(darcy_file):
    dm = SteadyDataModule(str(darcy_file), inputs=["u"], targets=["a"])
    dm.setup("fit")
    assert dm.input_index == [1] and dm.target_index == [0]
    bad = SteadyDataModule(str(darcy_file), inputs=["k"])
    with pytest.raises(ValueError, match=r"darcy\.nc' has no channel 'k' \(given in inputs\); "
                                         r"its channels are \['a', 'u'\]"):
        bad.setup("fit")


def test_a_time_dependent_file_points_to_fielddatamodule(tmp_path):
    path = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=16), path, samples=4, times=[0.0, 0.1, 0.2], seed=0,
                     workers=1, progress=False)
    with pytest.raises(ValueError, match=r"burgers\.nc' holds 3 saved times per trajectory.*"
                                         "FieldDataModule"):
        SteadyDataModule(str(path), inputs=["u"], targets=["u"]).setup("fit")


def test_fielddatamodule_on_a_steady_file_names_the_steady_module(darcy_file):
    with pytest.raises(ValueError, match="holds a steady problem.*SteadyDataModule"):
        FieldDataModule(str(darcy_file)).setup("fit")


def test_a_file_without_a_declared_map_needs_the_names(tmp_path):
    path = tmp_path / "other.nc"
    x = np.arange(4.0)
    with DatasetWriter(path, "elliptic", (x, x), ("y", "x"), [0.0], ["k", "p"], [], 3) as w:
        w.write(0, np.ones((3, 1, 2, 4, 4), np.float32), {})
    with pytest.raises(ValueError, match=r"other\.nc' \(pde 'elliptic', channels \['k', 'p'\]\) "
                                         "declares no input and target channels: give inputs "
                                         "and targets"):
        SteadyDataModule(str(path)).setup("fit")
    dm = SteadyDataModule(str(path), inputs=["k"], targets=["p"], fractions=(1.0, 0.0, 0.0))
    dm.setup("fit")
    assert dm.data_info["inputs"] == ["k"]


def test_pdebench_darcy_maps_its_coefficient_nu_to_u(tmp_path):
    rng = np.random.default_rng(0)
    nu = rng.uniform(1, 2, size=(5, 8, 8)).astype(np.float32)
    sol = rng.uniform(size=(5, 1, 8, 8)).astype(np.float32)
    path = tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5"
    with h5py.File(path, "w") as f:
        f["nu"], f["tensor"] = nu, sol
        f["x-coordinate"] = f["y-coordinate"] = np.linspace(0, 1, 8)
        f["t-coordinate"] = np.arange(10.0)
    dm = SteadyDataModule(str(path), batch_size=5, fractions=(1.0, 0.0, 0.0))
    dm.setup("fit")
    assert (dm.data_info["inputs"], dm.data_info["targets"]) == (["nu"], ["u"])
    batch = next(iter(dm.train_dataloader()))
    order = np.asarray(dm.train_indices)
    got = np.asarray(batch["input"][:, 0])
    # the training order is shuffled: compare as sets of samples
    assert sorted(map(bytes, got)) == sorted(map(bytes, nu[order]))


@pytest.mark.parametrize("names", ["a", [], ["a", "a"], [1]])
def test_bad_names_are_refused_at_construction(darcy_file, names):
    with pytest.raises(ValueError, match="inputs must be None or a non-empty list"):
        SteadyDataModule(str(darcy_file), inputs=names)
