"""A fit stopped and resumed ends with the weights of the unbroken fit, bit for bit: stopped at an
epoch's end (a kill after ``last.ckpt``) or in the middle of an epoch (SIGTERM, which writes
``last.ckpt`` where it stopped), for an FNO, a PDE-Refiner (noise and steps of its own) and a
PINN (collocation points and SDGD dimensions of its own).

Each fit runs in this process after ``seed_everything(0)``, as ``pdesurrogate fit`` does in a
new one: a resumed fit that drew its shuffle or noise from torch's global generator would
replay the first epochs' draws and end elsewhere.
"""

import os
import signal

import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from pdesurrogate.models import FNO, ModernUNet, PDERefiner
from pdesurrogate.pinn import SDGD, BallPoints, PINNModule, Poisson
from pdesurrogate.training import FieldDataModule, NextStepModule, RefinerModule
from pdesurrogate.training.stop_checkpoint import StopCheckpoint

EPOCHS = 3
BATCHES = 3  # per epoch, for each model below


class Killed(Exception):
    """Stands for a SIGKILL: the fit ends without any handler."""


class Stop(Callback):
    """Kill the fit as epoch ``at_epoch`` starts, or send SIGTERM to this process as the batch
    of global step ``at_step`` starts."""

    def __init__(self, at_epoch: int | None = None, at_step: int | None = None):
        self.at_epoch, self.at_step = at_epoch, at_step

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.at_epoch:
            raise Killed

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.at_step:
            os.kill(os.getpid(), signal.SIGTERM)


def _fno():
    return NextStepModule(FNO(in_channels=1, out_channels=1, n_modes=[8], hidden_channels=8,
                              n_layers=2, n_params=1), lr=1e-2)


def _refiner():
    backbone = ModernUNet(1, 2, 1, hidden_channels=8, channel_mults=[1, 2], n_blocks=1,
                          n_params=1, cond=True, padding_mode="circular")
    return RefinerModule(PDERefiner(backbone, n_refine_steps=2, sigma_min=2e-7), lr=1e-2)


def _pinn():
    return PINNModule(Poisson(5, seed=0), SDGD(2), width=8, depth=1, lr=1e-2)


def _fields(path):
    # 2 training trajectories x 5 pairs, batches of 4: 3 batches an epoch (the last of 2)
    return lambda: FieldDataModule(str(path), batch_size=4, max_train_trajectories=2)


def _points():
    return BallPoints(batch_size=8, steps_per_epoch=BATCHES, val_points=8, test_points=8)


def _fit(root, module, data, ckpt_path=None, stop=None):
    """One fit into ``root`` as a new process would run it; returns the trainer."""
    seed_everything(0)
    trainer = Trainer(default_root_dir=root, max_epochs=EPOCHS, accelerator="cpu", devices=1,
                      logger=False, limit_val_batches=0, num_sanity_val_steps=0,
                      enable_progress_bar=False, enable_model_summary=False,
                      callbacks=[ModelCheckpoint(dirpath=root, save_last=True), StopCheckpoint(),
                                 *([stop] if stop else [])])
    try:
        trainer.fit(module(), data(), ckpt_path=ckpt_path)
    except (Killed, SIGTERMException):
        pass
    return trainer


def _weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.fixture(params=["fno", "refiner", "pinn"])
def model(request, advection_file):
    return {"fno": (_fno, _fields(advection_file)),
            "refiner": (_refiner, _fields(advection_file)),
            "pinn": (_pinn, _points)}[request.param]


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::lightning.fabric.utilities."
                            "warnings.PossibleUserWarning")
@pytest.mark.parametrize("stop", ["epoch_end", "mid_epoch", "last_batch"])
def test_a_resumed_fit_ends_with_the_weights_of_the_unbroken_one(tmp_path, model, stop):
    module, data = model
    whole = _fit(tmp_path / "whole", module, data)
    assert whole.global_step == EPOCHS * BATCHES
    # epoch_end: killed as epoch 1 starts; mid_epoch: SIGTERM in the second batch of epoch 1;
    # last_batch: SIGTERM in its last batch (saved before the epoch's end)
    at = {"epoch_end": BATCHES, "mid_epoch": BATCHES + 2, "last_batch": 2 * BATCHES}[stop]
    halt = Stop(at_epoch=1) if stop == "epoch_end" else Stop(at_step=at - 1)
    first = _fit(tmp_path / "resumed", module, data, stop=halt)
    last = tmp_path / "resumed" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == at
    assert first.global_step == saved["global_step"]
    resumed = _fit(tmp_path / "resumed", module, data, ckpt_path=str(last))
    assert resumed.global_step == whole.global_step
    a, b = _weights(tmp_path / "whole" / "last.ckpt"), _weights(last)
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"
