"""A grid the model cannot take (scOT's multiples of ``patch_size * 2 ** (L - 1)``, a U-Net's
points per level, CAPE's periodic padding) is refused when the data module sets up, naming the
file and its grid, before the statistics pass and the first batch. Before, it was the model's
ValueError at the first forward pass (the sanity check's), after the model summary and a pass
over the whole training split for the statistics: ``configs/fit/scot_ns_t.yaml`` on a 16x16
file failed there about 10-20 s in, and on a large file after the statistics' read of it."""

import re
import warnings

import numpy as np
import pytest
from lightning.pytorch import Trainer

from pdesurrogate.models import UNet
from pdesurrogate.models.cape import CAPEModule, CAPEWrapper
from pdesurrogate.models.modern_unet import ModernUNet
from pdesurrogate.models.refiner import PDERefiner
from pdesurrogate.models.scot import ScOT
from pdesurrogate.training import FieldDataModule, NextStepModule
from pdesurrogate.training.all2all import All2AllDataModule, All2AllModule
from pdesurrogate.training.refiner import RefinerModule

from .test_datamodule import _write


def _scot():
    """scOT with patch_size 2 and 3 levels: grids of multiples of 8."""
    return All2AllModule(ScOT(1, 1, embed_dim=8, depths=[1, 1, 1], num_heads=[2, 2, 4],
                              skip_blocks=[0, 0], window_size=4, patch_size=2, n_params=1)), \
        All2AllDataModule


def _unet():
    """4 levels: 8 points per axis at least."""
    return NextStepModule(UNet(2, 1, 1, hidden_channels=4, n_levels=4, n_params=1)), \
        FieldDataModule


def _cape():
    """A periodic padding of 15 (kernel_size 31) on CAPE's depth-wise path: axes of 15 at least."""
    cape = CAPEModule(2, 1, 1, modes=2, kernel_size=31, hidden=4)
    return NextStepModule(CAPEWrapper(UNet(2, 2, 1, hidden_channels=4, n_levels=1), cape)), \
        FieldDataModule


def _refiner():
    """A refiner's ModernUNet backbone of 4 levels: 8 points per axis at least."""
    backbone = ModernUNet(2, 2, 1, hidden_channels=8, channel_mults=[1, 1, 1, 1], n_blocks=1,
                          n_params=1, cond=True)
    return RefinerModule(PDERefiner(backbone, n_refine_steps=1)), FieldDataModule


class Ran(Exception):
    """The statistics pass or a forward pass ran: the check came too late."""


@pytest.mark.parametrize(("build", "grid", "why"), [
    (_scot, (12, 12), r"ScOT with patch_size=2 and 3 levels needs H and W that are multiples "
                      r"of 8, got 12x12"),
    (_unet, (12, 6), r"UNet with n_levels=4 .* needs at least 8 points per axis"),
    (_cape, (12, 12), r"CAPEModule: a grid of shape \(12, 12\) has an axis shorter"),
    (_refiner, (12, 6), r"ModernUNet with 4 levels .* needs at least 8 points per axis"),
])
def test_grid_refused_at_setup(build, grid, why, tmp_path, monkeypatch):
    module, dm_class = build()
    path = _write(tmp_path / "toy.nc", 8, np.linspace(0.0, 1.0, 4),
                  grid=tuple(np.arange(float(n)) for n in grid))
    dm = dm_class(str(path), batch_size=2)

    def ran(*args, **kwargs):
        raise Ran("the model's forward ran before the grid was refused")

    def stats(self):
        raise Ran("the statistics pass ran before the grid was refused")

    monkeypatch.setattr(type(module.model), "forward", ran)
    monkeypatch.setattr(type(dm), "stats", property(stats))
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    with warnings.catch_warnings(), pytest.raises(ValueError) as err:
        warnings.simplefilter("ignore")  # Lightning's few-workers and few-batches advice
        trainer.fit(module, datamodule=dm)
    text = str(err.value)
    assert text.startswith(f"{str(path)!r} holds states on the grid {grid}, which the model "
                           "cannot take: "), text
    assert re.search(why, text), text


def test_fitting_grid_still_trains(tmp_path):
    """The check refuses no grid the model takes: 16x8 for the scOT above (multiples of 8)."""
    module, dm_class = _scot()
    path = _write(tmp_path / "ok.nc", 8, np.linspace(0.0, 1.0, 3),
                  grid=(np.arange(16.0), np.arange(8.0)))
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                      num_sanity_val_steps=0, limit_val_batches=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=dm_class(str(path), batch_size=2))
    assert trainer.global_step == 1
