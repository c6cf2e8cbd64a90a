"""An ``EarlyStopping`` or ``ModelCheckpoint`` whose ``monitor`` names a validation metric that
validation never logs (a typo, Lightning's docs' ``val_loss``) is refused at the end of the
sanity check, before the first training step. Before, Lightning found it when the callback
first read the metric, at the end of the first epoch (``pdesurrogate fit`` of a tiny Burgers
file: 13.9 s in instead of 5.8 s; a ModelCheckpoint had written a checkpoint by then)."""

import warnings

import numpy as np
import pytest
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule

from .test_datamodule import _write


def _fit(trainer, tmp_path):
    path = _write(tmp_path / "toy.nc", 10, np.linspace(0.0, 1.0, 4))
    module = NextStepModule(FNO(1, 1, n_modes=[2], hidden_channels=4, n_layers=1, n_params=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's few-workers and few-batches advice
        trainer.fit(module, datamodule=FieldDataModule(str(path), batch_size=2,
                                                       fractions=(0.6, 0.2, 0.2)))


def _trainer(tmp_path, callbacks, **kwargs):
    return Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path,
                   callbacks=callbacks, **kwargs)


@pytest.mark.parametrize("callback", [EarlyStopping(monitor="val/nothing"),
                                      ModelCheckpoint(monitor="val_loss")],
                         ids=["EarlyStopping", "ModelCheckpoint"])
def test_unlogged_validation_monitor_refused_before_training(tmp_path, callback):
    trainer = _trainer(tmp_path, [callback])
    with pytest.raises(ValueError, match=rf"trainer\.callbacks: {type(callback).__name__}\("
                                         rf"monitor='{callback.monitor}'\) watches a metric "
                                         r"that validation does not log \(it logs val/rel_l2, "
                                         r"val/rel_l2_step_1"):
        _fit(trainer, tmp_path)
    assert trainer.global_step == 0
    assert not list(tmp_path.rglob("*.ckpt"))


class LogsOutsideSanity(Callback):
    """A callback of the user's own that logs a validation metric only after the sanity check."""

    def on_validation_epoch_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            pl_module.log("val/own", 1.0)


@pytest.mark.parametrize("callbacks", [
    [EarlyStopping(monitor="val/rel_l2")],
    [EarlyStopping(monitor="val/nothing", strict=False)],  # Lightning warns and goes on
    [LogsOutsideSanity(), EarlyStopping(monitor="val/own")],
], ids=["logged", "not-strict", "own-callback-logs-it"])
def test_valid_monitors_train(tmp_path, callbacks):
    trainer = _trainer(tmp_path, callbacks, enable_checkpointing=False)
    _fit(trainer, tmp_path)
    assert trainer.global_step > 0
