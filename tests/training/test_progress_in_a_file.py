"""The training progress bar where its output goes to a file (a Slurm job's slurm-N.out,
``| tee log``, CI, an online run's job log): plain lines, one at the end of the first epoch,
then at most one every ``plain_every_s`` seconds, and one when training ends; no rich frame,
no escape codes, no carriage returns. Before, the file held nothing until the fit ended, then
the bar's last frame folded at 80 columns."""

from pathlib import Path

import pytest
import rich
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel

from pdesurrogate.cli import main
from pdesurrogate.training.progress import RichProgressBar, rich_progress_bar

ROOT = Path(__file__).resolve().parents[2]


def test_fit_into_a_file_prints_two_plain_lines(tmp_path, burgers_file, capsys):
    """A 30-epoch fit (seconds here, under ``plain_every_s``) with stdout not a terminal."""
    data = burgers_file(n_points=32, samples=10, frames=3)
    rc = main(["fit", "--config", str(ROOT / "configs" / "fit" / "fno_burgers.yaml"),
               "--data.init_args.path", str(data), "--data.init_args.batch_size", "4",
               "--model.init_args.model.init_args.hidden_channels", "8",
               "--trainer.max_epochs", "30", "--trainer.num_sanity_val_steps", "0",
               "--trainer.accelerator", "cpu", "--trainer.default_root_dir", str(tmp_path),
               "--trainer.enable_model_summary", "false"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    for text in (cap.out, cap.err):
        assert "\x1b" not in text and "\r" not in text and "━" not in text, text
    lines = cap.out.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("epoch 1/30, batch 4/4, step 4, elapsed 0:00:"), lines
    assert lines[1].startswith("epoch 30/30, batch 4/4, step 120, elapsed 0:00:"), lines
    for line in lines:
        assert ", train/rel_l2 " in line and ", val/rel_l2 " in line, line


def boring_fit(bar: RichProgressBar, tmp_path: Path, epochs: int = 3) -> None:
    Trainer(max_epochs=epochs, limit_train_batches=2, limit_val_batches=1, logger=False,
            enable_checkpointing=False, enable_model_summary=False, callbacks=[bar],
            default_root_dir=tmp_path, accelerator="cpu").fit(BoringModel())


def test_plain_lines_come_at_most_every_plain_every_s(tmp_path, capsys):
    """``plain_every_s=0``: a line after every batch (2 x 3), the epoch ends' lines and the
    last one already said; a long ``plain_every_s``: the first epoch's end and the end."""
    boring_fit(RichProgressBar(plain_every_s=0), tmp_path)
    lines = capsys.readouterr().out.splitlines()
    steps = [line.split(", step ")[1].split(",")[0] for line in lines]
    assert steps == ["1", "2", "3", "4", "5", "6"], lines
    assert lines[0].startswith("epoch 1/3, batch 1/2, step 1, elapsed 0:00:0"), lines
    boring_fit(RichProgressBar(plain_every_s=3600), tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(", elapsed")[0] for line in lines] == [
        "epoch 1/3, batch 2/2, step 2", "epoch 3/3, batch 2/2, step 6"], lines


def test_a_terminal_still_gets_the_rich_bar(tmp_path, capsys, monkeypatch):
    """``console_kwargs={force_terminal: true}`` (as on a terminal): Lightning's bar, no plain
    lines."""
    monkeypatch.setattr(rich, "_console", None)  # Lightning reconfigures rich's global console
    boring_fit(RichProgressBar(plain_every_s=0, console_kwargs={"force_terminal": True}),
               tmp_path)
    out = capsys.readouterr().out
    assert "━" in out and "\x1b[" in out, out
    assert "step 1, elapsed" not in out, out


def test_online_lines_count_the_runs_steps(tmp_path, capsys):
    """The online bar's plain line says the run's step out of max_steps."""
    bar = rich_progress_bar("Online training steps")
    bar.plain_every_s = 3600
    Trainer(max_steps=4, limit_train_batches=2, limit_val_batches=0, logger=False,
            enable_checkpointing=False, enable_model_summary=False, callbacks=[bar],
            default_root_dir=tmp_path, accelerator="cpu").fit(BoringModel())
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(", elapsed")[0] for line in lines] == [
        "Online training steps 2/4", "Online training steps 4/4"], lines


@pytest.mark.parametrize("every", [-1, float("nan"), "10", True])
def test_plain_every_s_must_be_seconds(every):
    with pytest.raises(ValueError, match="plain_every_s must be a number of seconds >= 0"):
        RichProgressBar(plain_every_s=every)


def test_a_dumb_terminal_gets_plain_lines(tmp_path, capsys, monkeypatch):
    """``TERM=dumb`` on a terminal: rich draws nothing until the end there, as in a file."""
    monkeypatch.setattr(rich, "_console", None)
    monkeypatch.setenv("TERM", "dumb")
    boring_fit(RichProgressBar(plain_every_s=3600, console_kwargs={"force_terminal": True}),
               tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(", elapsed")[0] for line in lines] == [
        "epoch 1/3, batch 2/2, step 2", "epoch 3/3, batch 2/2, step 6"], lines


def test_an_endless_fit_stopped_by_max_steps_counts_the_epochs_batches(tmp_path, capsys):
    """``max_epochs=-1`` with ``max_steps`` (a fine-tune from an online checkpoint): the last
    line counts the batch out of the epoch's batches, where it read ``batch 1/0`` (Lightning's
    bar total there is the steps left)."""
    Trainer(max_epochs=-1, max_steps=5, limit_train_batches=2, limit_val_batches=1,
            logger=False, enable_checkpointing=False, enable_model_summary=False,
            callbacks=[RichProgressBar(plain_every_s=3600)], default_root_dir=tmp_path,
            accelerator="cpu").fit(BoringModel())
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(", elapsed")[0] for line in lines] == [
        "epoch 1, batch 2/2, step 2", "epoch 3, batch 1/2, step 5"], lines
