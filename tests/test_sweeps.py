"""Hyper-parameter sweeps: trials fit in one Python process (Optuna-style, a plain Lightning
``Trainer`` per trial) and the best of them exported afterwards.

A trial whose learning rate is far too large trains on to NaN weights under a plain
``Trainer`` (``pdesurrogate fit``'s FiniteWeights callback is not in it) and checkpoints them;
``pdesurrogate export`` and ``export_surrogate`` of such a checkpoint or module wrote a
surrogate that predicts NaN, with exit status 0.
"""

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything

from pdesurrogate.cli import main
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule
from tests import test_cli_fit as fit

data = fit.data  # the fixture: 10 Burgers trajectories of 3 frames on 32 points


def _trial(data: str, root: Path, lr: float) -> tuple[NextStepModule, Path]:
    """One sweep trial: a 2-layer FNO fit for 2 epochs; the module and its newest checkpoint."""
    seed_everything(0)
    module = NextStepModule(FNO(1, 1, [8], 8, 2, n_params=1), lr=lr)
    trainer = Trainer(max_epochs=2, default_root_dir=root, accelerator="cpu", logger=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0)
    trainer.fit(module, FieldDataModule(path=data, batch_size=4))
    return module, Path(trainer.checkpoint_callback.best_model_path)


def test_a_diverged_trial_is_not_exported(tmp_path, data, capsys):
    module, ckpt = _trial(data, tmp_path / "trial", lr=1e30)
    assert ckpt.name == "epoch=1-step=8.ckpt"
    assert not all(torch.isfinite(p).all() for p in module.parameters())  # it did diverge
    out = tmp_path / "exported"
    assert main(["export", str(ckpt), str(out)]) == 2
    err = capsys.readouterr().err
    assert f"pdesurrogate export: error: ValueError: {str(ckpt)!r}: its weights are not finite" \
        in err, err
    assert "net.fno_blocks" in err, err  # names the tensors
    assert not out.exists()
    with pytest.raises(ValueError, match="the module: its weights are not finite"):
        export_surrogate(module, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["burgers.nc", "trial"]  # no temp

