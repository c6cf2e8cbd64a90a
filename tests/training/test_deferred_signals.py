"""SIGUSR1 during a training step runs its handler at the next hook, not inside the step."""

import os
import signal

import pytest
import torch
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader

from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule
from pdesurrogate.training.deferred_signals import DeferredSignals

from .test_next_step import ShiftPairs


class SignalsItself(NextStepModule):
    """Sends itself SIGUSR1 in the middle of training step 2."""

    in_step = False

    def training_step(self, batch, batch_idx):
        self.in_step = True
        if self.global_step == 2:
            os.kill(os.getpid(), signal.SIGUSR1)
        out = super().training_step(batch, batch_idx)
        self.in_step = False
        return out


def test_handler_runs_after_the_step(tmp_path):
    torch.manual_seed(0)
    module = SignalsItself(FNO(1, 1, [4], 8, 1), lr=1e-3)
    calls = []

    def handler(signum, frame):
        calls.append((signum, module.in_step, module.global_step))

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False, accelerator="cpu", devices=1, max_epochs=1,
                          callbacks=[DeferredSignals()], default_root_dir=tmp_path)
        trainer.fit(module, DataLoader(ShiftPairs(n=10), batch_size=2))
        # once, after step 2's optimiser step (global_step 3), outside the training step
        assert calls == [(signal.SIGUSR1, False, 3)]
        assert signal.getsignal(signal.SIGUSR1) is handler  # restored after training
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_unknown_signal_name():
    with pytest.raises(ValueError, match="unknown signal name 'SIGFOO'"):
        DeferredSignals(("SIGFOO",))


@pytest.mark.parametrize("step", [2, 4])  # a batch in the epoch, the epoch's last of 5
def test_slurm_requeue_checkpoint_comes_after_its_batchs_csv_row_is_on_disk(tmp_path,
                                                                            monkeypatch, step):
    """Lightning's own SIGUSR1 handler (Slurm auto-requeue) flushes the loggers, writes
    ``hpc_ckpt_1.ckpt`` and runs ``scontrol requeue``, after which the job may be killed at
    once: the CSV on disk then must hold the row of every batch that checkpoint has trained
    (before: the row of the batch during which SIGUSR1 arrived was still in memory)."""
    import csv

    import lightning.pytorch.trainer.connectors.signal_connector as connector
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    _under_slurm(monkeypatch)
    requeued = []

    def requeue(cmd, *args, **kwargs):  # `scontrol requeue`: what a kill now would leave
        with open(next(tmp_path.rglob("metrics.csv"))) as f:
            rows = [int(r["step"]) for r in csv.DictReader(f) if r["train/loss"]]
        saved = torch.load(tmp_path / "hpc_ckpt_1.ckpt", weights_only=True)
        requeued.append((rows, saved["global_step"]))
        return 0

    monkeypatch.setattr(connector, "call", requeue)
    monkeypatch.setattr(SignalsItself, "training_step", _signal_at(step))
    torch.manual_seed(0)
    module = SignalsItself(FNO(1, 1, [4], 8, 1), lr=1e-3)
    trainer = Trainer(logger=CSVLogger(tmp_path), log_every_n_steps=1, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                      devices=1, max_epochs=1, plugins=[SLURMEnvironment(auto_requeue=True)],
                      callbacks=[DeferredSignals()], default_root_dir=tmp_path)
    trainer.fit(module, DataLoader(ShiftPairs(n=10), batch_size=2))
    assert requeued == [(list(range(step + 1)), step + 1)]


def _signal_at(step: int):
    def training_step(self, batch, batch_idx):
        if self.global_step == step:
            os.kill(os.getpid(), signal.SIGUSR1)
        return NextStepModule.training_step(self, batch, batch_idx)

    return training_step


@pytest.mark.parametrize("step", [1, 2])  # in epoch 0's 4 batches: mid-epoch, before its last
def test_a_fit_resumed_from_the_requeue_checkpoint_trains_the_batches_the_full_fit_does(
        tmp_path, monkeypatch, advection_file, step):
    """The requeue checkpoint is written when the next batch starts (or at the epoch's end
    when that batch is the epoch's last): a fit resumed from it trains exactly the batches an
    uninterrupted fit trains after that step."""
    import lightning.pytorch.trainer.connectors.signal_connector as connector
    from lightning.pytorch import Callback, seed_everything
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    from pdesurrogate.training import FieldDataModule

    _under_slurm(monkeypatch)
    monkeypatch.setattr(connector, "call", lambda *args, **kwargs: 0)

    class Batches(Callback):
        def __init__(self):
            self.seen = []

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.seen.append((trainer.global_step, batch["params"].flatten().tolist()))

    def fit(root, ckpt=None):
        seed_everything(0, verbose=False)
        batches = Batches()
        Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, accelerator="cpu", max_epochs=2,
                num_sanity_val_steps=0, plugins=[SLURMEnvironment(auto_requeue=True)],
                callbacks=[DeferredSignals(), batches], default_root_dir=tmp_path / root).fit(
            SignalsItself(FNO(1, 1, [4], 8, 1, n_params=1)),
            datamodule=FieldDataModule(str(advection_file), batch_size=10), ckpt_path=ckpt)
        return batches.seen

    monkeypatch.setattr(SignalsItself, "training_step", NextStepModule.training_step)
    full = fit("full")  # 40 training pairs: 4 batches of 10 an epoch
    monkeypatch.setattr(SignalsItself, "training_step", _signal_at(step))
    fit("stopped")
    ckpt = tmp_path / "stopped" / "hpc_ckpt_1.ckpt"
    done = torch.load(ckpt, weights_only=True)["global_step"]
    assert done == {1: 2, 2: 4}[step]  # step 2's next batch is epoch 0's last: its end
    monkeypatch.setattr(SignalsItself, "training_step", NextStepModule.training_step)
    assert fit("resumed", ckpt=str(ckpt)) == full[done:]


def _under_slurm(monkeypatch) -> None:
    """A one-task Slurm job (job 1), as SLURMEnvironment reads it."""
    for key in ("SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID"):
        monkeypatch.setenv(key, "1" if key in ("SLURM_JOB_ID", "SLURM_NTASKS") else "0")
    monkeypatch.setenv("SLURM_JOB_NAME", "fit")


class SignalAt(Callback):
    """Sends itself SIGUSR1 at one hook: ``validation`` as epoch 0's first validation batch
    starts, ``last_batch`` as epoch 0's last training batch starts (after DeferredSignals'
    hook, which leaves that batch's start alone), ``train_end`` in the last epoch's
    on_train_epoch_end (after DeferredSignals' own)."""

    def __init__(self, where: str):
        self.where = where

    def on_validation_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0):
        if self.where == "validation" and trainer.current_epoch == 0 and batch_idx == 0:
            os.kill(os.getpid(), signal.SIGUSR1)

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if (self.where == "last_batch" and trainer.current_epoch == 0
                and trainer.fit_loop.epoch_loop.batch_progress.is_last_batch):
            os.kill(os.getpid(), signal.SIGUSR1)

    def on_train_epoch_end(self, trainer, module):
        if self.where == "train_end" and trainer.current_epoch == trainer.max_epochs - 1:
            os.kill(os.getpid(), signal.SIGUSR1)


# (validating, epoch, global step, the frame the handler got) when it runs: at that validation
# batch's end; at epoch 0's end (5 batches), not as epoch 1 starts; at the end of training
# (current_epoch 2, the loop having counted epoch 1 done)
@pytest.mark.parametrize(("where", "handled"), [
    ("validation", (True, 0, 5, "on_validation_batch_start")),
    ("last_batch", (False, 0, 5, "on_train_batch_start")),
    ("train_end", (False, 2, 10, "on_train_epoch_end"))])
def test_a_signal_outside_a_training_batch_is_handled_at_the_next_hook_in_one_process(
        tmp_path, where, handled):
    """In one process the delay is at most one batch wherever the signal lands (a validation
    batch, an epoch's last training batch, the last epoch's end hooks), and the handler gets
    the frame the signal interrupted."""
    torch.manual_seed(0)
    module = NextStepModule(FNO(1, 1, [4], 8, 1), lr=1e-3)
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", devices=1, max_epochs=2,
                      num_sanity_val_steps=0, default_root_dir=tmp_path,
                      callbacks=[DeferredSignals(), SignalAt(where)])
    calls = []

    def handler(signum, frame):
        calls.append((trainer.validating, trainer.current_epoch, trainer.global_step,
                      frame.f_code.co_name if frame is not None else None))

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        val = DataLoader(ShiftPairs(n=4, window=2), batch_size=2) if where == "validation" else None
        trainer.fit(module, DataLoader(ShiftPairs(n=10), batch_size=2), val)
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert calls == [handled]
