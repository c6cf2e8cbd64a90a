"""A ``ModelCheckpoint`` whose ``dirpath`` cannot be made (a file on the path) is refused when
the module sets up for a fit, before the statistics pass and the first training step. Before,
Lightning made the folder at the first save, and the fit failed with a bare
NotADirectoryError at the end of the first epoch (tiny Burgers fit: 7.3 s in, after the
run's own last.ckpt of epoch 0; now 5.3 s, before training)."""

import warnings

import numpy as np
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule

from .test_datamodule import _write


def _fit(tmp_path, dirpath):
    """A one-epoch fit with ``ModelCheckpoint(dirpath=dirpath)``; returns (trainer, module)
    and the exception it raised, if any."""
    path = _write(tmp_path / "toy.nc", 10, np.linspace(0.0, 1.0, 4))
    module = NextStepModule(FNO(1, 1, n_modes=[2], hidden_channels=4, n_layers=1, n_params=1))
    trainer = Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path,
                      callbacks=[ModelCheckpoint(dirpath=dirpath)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's few-workers and few-batches advice
        try:
            trainer.fit(module, datamodule=FieldDataModule(str(path), batch_size=2,
                                                           fractions=(0.6, 0.2, 0.2)))
        except Exception as e:  # noqa: BLE001 - handed to the test
            return trainer, module, e
    return trainer, module, None


def test_a_file_on_the_checkpoint_path_is_refused_before_training(tmp_path):
    (tmp_path / "afile").write_text("")
    folder = tmp_path / "afile" / "ckpts"
    trainer, module, err = _fit(tmp_path, str(folder))
    assert isinstance(err, ValueError), repr(err)
    assert str(err).startswith(f"trainer.callbacks: ModelCheckpoint(dirpath='{folder}') cannot "
                               f"write its checkpoints: '{tmp_path / 'afile'}' is a file, not a "
                               "folder"), err
    assert trainer.global_step == 0 and module.stats is None  # before the statistics pass


def test_a_folder_still_to_make_is_taken(tmp_path):
    trainer, _, err = _fit(tmp_path, str(tmp_path / "new" / "deeper"))
    assert err is None and trainer.global_step > 0
    assert list((tmp_path / "new" / "deeper").glob("*.ckpt"))
