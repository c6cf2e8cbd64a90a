"""A fit whose ``trainer.max_epochs`` ends before the curriculum reaches one teacher-forced
input, or inside a CAPE model's auxiliary warm-up, warns as it starts. Before, nothing said so:
the run ended still (partly) teacher-forced, or never used ``aux_weight``, seen only in its
results at the end."""

import warnings

import numpy as np
import pytest
from lightning.pytorch import Trainer

from pdesurrogate.models import FNO, UNet
from pdesurrogate.models.cape import CAPEModule, CAPEWrapper
from pdesurrogate.training import FieldDataModule, NextStepModule

from .test_datamodule import _write


def _warnings_of_fit(tmp_path, module, max_epochs, rollout_steps=1):
    path = _write(tmp_path / "toy.nc", 10, np.linspace(0.0, 1.0, 4))
    trainer = Trainer(max_epochs=max_epochs, limit_train_batches=1, limit_val_batches=1,
                      num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        trainer.fit(module, datamodule=FieldDataModule(str(path), batch_size=2,
                                                       rollout_steps=rollout_steps))
    return [str(w.message) for w in seen if "outlasts" in str(w.message)]


def _fno():
    return FNO(1, 1, n_modes=[2], hidden_channels=4, n_layers=1, n_params=1)


@pytest.mark.parametrize(("max_epochs", "warned"), [(2, True), (10, False)])
def test_curriculum_longer_than_the_fit_warns(tmp_path, max_epochs, warned):
    module = NextStepModule(_fno(), rollout_steps=3, curriculum=True, curriculum_epochs=10)
    seen = _warnings_of_fit(tmp_path, module, max_epochs, rollout_steps=3)
    assert bool(seen) == warned, seen
    if warned:
        (w,) = seen
        assert w.startswith("curriculum_epochs (10) outlasts trainer.max_epochs (2): the last "
                            "epoch still feeds 3 of 3 inputs"), w


@pytest.mark.parametrize(("max_epochs", "warned"), [(2, True), (3, False)])
def test_aux_warmup_longer_than_the_fit_warns(tmp_path, max_epochs, warned):
    cape = CAPEModule(1, 1, 1, modes=2, kernel_size=3, hidden=4)
    model = CAPEWrapper(UNet(1, 2, 1, hidden_channels=4, n_levels=1), cape)
    module = NextStepModule(model, aux_warmup_epochs=2)
    seen = _warnings_of_fit(tmp_path, module, max_epochs)
    assert bool(seen) == warned, seen
    if warned:
        (w,) = seen
        assert w.startswith("aux_warmup_epochs (2) outlasts trainer.max_epochs (2)"), w
