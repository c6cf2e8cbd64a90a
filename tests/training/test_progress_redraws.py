"""The training bar where Lightning's rich bar would not be seen as it runs: a CI log that rich
takes for a terminal (FORCE_COLOR, TTY_INTERACTIVE=0) and a terminal narrower than
MIN_BAR_COLUMNS get the plain lines a log file gets; a wide terminal keeps the bar."""

from pathlib import Path

import pytest
import rich
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel

from pdesurrogate.training.progress import MIN_BAR_COLUMNS, RichProgressBar

PLAIN = ["epoch 1/3, batch 2/2, step 2", "epoch 3/3, batch 2/2, step 6"]


def boring_fit(bar: RichProgressBar, tmp_path: Path) -> None:
    Trainer(max_epochs=3, limit_train_batches=2, limit_val_batches=1, logger=False,
            enable_checkpointing=False, enable_model_summary=False, callbacks=[bar],
            default_root_dir=tmp_path, accelerator="cpu").fit(BoringModel())


@pytest.fixture(autouse=True)
def fresh_rich_console(monkeypatch):
    monkeypatch.setattr(rich, "_console", None)  # Lightning reconfigures rich's global console


@pytest.mark.parametrize("env", [{"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1"}])
def test_a_log_file_taken_for_a_terminal_gets_plain_lines(tmp_path, capsys, monkeypatch, env):
    """stdout a file (here pytest's capture) with FORCE_COLOR=1, as CI jobs set for coloured
    logs: before, Lightning's bar redrew into the log, escape codes and all."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    boring_fit(RichProgressBar(plain_every_s=3600), tmp_path)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "━" not in out, out
    assert [line.split(", elapsed")[0] for line in out.splitlines()] == PLAIN, out


def test_a_terminal_told_not_to_animate_gets_plain_lines(tmp_path, capsys, monkeypatch):
    """TTY_INTERACTIVE=0 (rich's setting for CI): before, nothing until the fit ended."""
    monkeypatch.setenv("TTY_INTERACTIVE", "0")
    boring_fit(RichProgressBar(plain_every_s=3600, console_kwargs={"force_terminal": True}),
               tmp_path)
    out = capsys.readouterr().out
    assert [line.split(", elapsed")[0] for line in out.splitlines()] == PLAIN, out


@pytest.mark.parametrize("width", [40, MIN_BAR_COLUMNS])
def test_a_narrow_terminal_gets_plain_lines_a_wide_one_the_bar(tmp_path, capsys, width):
    """40 columns: before, Lightning's bar over six lines, 'train… 0.139', 'val/r… 3.188'."""
    bar = RichProgressBar(plain_every_s=3600,
                          console_kwargs={"force_terminal": True, "width": width})
    boring_fit(bar, tmp_path)
    out = capsys.readouterr().out
    if width < MIN_BAR_COLUMNS:
        assert [line.split(", elapsed")[0] for line in out.splitlines()] == PLAIN, out
    else:
        assert "━" in out and "step 2, elapsed" not in out, out
