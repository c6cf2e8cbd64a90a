"""Throttled step logging writes the same logger rows as logging every step, with fewer calls."""

import csv

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

import pdesurrogate.training.next_step as next_step
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule
from pdesurrogate.training.step_logs import step_logs_due

from .test_next_step import ShiftPairs


def _fit(tmp_path, name: str) -> tuple[list[dict], int]:
    """Train 2 epochs x 7 batches, logging every 3 steps; CSV rows with train/loss, log calls."""
    torch.manual_seed(0)
    module = NextStepModule(FNO(1, 1, [4], 8, 1), lr=1e-3)
    calls = 0
    log = module.log

    def counting_log(*args, **kwargs):
        nonlocal calls
        calls += 1
        return log(*args, **kwargs)

    module.log = counting_log
    trainer = Trainer(logger=CSVLogger(tmp_path, name=name), enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                      devices=1, max_epochs=2, log_every_n_steps=3)
    trainer.fit(module, DataLoader(ShiftPairs(n=14), batch_size=2))
    with open(trainer.logger.experiment.metrics_file_path) as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/loss")]
    return [{"step": r["step"], "loss": r["train/loss"]} for r in rows], calls


def test_throttled_logging_writes_the_same_rows(tmp_path, monkeypatch):
    throttled, n_throttled = _fit(tmp_path, "throttled")
    monkeypatch.setattr(next_step, "step_logs_due", lambda module, batch_idx: True)
    every, n_every = _fit(tmp_path, "every")
    assert [r["step"] for r in throttled] == ["2", "5", "8", "11"]
    assert throttled == every
    # 14 steps x 2 calls logging every step; throttled: steps 0, 2, 5, 6, 7, 8, 11, 13
    assert n_every == 28 and n_throttled == 16


def test_not_attached_to_a_trainer_logs():
    assert step_logs_due(NextStepModule(FNO(1, 1, [4], 8, 1)), 5)
