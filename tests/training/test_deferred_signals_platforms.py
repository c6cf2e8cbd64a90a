"""``DeferredSignals`` where its signal does not exist or cannot be handled: every ``fit`` adds
it for SIGUSR1, which Windows lacks (before, its constructor refused "unknown signal name
'SIGUSR1'", so no fit started there), and a training run off the main thread, where
``signal.signal`` raises ValueError (before, when SIGUSR1 had a Python handler)."""

import signal
import threading
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader

from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule, deferred_signals
from pdesurrogate.training.deferred_signals import DeferredSignals

from .test_next_step import ShiftPairs


def test_a_posix_signal_this_platform_lacks_is_skipped(tmp_path, monkeypatch):
    # the signal module as the callback sees it on Windows (Lightning keeps the real one)
    windows = SimpleNamespace(**{k: getattr(signal, k) for k in dir(signal)
                                 if not k.startswith("__") and k != "SIGUSR1"})
    monkeypatch.setattr(deferred_signals, "signal", windows)
    callback = DeferredSignals()
    torch.manual_seed(0)
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", devices=1, max_epochs=1,
                      callbacks=[callback], default_root_dir=tmp_path)
    trainer.fit(NextStepModule(FNO(1, 1, [4], 8, 1), lr=1e-3),
                DataLoader(ShiftPairs(n=6), batch_size=2))
    assert trainer.global_step == 3
    # a name no platform has is still a mistake
    with pytest.raises(ValueError, match="unknown signal name 'SIGUSR'"):
        DeferredSignals(("SIGUSR",))


def test_training_off_the_main_thread_defers_nothing():
    def handler(signum, frame):
        pass

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        callback, errors = DeferredSignals(), []

        def start():
            try:
                callback.on_train_start(SimpleNamespace(world_size=1), None)
            except Exception as e:  # noqa: BLE001 (reported below, in the main thread)
                errors.append(e)

        thread = threading.Thread(target=start)
        thread.start()
        thread.join()
        assert errors == [] and signal.getsignal(signal.SIGUSR1) is handler
        callback.on_train_end(SimpleNamespace(world_size=1), None)
        assert signal.getsignal(signal.SIGUSR1) is handler
    finally:
        signal.signal(signal.SIGUSR1, old)
