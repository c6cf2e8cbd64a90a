"""The plain progress line of a fit resumed from an online run's checkpoint (``fit
--ckpt_path OUT/checkpoint/model.ckpt``, output into a file). The online run is one endless
epoch; its checkpoint holds that epoch's batch count, and Lightning counts the resumed epoch's
batches on from it: the first line read ``epoch 2, batch 9/5`` for a 5-batch epoch after 8
online steps. A count past the epoch's batches now goes without ``/5``."""

import torch
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset
from torch.utils.data import DataLoader, IterableDataset

from pdesurrogate.training.progress import RichProgressBar

ONLINE_STEPS = 8


class _Stream(IterableDataset):
    """A stream that ends after ``ONLINE_STEPS`` batches, as a stop request ends the online
    run's epoch."""

    def __iter__(self):
        gen = torch.Generator().manual_seed(0)
        for _ in range(ONLINE_STEPS):
            yield torch.randn(2, 32, generator=gen)


class _OnlineModel(BoringModel):
    def train_dataloader(self):
        return DataLoader(_Stream(), batch_size=None)


class _FileModel(BoringModel):
    def train_dataloader(self):  # 5 batches an epoch
        return DataLoader(RandomDataset(32, 10), batch_size=2)


class _StopAtEpochEnd(Callback):
    """What the online run's StreamMonitor does: its one epoch ends the run."""

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        trainer.should_stop = True


def _online_checkpoint(tmp_path):
    """A checkpoint with the loop state of a stopped online run's ``model.ckpt`` (written
    after ``fit`` returned): epoch 0 completed, its batch count ``ONLINE_STEPS``."""
    trainer = Trainer(max_epochs=-1, limit_val_batches=0, logger=False,
                      enable_checkpointing=False, enable_model_summary=False,
                      enable_progress_bar=False, callbacks=[_StopAtEpochEnd()],
                      default_root_dir=tmp_path, accelerator="cpu")
    trainer.fit(_OnlineModel())
    path = tmp_path / "online.ckpt"
    trainer.save_checkpoint(path)
    loop = torch.load(path, weights_only=True)["loops"]["fit_loop"]
    assert loop["epoch_loop.batch_progress"]["current"]["ready"] == ONLINE_STEPS
    assert loop["epoch_progress"]["current"]["completed"] == 1
    return path


def test_a_fit_resumed_from_an_online_checkpoint_counts_no_batch_past_the_epochs(tmp_path,
                                                                                 capsys):
    ckpt = _online_checkpoint(tmp_path)
    capsys.readouterr()
    Trainer(max_epochs=-1, max_steps=ONLINE_STEPS + 7, limit_val_batches=1, logger=False,
            enable_checkpointing=False, enable_model_summary=False,
            callbacks=[RichProgressBar(plain_every_s=0)], default_root_dir=tmp_path,
            accelerator="cpu").fit(_FileModel(), ckpt_path=ckpt)
    lines = [line.split(", elapsed")[0] for line in capsys.readouterr().out.splitlines()]
    # Lightning ends the resumed epoch after one batch (it counts the stream's 8 in it); the
    # next epoch counts from 1 out of the file's 5 again
    assert lines[0] == f"epoch 2, batch {ONLINE_STEPS + 1}, step {ONLINE_STEPS + 1}", lines
    assert f"epoch 3, batch 1/5, step {ONLINE_STEPS + 2}" in lines, lines
    assert lines[-1] == f"epoch 4, batch 1/5, step {ONLINE_STEPS + 7}", lines
    for line in lines:
        batch = line.split(", batch ")[1].split(",")[0]
        if "/" in batch:
            done, total = map(int, batch.split("/"))
            assert done <= total, line

