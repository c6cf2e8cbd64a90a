"""``SteadyModule`` on Darcy flow (a -> u): it learns the map (overfits four samples), logs
what it says, and refuses what has no meaning for a steady map."""

import warnings

import lightning as L
import pytest
import torch

from pdesurrogate.datasets import generate_dataset
from pdesurrogate.models import FNO
from pdesurrogate.solvers import Darcy2D
from pdesurrogate.training import FieldDataModule, SteadyDataModule, SteadyModule


@pytest.fixture
def darcy(tmp_path):
    """``make(samples)``: a file of the real Darcy solver on a 16x16 grid (seed 0)."""

    def make(samples: int):
        path = tmp_path / f"darcy_{samples}.nc"
        generate_dataset(Darcy2D(n=16, tuner="fixed"), path, samples=samples, times=[0.0],
                         seed=0, workers=1, progress=False)
        return path

    return make


def _trainer(epochs: int, **kw) -> L.Trainer:
    return L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     accelerator="cpu", **kw)


def _loss(module: SteadyModule, batch: dict) -> float:
    """The module's training loss of ``batch`` (its ``loss``), normalised space."""
    with torch.no_grad():
        x = module.normalize_inputs(batch["input"])
        return float(module.step_loss(module(x), module.normalize_targets(batch["target"])))


def test_overfits_four_samples(darcy):
    """The training loss (relative L2 in normalised space) on four Darcy samples falls by more
    than an order of magnitude: measured 1.015 -> 0.040 in 150 steps (lr 1e-2, width 8)."""
    torch.manual_seed(0)
    dm = SteadyDataModule(str(darcy(4)), batch_size=4, fractions=(1.0, 0.0, 0.0))
    module = SteadyModule(FNO(1, 1, [6, 6], hidden_channels=8, n_layers=2), lr=1e-2,
                          weight_decay=0.0, scheduler="none")
    dm.setup("fit")
    module.data_info = dm.data_info
    module.set_normalization(dm.stats)
    batch = next(iter(dm.train_dataloader()))
    before = _loss(module, batch)
    _trainer(150, limit_val_batches=0).fit(module, dm)
    after = _loss(module, batch)
    assert after < before / 10, (before, after)


def _bare_step(module: SteadyModule, batch: dict) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a trainer
        with torch.no_grad():
            return float(module.training_step(batch, 0))


def test_overfits_four_samples_in_h1_and_logs_both_errors(darcy):
    """SteadyModule with rel_h1 on four Darcy samples (walls): the walled H1 loss of the
    batch falls by more than 10x (measured 1.006 -> 0.057 in 150 steps, lr 1e-2, width 8), and
    validation logs val/rel_h1 beside val/rel_l2."""
    torch.manual_seed(0)
    path = str(darcy(4))
    dm = SteadyDataModule(path, batch_size=4, fractions=(1.0, 0.0, 0.0))
    module = SteadyModule(FNO(1, 1, [6, 6], hidden_channels=8, n_layers=2), lr=1e-2,
                          weight_decay=0.0, scheduler="none", loss="rel_h1")
    dm.setup("fit")
    module.data_info = dm.data_info
    module.set_normalization(dm.stats)
    batch = next(iter(dm.train_dataloader()))
    before = _bare_step(module, batch)
    assert before == pytest.approx(_loss(module, batch), rel=1e-6)
    _trainer(150, limit_val_batches=0).fit(module, dm)
    assert module._h1.periodic == (False, False)
    after = _loss(module, batch)
    assert after < before / 10, (before, after)
    val = SteadyDataModule(path, batch_size=4, fractions=(0.5, 0.5, 0.0))
    metrics = _trainer(1).validate(module, val, verbose=False)[0]
    assert {"val/rel_l2", "val/rel_h1"} <= set(metrics)
    assert metrics["val/rel_h1"] > metrics["val/rel_l2"] > 0


def test_logs_relative_l2_in_physical_units_and_refuses_rollouts(darcy):
    """val/test rel_l2 is the mean over samples of ||u_pred - u|| / ||u|| in physical units."""
    dm = SteadyDataModule(str(darcy(8)), batch_size=2, fractions=(0.5, 0.25, 0.25))
    module = SteadyModule(FNO(1, 1, [4, 4], hidden_channels=4, n_layers=1), scheduler="none")
    trainer = _trainer(1)
    trainer.fit(module, dm)
    assert module.train_metric_names() == ["train/loss", "train/rel_l2"]
    assert {"train/rel_l2", "val/rel_l2"} <= set(trainer.callback_metrics)
    (result,) = trainer.test(module, dm, verbose=False)
    errs = []
    for batch in dm.test_dataloader():
        pred = module.predict_targets(batch["input"], batch["params"])
        t = batch["target"].double()
        errs += list(((pred.double() - t).flatten(1).norm(dim=1) / t.flatten(1).norm(dim=1)))
    assert result["test/rel_l2"] == pytest.approx(float(sum(errs) / len(errs)), rel=1e-5)
    with pytest.raises(ValueError, match="steady map"):
        module.rollout(batch["input"], batch["params"], 2)


def test_refuses_a_field_datamodule(tmp_path, darcy):
    """Given a FieldDataModule (a time-dependent file), the module says which it needs."""
    from pdesurrogate.solvers import Burgers1D

    path = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=16), path, samples=4, times=[0.0, 0.1, 0.2], seed=0,
                     workers=1, progress=False)
    module = SteadyModule(FNO(1, 1, [4], hidden_channels=4, n_layers=1))
    with pytest.raises(ValueError, match="give it a SteadyDataModule, not FieldDataModule"):
        _trainer(1).fit(module, FieldDataModule(str(path), batch_size=2,
                                                fractions=(0.5, 0.25, 0.25)))


def test_a_monitor_of_a_metric_it_never_logs_is_refused_before_training(darcy, tmp_path):
    """fit_checks: a ModelCheckpoint watching a train/ metric SteadyModule does not log fails
    as the module sets up, naming what it logs, not at the end of the first epoch."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    dm = SteadyDataModule(str(darcy(4)), batch_size=2, fractions=(0.5, 0.25, 0.25))
    module = SteadyModule(FNO(1, 1, [4, 4], hidden_channels=4, n_layers=1))
    trainer = L.Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu",
                        callbacks=[ModelCheckpoint(dirpath=tmp_path, monitor="train/rel_l1")])
    with pytest.raises(ValueError, match=r"monitor='train/rel_l1'\).*SteadyModule logs "
                                         r"train/loss, train/rel_l2"):
        trainer.fit(module, dm)
    assert trainer.global_step == 0
