"""A PINN fit whose ``ModelCheckpoint`` or ``EarlyStopping`` watches a ``train/`` metric the
PINNModule never logs is refused as the module sets up, naming the metrics it does log, as
for the field modules. Before, the misspelled monitor failed at the end of the first epoch."""

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from pdesurrogate.pinn import SDGD, BallPoints, PINNModule, Poisson


def _fit(tmp_path, callback, **module_args):
    torch.manual_seed(0)
    module = PINNModule(Poisson(4), SDGD(2), width=8, depth=1, **module_args)
    dm = BallPoints(batch_size=8, steps_per_epoch=3, val_points=16,
                    boundary_batch_size=4 if module_args.get("boundary") == "loss" else 0)
    trainer = Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path,
                      callbacks=[callback])
    trainer.fit(module, dm)
    return trainer


@pytest.mark.parametrize("kind", [ModelCheckpoint, EarlyStopping])
def test_a_misspelled_training_monitor_is_refused_before_training(tmp_path, kind):
    expected = (rf"{kind.__name__}\(monitor='train/residuals'\) watches a training metric "
                r"that is never logged \(PINNModule logs train/residual, train/rel_l2\)")
    with pytest.raises(ValueError, match=expected):
        _fit(tmp_path / "typo", kind(monitor="train/residuals"))
    assert list(tmp_path.rglob("*.ckpt")) == []
    # the names it lists are the ones it logs: each trains
    for monitor in ("train/residual", "train/rel_l2"):
        trainer = _fit(tmp_path / monitor.replace("/", "_"), kind(monitor=monitor))
        assert trainer.global_step == 3


def test_the_boundary_loss_is_a_name_only_with_a_boundary_loss(tmp_path):
    with pytest.raises(ValueError, match=r"PINNModule logs train/residual, train/rel_l2\)"):
        _fit(tmp_path / "hard", ModelCheckpoint(monitor="train/boundary"))
    trainer = _fit(tmp_path / "loss", ModelCheckpoint(monitor="train/boundary"),
                   boundary="loss")
    assert trainer.global_step == 3 and "train/boundary" in trainer.callback_metrics
