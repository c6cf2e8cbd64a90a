"""The plain progress lines (stdout not a terminal) where test_progress_in_a_file.py does not
look: each line reaches the file as it is printed (a Slurm log is read while the fit runs), a
logger's version number is not among the metrics, and a bar used for a second fit starts its
lines over. Each test kills a mutant of progress.py that the other progress tests let
through."""

import io
import sys
from pathlib import Path

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import CSVLogger

from pdesurrogate.training.progress import RichProgressBar


def _fit(bar: RichProgressBar, tmp_path: Path, logger=False) -> None:
    Trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=1, logger=logger,
            enable_checkpointing=False, enable_model_summary=False, callbacks=[bar],
            default_root_dir=tmp_path, accelerator="cpu").fit(BoringModel())


def test_each_line_is_flushed_as_it_is_printed(tmp_path, monkeypatch):
    """stdout a buffered file: the lines are in the file before anything closes or flushes
    it (else a log showed them only when the buffer filled, kilobytes later)."""
    written = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(written, encoding="utf-8"))
    _fit(RichProgressBar(plain_every_s=3600), tmp_path)
    lines = written.getvalue().decode().splitlines()
    assert [line.split(", elapsed")[0] for line in lines] == [
        "epoch 1/2, batch 2/2, step 2", "epoch 2/2, batch 2/2, step 4"], lines


def test_a_loggers_version_is_not_a_metric(tmp_path, capsys):
    _fit(RichProgressBar(plain_every_s=3600), tmp_path,
         logger=CSVLogger(tmp_path, name="run", version=7))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and not any("v_num" in line for line in lines), lines


def test_a_second_fit_with_the_same_bar_prints_its_own_lines(tmp_path, capsys):
    bar = RichProgressBar(plain_every_s=3600)
    _fit(bar, tmp_path)
    first = capsys.readouterr().out.splitlines()
    _fit(bar, tmp_path)
    second = capsys.readouterr().out.splitlines()
    assert [line.split(", elapsed")[0] for line in second] == \
        [line.split(", elapsed")[0] for line in first] == [
        "epoch 1/2, batch 2/2, step 2", "epoch 2/2, batch 2/2, step 4"], (first, second)
