"""A fit whose weights become NaN stops at the next logged batch or checkpoint, with one error
naming the newest checkpoint (whose weights are finite), instead of training and checkpointing
NaN to the last epoch; the weights are not checked on the other batches."""

from pathlib import Path

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from pdesurrogate.cli import main
from pdesurrogate.training import finite_weights
from pdesurrogate.training.finite_weights import FiniteWeights, NonFiniteWeights

ROOT = Path(__file__).resolve().parents[2]


class Poisoned(LightningModule):
    """A linear fit whose weight is set to NaN at ``(epoch, batch)``."""

    def __init__(self, at: tuple[int, int]):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)
        self.at = at

    def training_step(self, batch, batch_idx):
        x, y = batch
        return ((self.lin(x) - y) ** 2).mean()

    def on_before_optimizer_step(self, optimizer):
        if (self.current_epoch, self.trainer.fit_loop.epoch_loop.batch_idx) == self.at:
            with torch.no_grad():
                self.lin.weight[0, 0] = float("nan")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _trainer(callbacks, **kwargs) -> Trainer:
    return Trainer(callbacks=callbacks, logger=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", **kwargs)


def test_stops_at_the_next_logged_batch_and_names_the_last_good_checkpoint(tmp_path):
    data = TensorDataset(torch.randn(8, 2), torch.randn(8, 1))
    writer = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = _trainer([FiniteWeights(), writer], max_epochs=5)
    # 4 batches an epoch, log_every_n_steps 50: an epoch's first and last batch are checked,
    # so the NaN of epoch 2, batch 1 (global step 10) is found after batch 3 (step 12)
    with pytest.raises(NonFiniteWeights, match=r"after epoch 2, batch 3 \(global step 12;"
                       r".*finite at global step 9, the check before") as err:
        trainer.fit(Poisoned(at=(2, 1)), DataLoader(data, batch_size=2))
    last = tmp_path / "last.ckpt"
    assert str(last) in str(err.value)
    state = torch.load(last, weights_only=True)
    assert state["epoch"] == 1  # written at the end of epoch 1, never after the NaN
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values())


def test_fit_with_a_huge_learning_rate_fails_with_one_line_and_no_checkpoint(tmp_path, capsys,
                                                                             burgers_file):
    root = tmp_path / "runs"
    tiny = {"data.init_args.path": burgers_file(n_points=16, samples=10, frames=3),
            "data.init_args.batch_size": 2, "model.init_args.model.init_args.n_modes": "[4]",
            "model.init_args.model.init_args.hidden_channels": 4, "model.init_args.lr": 1e12,
            "trainer.max_epochs": 3, "trainer.num_sanity_val_steps": 0,
            "trainer.enable_progress_bar": "false", "trainer.enable_model_summary": "false",
            "trainer.accelerator": "cpu", "trainer.default_root_dir": root}
    rc = main(["fit", "--config", str(ROOT / "configs" / "fit" / "fno_burgers.yaml"),
               *(arg for key, value in tiny.items() for arg in (f"--{key}", str(value)))])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "NonFiniteWeights: the weights were found NaN or infinite after epoch 0" in err, err
    assert "No checkpoint was written before this" in err and "it was 1e+12" in err, err
    assert not list(root.rglob("*.ckpt"))


def test_a_checkpoint_of_nan_weights_is_refused_before_it_is_written(tmp_path):
    data = TensorDataset(torch.randn(16, 2), torch.randn(16, 1))
    writer = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=1, save_top_k=-1,
                             filename="{step}")
    # batch 2 (global step 3) is not a logged batch: the step-3 checkpoint finds the NaN
    trainer = _trainer([FiniteWeights(), writer], max_epochs=1, log_every_n_steps=50)
    with pytest.raises(NonFiniteWeights, match=r"about to be written at global step 3 \(it was "
                       r"not written\).*finite at global step 2"):
        trainer.fit(Poisoned(at=(0, 2)), DataLoader(data, batch_size=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step=1.ckpt", "step=2.ckpt"]


def test_the_weights_are_checked_on_logged_batches_only(monkeypatch, tmp_path):
    calls = []

    def counted(module):
        calls.append(module.trainer.global_step)
        return True

    monkeypatch.setattr(finite_weights, "weights_finite", counted)
    data = TensorDataset(torch.randn(20, 2), torch.randn(20, 1))
    writer = ModelCheckpoint(dirpath=tmp_path)
    _trainer([FiniteWeights(), writer], max_epochs=1, log_every_n_steps=4).fit(
        Poisoned(at=(-1, -1)), DataLoader(data, batch_size=2))
    # 10 batches: the first, the last, the steps the loggers write (4, 8), and the epoch's
    # checkpoint after the last
    assert calls == [1, 4, 8, 10, 10]


@pytest.mark.parametrize("manifest", [True, False])
def test_in_an_online_run_the_error_names_its_checkpoint_folder_and_config_keys(tmp_path,
                                                                               manifest):
    folder = tmp_path / "checkpoint"
    if manifest:
        folder.mkdir()
        (folder / "manifest.json").write_text('{"global_step": 7, "trainers": 1}')
    data = TensorDataset(torch.randn(8, 2), torch.randn(8, 1))
    trainer = _trainer([FiniteWeights(online_checkpoint=str(folder))], max_epochs=2,
                       default_root_dir=tmp_path)
    with pytest.raises(NonFiniteWeights) as err:
        trainer.fit(Poisoned(at=(1, 0)), DataLoader(data, batch_size=2))
    text = str(err.value)
    assert "after epoch 1, batch 0" in text and "exporting nothing" in text, text
    assert "(trainer.gradient_clip_val: 1.0)" in text and "model.init_args.lr" in text, text
    assert "--ckpt_path" not in text and "--trainer." not in text, text  # fit's flags
    if manifest:
        assert f"written at global step 7 before this, has finite weights: {folder}" in text
    else:
        assert "No checkpoint was written before this" in text


def test_online_checkpoint_must_be_a_path():
    with pytest.raises(TypeError, match="online_checkpoint must be a folder path"):
        FiniteWeights(online_checkpoint=3)
