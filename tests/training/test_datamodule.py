"""FieldDataModule: split by trajectory, statistics of the training split, loaders' shapes."""

import os
import re
import warnings

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, OneStepPairs, compute_stats, open_dataset
from pdesurrogate.datasets.fingerprint import fingerprint
from pdesurrogate.training import FieldDataModule


def test_split_stats_and_loaders(advection_file):
    """Splits are disjoint and cover all 10 trajectories; stats equal compute_stats on the
    training split exactly; pairs, windows (k=2, R=2) and strided trajectories have the
    documented shapes."""
    dm = FieldDataModule(str(advection_file), batch_size=4, fractions=(0.6, 0.2, 0.2))
    dm.setup("fit")
    tr, va, te = dm.train_indices, dm.val_indices, dm.test_indices
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(10))
    assert dm.stats.to_dict() == compute_stats(open_dataset(advection_file), tr).to_dict()
    source = {"path": os.path.abspath(advection_file),
              "fingerprint": fingerprint(open_dataset(advection_file)), "n_trajectories": 10,
              "fractions": [0.6, 0.2, 0.2], "seed": 0, "max_train_trajectories": None}
    assert dm.data_info == {"pde": "advection", "grid_shape": [32], "grid_names": ["x"],
                            "grid_extent": [{"first": 0.0, "last": 31 / 32, "step": 1 / 32}],
                            "channel_names": ["u"], "param_names": ["c"], "k": 1,
                            "dt": pytest.approx(0.05), "source": source}
    b = next(iter(dm.train_dataloader()))
    assert b["input"].shape == (4, 1, 32) and b["params"].shape == (4, 1)
    assert len(dm.train_dataloader().dataset) == 6 * 5
    v = next(iter(dm.val_dataloader()))
    assert v["u"].shape == (2, 6, 1, 32)

    dm2 = FieldDataModule(str(advection_file), batch_size=3, k=2, rollout_steps=2,
                          max_train_trajectories=2)
    dm2.setup("fit")
    assert len(dm2.train_indices) == 2 and dm2.data_info["dt"] == pytest.approx(0.1)
    ds = dm2.train_dataloader().dataset
    assert len(ds) == 2 * (6 - 4)
    u = open_dataset(advection_file).u
    n = int(dm2.train_indices[1])
    np.testing.assert_array_equal(ds[3]["u"].numpy(), u[n, 1:6:2])
    v = dm2.val_dataloader().dataset[0]
    assert v["u"].shape == (3, 1, 32) and v["times"].tolist() == pytest.approx([0, 0.1, 0.2])


def test_checks(advection_file):
    with pytest.raises(ValueError, match="rollout_steps must be"):
        FieldDataModule(str(advection_file), rollout_steps=0)
    with pytest.raises(ValueError, match="k \\* rollout_steps"):
        FieldDataModule(str(advection_file), k=3, rollout_steps=2).setup("fit")
    with pytest.raises(ValueError, match="fractions"):
        FieldDataModule(str(advection_file), fractions=(0.5, 0.5))


def _write(path, n, times, channels=("u",), grid=None, params=("c",)):
    """A file of ``n`` smooth trajectories at ``times`` on ``grid`` (1-D or 2-D; default 8
    points)."""
    grid = (np.arange(8.0),) if grid is None else grid
    shape = (n, len(times), len(channels), *(len(g) for g in grid))
    u = np.sin(np.arange(np.prod(shape)) / 7.0).reshape(shape).astype(np.float32)
    names = ("y", "x")[2 - len(grid):]
    with DatasetWriter(path, "toy", grid, names, times, list(channels), list(params), n) as w:
        w.write(0, u, {p: np.linspace(1, 2, n) for p in params})
    return path


def test_truncated_file_named(advection_file, tmp_path):
    cut = tmp_path / "cut.nc"
    cut.write_bytes(advection_file.read_bytes()[:4000])
    with pytest.raises(OSError, match=r"'.*cut\.nc' is truncated"):
        FieldDataModule(str(cut)).setup("fit")


def test_non_finite_data_named(advection_file):
    """NaN in the training split is refused, naming the variable, channel and time, when the
    statistics are computed (their first access: the start of a fit)."""
    with h5py.File(advection_file, "r+") as f:
        f["u"][:, 4, 0, 3] = np.nan
    dm = FieldDataModule(str(advection_file), fractions=(1.0, 0.0, 0.0))
    dm.setup("fit")
    with pytest.raises(ValueError, match=r"advection\.nc' holds non-finite values .* variable "
                                         r"'u' \(channel 'u'\).* time index 4"):
        dm.stats  # noqa: B018


def test_steady_file_named(tmp_path):
    """One saved time (Darcy) -> says the file holds a steady problem."""
    path = _write(tmp_path / "darcy.nc", 10, [0.0], channels=("a", "u"),
                  grid=(np.arange(4.0), np.arange(4.0)))
    with pytest.raises(ValueError, match=r"darcy\.nc' holds a steady problem \(toy: one saved "
                                         r"time per sample\).*at least .* = 2 saved times"):
        FieldDataModule(str(path)).setup("fit")
    with pytest.raises(ValueError, match="steady problem"):
        OneStepPairs(open_dataset(path))


def test_empty_split_named(tmp_path):
    """5 trajectories at (0.8, 0.1, 0.1) round to 4/0/1: an error naming the numbers for the
    stage that reads the empty split; a zero fraction turns a split off without error."""
    path = _write(tmp_path / "five.nc", 5, [0.0, 0.1, 0.2])
    with pytest.raises(ValueError, match=r"five\.nc': the validation split would be empty: 5 "
                                         r"trajectories with fractions \[0\.8, 0\.1, 0\.1\] give "
                                         r"train/val/test = 4/0/1"):
        FieldDataModule(str(path)).setup("fit")
    two = str(_write(tmp_path / "two.nc", 2, [0.0, 0.1]))
    with pytest.raises(ValueError, match="validation and test splits would be empty"):
        FieldDataModule(two).setup()
    # each stage checks the split it reads: fit the validation one, test the test one
    with pytest.raises(ValueError, match="the validation split would be empty"):
        FieldDataModule(two).setup("fit")
    with pytest.raises(ValueError, match="the test split would be empty"):
        FieldDataModule(two).setup("test")
    FieldDataModule(str(path)).setup("test")  # 4/0/1: the test split is there
    dm = FieldDataModule(str(path), fractions=(0.8, 0.2, 0.0))
    dm.setup("fit")
    assert (len(dm.train_indices), len(dm.val_indices), len(dm.test_indices)) == (4, 1, 0)


def test_a_fit_warns_of_an_empty_test_split(tmp_path):
    """3 trajectories at (0.8, 0.1, 0.1) round to 2/1/0: the fit runs, and said nothing until
    `pdesurrogate test` refused the run once it was over. Warned once; test still refuses."""
    dm = FieldDataModule(str(_write(tmp_path / "three.nc", 3, [0.0, 0.1])))
    with pytest.warns(UserWarning, match=r"three\.nc': the test split is empty \(3 trajectories"
                                         r".* train/val/test = 2/1/0\), so `pdesurrogate test`"):
        dm.setup("fit")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dm.setup("fit")
    with pytest.raises(ValueError, match="the test split would be empty"):
        dm.setup("test")


def test_model_that_cannot_take_the_file_named(tmp_path):
    """A 1-D FNO on a 2-D file: fit stops in setup, before any batch, naming the file's grid
    and channels and what the model takes."""
    from lightning.pytorch import Trainer

    from pdesurrogate.models import FNO
    from pdesurrogate.training import NextStepModule

    path = _write(tmp_path / "heat2d.nc", 10, [0.0, 0.1, 0.2],
                  grid=(np.arange(4.0), np.arange(4.0)))
    module = NextStepModule(FNO(1, 1, n_modes=[2], hidden_channels=4, n_layers=1, n_params=1))
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    with pytest.raises(ValueError, match=r"heat2d\.nc' holds 1 channel\(s\) \['u'\] on a 2-D "
                                         r"grid \(4, 4\) with 1 parameter\(s\) \['c'\], but the "
                                         r"model \(FNO\) takes 1 channel\(s\) on a 1-D grid"):
        trainer.fit(module, datamodule=FieldDataModule(str(path), batch_size=2))
    assert trainer.global_step == 0


def test_float32_times_keep_their_step(tmp_path):
    """Times stored as float32 (PDEBench, The Well: 0.01 apart over 201 frames vary by a few
    ulps) still give dt = 0.01; times that really are uneven give dt None."""
    times = np.linspace(0, 2, 201).astype(np.float32).astype(np.float64)
    assert not np.allclose(np.diff(times), times[1] - times[0], rtol=1e-6, atol=0)
    dm = FieldDataModule(str(_write(tmp_path / "f32.nc", 10, times)))
    dm.setup("fit")
    assert dm.data_info["dt"] == pytest.approx(0.01, rel=1e-6)
    dm = FieldDataModule(str(_write(tmp_path / "uneven.nc", 10, [0.0, 0.1, 0.2, 0.31])))
    dm.setup("fit")
    assert dm.data_info["dt"] is None
    # float64 times far from 0 with one step 4 % long: not float32 data, so no float32 slack
    late = 1000 + np.array([0.0, 0.01, 0.02, 0.0304, 0.0404])
    dm = FieldDataModule(str(_write(tmp_path / "late.nc", 10, late)))
    dm.setup("fit")
    assert dm.data_info["dt"] is None


def test_non_finite_validation_or_test_trajectory_named(tmp_path):
    """A NaN in a validation (test) trajectory is refused by the stage that reads it, naming
    the trajectory, the split and the first time index; before, fit ran on with val NaN."""
    path = _write(tmp_path / "nan.nc", 20, [0.0, 0.1, 0.2])
    dm = FieldDataModule(str(path))
    dm.setup("fit")
    v, t = int(dm.val_indices[0]), int(dm.test_indices[0])
    dm.data.close()
    with h5py.File(path, "r+") as f:
        f["u"][v, 2, 0, 3] = np.nan
        f["u"][t, 1, 0, 0] = np.inf
    with pytest.raises(ValueError, match=rf"nan\.nc' holds non-finite values \(NaN or Inf\) in "
                                         rf"trajectory {v} of the validation split, first at "
                                         r"time index 2 \(t = 0\.2\)"):
        FieldDataModule(str(path)).setup("fit")
    with pytest.raises(ValueError, match=rf"trajectory {t} of the test split, first at time "
                                         r"index 1"):
        FieldDataModule(str(path)).setup("test")
    # the same module set up for fit (validation only) checks the test split when test runs
    only_test = _write(tmp_path / "nan_test.nc", 20, [0.0, 0.1, 0.2])
    with h5py.File(only_test, "r+") as f:
        f["u"][t, 1, 0, 0] = np.inf
    dm = FieldDataModule(str(only_test))
    dm.setup("fit")
    with pytest.raises(ValueError, match=rf"trajectory {t} of the test split"):
        dm.setup("test")


def test_missing_file_refused_at_construction(tmp_path):
    """A missing data file is refused when the module is built, before Lightning's loggers
    make a run folder; the message says how to make one."""
    with pytest.raises(FileNotFoundError, match=r"'.*nope\.nc' does not exist \(make one with "
                                                "`pdesurrogate generate`"):
        FieldDataModule(str(tmp_path / "nope.nc"))
    with pytest.raises(ValueError, match=rf"folder '{tmp_path}' holds no dataset files"):
        FieldDataModule(str(tmp_path))  # a folder is read as one dataset, if it holds one


def test_parameter_blind_model_warned_once(tmp_path):
    """An FNO with n_params=0 on a file with parameters is a legitimate baseline: fit runs, with
    one warning at setup saying the parameters are ignored; a file without parameters gives
    none."""
    import warnings

    from lightning.pytorch import Trainer

    from pdesurrogate.models import FNO
    from pdesurrogate.training import NextStepModule

    def fit(path):
        module = NextStepModule(FNO(1, 1, n_modes=[2], hidden_channels=4, n_layers=1, n_params=0))
        trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False,
                          accelerator="cpu")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.fit(module, datamodule=FieldDataModule(str(path), batch_size=2))
        assert trainer.global_step == 1
        return [str(w.message) for w in caught if "n_params=0" in str(w.message)]

    got = fit(_write(tmp_path / "c.nc", 10, [0.0, 0.1, 0.2]))
    assert got == [f"{str(tmp_path / 'c.nc')!r} has parameters ['c']; the model (FNO) takes "
                   "none (n_params=0): they are ignored"]
    assert fit(_write(tmp_path / "none.nc", 10, [0.0, 0.1, 0.2], params=())) == []


def test_dt_is_the_step_the_times_were_written_with(tmp_path):
    """dt differenced from the saved times drops their rounding noise: 0.05 for float64 times
    [0, .05, .1, .15] (was 0.049999999999999996) and for the same times stored as float32 (was
    0.050000001986821495); a step the times hold exactly (1/1024) or one with many digits is
    kept as it is."""
    cases = [([0.0, 0.05, 0.1, 0.15], 0.05),
             (np.float32([0.0, 0.05, 0.1, 0.15]).astype(np.float64), 0.05),
             (np.arange(5) / 1024, 1 / 1024),
             (np.arange(4) * 0.0123456789012345, 0.0123456789012345)]
    for i, (times, dt) in enumerate(cases):
        dm = FieldDataModule(str(_write(tmp_path / f"t{i}.nc", 10, times)))
        dm.setup("fit")
        assert dm.data_info["dt"] == dt, (times, dt)  # exactly: the value a user would write


def test_fractions_checked_at_construction(advection_file):
    """fractions that do not sum to 1, are negative or NaN are refused when the module is built,
    not first inside trainer.fit."""
    for bad in ((0.5, 0.2, 0.2), (1.2, -0.1, -0.1), (float("nan"), 0.5, 0.5)):
        with pytest.raises(ValueError, match=r"fractions must be non-negative and sum to 1, got "
                                             + re.escape(repr(list(bad)))):
            FieldDataModule(str(advection_file), fractions=bad)
    FieldDataModule(str(advection_file), fractions=(0.7, 0.3, 0.0))


def test_loaders_pin_memory_and_worker_lifetimes(advection_file):
    """``pin_memory`` reaches every loader (also All2AllDataModule's); training workers persist
    between epochs, validation and test workers end after each pass; the evaluation loaders
    still give evaluation_loader's batches in its order."""
    from pdesurrogate.training.all2all import All2AllDataModule
    from pdesurrogate.training.evaluation import evaluation_loader

    for cls in (FieldDataModule, All2AllDataModule):
        for pin in (True, False):
            dm = cls(str(advection_file), batch_size=4, fractions=(0.6, 0.2, 0.2),
                     num_workers=2, pin_memory=pin)
            dm.setup("fit")
            dm.setup("test")
            train, val, test = dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()
            assert [d.pin_memory for d in (train, val, test)] == [pin] * 3
            assert [d.persistent_workers for d in (train, val, test)] == [True, False, False]
            assert [d.num_workers for d in (train, val, test)] == [2] * 3
    with pytest.raises(ValueError, match="pin_memory must be a bool, got 'yes'"):
        FieldDataModule(str(advection_file), pin_memory="yes")
    dm = FieldDataModule(str(advection_file), batch_size=1, fractions=(0.6, 0.2, 0.2))
    dm.setup("test")
    ours = [b["u"] for b in dm.test_dataloader()]
    ref = [b["u"] for b in evaluation_loader(dm.test_dataloader().dataset, 1, None, "test")]
    assert len(ours) == 2 and all(a.equal(b) for a, b in zip(ours, ref, strict=True))


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_split_seed_is_checked_at_construction(advection_file, seed):
    """A split seed that is no int >= 0 is refused by the constructor, naming it. Before, -1
    failed in setup (after the loggers made the run folder) with numpy's "expected
    non-negative integer", True split as seed 1, and 1.5 failed in setup with a TypeError."""
    with pytest.raises(ValueError, match=rf"seed must be an int >= 0, got {re.escape(repr(seed))}"):
        FieldDataModule(str(advection_file), seed=seed)


@pytest.mark.parametrize("bar,zero,expected", [(True, True, True), (False, True, False),
                                               (True, False, False), (None, None, None)])
def test_opening_shows_progress_as_the_fit_does(advection_file, monkeypatch, bar, zero,
                                                expected):
    """A slow opening (a PDEBench file of many groups) shows progress only where the fit's own
    bar would: on global rank 0 with the progress bar on; without a trainer, open_dataset
    decides (None). Before, it always decided alone, so a fit run with its bar off, or any
    DDP rank the launcher did not mark, printed it."""
    import pdesurrogate.training.datamodule as dm_module

    seen = []
    real = dm_module.open_dataset
    monkeypatch.setattr(dm_module, "open_dataset",
                        lambda path, progress=None: seen.append(progress) or real(path))
    dm = FieldDataModule(str(advection_file), batch_size=1)
    if bar is not None:
        dm.trainer = type("T", (), {"is_global_zero": zero,
                                    "progress_bar_callback": object() if bar else None})()
    dm.setup("test")
    assert seen == [expected]
