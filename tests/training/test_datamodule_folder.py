"""The datamodules over a folder of dataset files: one split over all files' trajectories,
The Well's train/ valid/ test/ folders as the split (statistics of train/ only), fractions
refused there, and the source record that tells a changed folder from the one fit on."""

import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter
from pdesurrogate.datasets.source import check_source_record, source_splits
from pdesurrogate.datasets.torch_datasets import split_indices
from pdesurrogate.info import describe, render
from pdesurrogate.training import FieldDataModule, SteadyDataModule
from tests.datasets.test_file_set import well_folder, write


def test_fractions_split_all_files_trajectories(tmp_path):
    d = tmp_path / "set"
    d.mkdir()
    us = [write(d / f"{name}.nc", n, seed)[0] for name, n, seed in
          (("a", 4, 0), ("b", 3, 1), ("c", 3, 2))]
    dm = FieldDataModule(str(d), batch_size=2, fractions=(0.6, 0.2, 0.2), seed=5)
    dm.setup("fit")
    want = split_indices(10, (0.6, 0.2, 0.2), 5)
    for got, w in zip((dm.train_indices, dm.val_indices, dm.test_indices), want, strict=True):
        assert got.tolist() == w.tolist()
    u = np.concatenate(us)
    batch = next(iter(dm.val_dataloader()))
    np.testing.assert_array_equal(batch["u"].numpy(), u[dm.val_indices[:2]])
    source = dm.data_info["source"]
    assert source["path"] == str(d) and source["n_trajectories"] == 10
    assert "split_folders" not in source


def test_the_wells_folders_are_the_split_and_train_gives_the_statistics(tmp_path):
    d, parts = well_folder(tmp_path / "data")
    dm = FieldDataModule(str(d), batch_size=2)
    dm.setup("fit")
    assert (dm.train_indices.tolist(), dm.val_indices.tolist(), dm.test_indices.tolist()) \
        == ([0, 1, 2], [3, 4], [5])
    train = parts["train"][0]
    np.testing.assert_allclose(dm.stats.mean, [train.mean()], rtol=1e-5)
    np.testing.assert_allclose(dm.stats.param_mean, [parts["train"][1].mean()], rtol=1e-6)
    test = next(iter(dm.test_dataloader()))
    np.testing.assert_array_equal(test["u"][:, :, 0].numpy(), parts["test"][0])
    source = dm.data_info["source"]
    assert source["split_folders"] == [3, 2, 1]
    check_source_record(source, "here")  # an export's provenance check accepts it
    assert [s.tolist() for s in source_splits(source)] == [[0, 1, 2], [3, 4], [5]]
    info = describe(d)
    assert info["splits"] == {"train": 3, "valid": 2, "test": 1}
    assert [f["name"] for f in info["files"]][2:] == ["valid/toy_Re300.hdf5",
                                                      "test/toy_Re400.hdf5"]
    assert "  split                    train/ 3 trajectories, valid/ 2 trajectories, test/ 1 " \
           "trajectory\n" in render(info)
    capped = FieldDataModule(str(d), batch_size=2, max_train_trajectories=2)
    capped.setup("fit")
    assert capped.train_indices.tolist() == [0, 1]
    assert source_splits(capped.data_info["source"])[0].tolist() == [0, 1]


def test_fractions_given_for_split_folders_are_refused(tmp_path):
    d, _ = well_folder(tmp_path / "data")
    with pytest.raises(ValueError, match=r"holds train/, valid/ and test/ folders, which are its "
                                         r"train/validation/test split; fractions \[0.5, 0.25, "
                                         r"0.25\] cannot apply"):
        FieldDataModule(str(d), fractions=(0.5, 0.25, 0.25))
    with pytest.raises(ValueError, match="fractions"):
        SteadyDataModule(str(d), fractions=(0.5, 0.25, 0.25))


def test_a_folder_of_steady_files(tmp_path):
    """SteadyDataModule reads a folder of steady files (one saved time) as one set."""
    d = tmp_path / "darcy"
    d.mkdir()
    rng = np.random.default_rng(0)
    us = []
    for i, n in enumerate((3, 2)):
        u = rng.standard_normal((n, 1, 2, 4, 4)).astype(np.float32)
        with DatasetWriter(d / f"d{i}.nc", "darcy2d", (np.arange(4.0), np.arange(4.0)),
                           ("y", "x"), [0.0], ["a", "u"], [], n) as w:
            w.write(0, u, {})
        us.append(u)
    dm = SteadyDataModule(str(d), batch_size=5, fractions=(1.0, 0.0, 0.0))
    dm.setup("fit")
    assert sorted(dm.train_indices.tolist()) == [0, 1, 2, 3, 4]
    u = np.concatenate(us)
    item = dm._pairs([4])[0]
    np.testing.assert_array_equal(item["input"].numpy(), u[4, 0, :1])
    np.testing.assert_array_equal(item["target"].numpy(), u[4, 0, 1:])
