"""SIGUSR1 during a training step runs its handler at the next hook, not inside the step."""

import os
import signal

import pytest
import torch
from lightning.pytorch import Trainer
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
