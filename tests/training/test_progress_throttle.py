"""The rich bar on a terminal updates its count and metrics only where a redraw is due (every
``1 / refresh_rate`` s), not after every batch as Lightning's does (each update reads the
metrics, a ``.item()`` each), and always shows an epoch's last batch and where training
stopped."""

import time
from pathlib import Path

import rich
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import RichProgressBar as LightningBar
from lightning.pytorch.demos.boring_classes import BoringModel

from pdesurrogate.training.progress import RichProgressBar, rich_progress_bar


def _spy(monkeypatch, bar):
    """Record the position of each update of the training bar, and each read of the metrics."""
    shown, reads = [], []
    update, metrics = LightningBar._update, LightningBar.get_metrics

    def recording_update(self, bar_id, current, *args, **kwargs):
        if bar_id is not None and bar_id == self.train_progress_bar_id:
            shown.append(current)
        return update(self, bar_id, current, *args, **kwargs)

    def recording_metrics(self, trainer, module):
        reads.append(trainer.global_step)
        return metrics(self, trainer, module)

    monkeypatch.setattr(type(bar), "_update", recording_update)
    monkeypatch.setattr(type(bar), "get_metrics", recording_metrics)
    return shown, reads


def _fit(bar, tmp_path: Path, **trainer_args) -> float:
    model = BoringModel()
    started = time.monotonic()
    Trainer(logger=False, enable_checkpointing=False, enable_model_summary=False,
            callbacks=[bar], default_root_dir=tmp_path, accelerator="cpu",
            num_sanity_val_steps=0, **trainer_args).fit(model)
    return time.monotonic() - started


def test_updates_come_at_the_redraw_rate_and_at_each_epochs_end(tmp_path, monkeypatch):
    """2 epochs of 40 fast batches, a bar redrawn once a second: the training bar is updated at
    the first batch, at most once a second after it, and with each epoch's last batch (40)
    before its validation; on Lightning's rule it was updated (and the metrics read) after
    each of the 80 batches."""
    monkeypatch.setattr(rich, "_console", None)  # Lightning reconfigures rich's global console
    bar = RichProgressBar(refresh_rate=1, console_kwargs={"force_terminal": True})
    shown, reads = _spy(monkeypatch, bar)
    seconds = _fit(bar, tmp_path, max_epochs=2, limit_train_batches=40, limit_val_batches=1)
    bound = 1 + 2 + int(seconds) + 1  # the first batch, each epoch's last, the clock
    assert len([p for p in shown if p > 0]) <= bound, (shown, seconds)
    assert len(reads) <= bound + 4, (reads, seconds)  # + epoch and validation ends
    ends = [i for i, p in enumerate(shown) if p == 40]
    assert len(ends) == 2, shown  # each epoch's bar reached 40/40
    assert shown[-1] == 40, shown


def test_a_stop_between_redraws_still_shows_the_last_step(tmp_path, monkeypatch):
    """max_steps ends training in the middle of an epoch, between two redraws: the training
    bar's last update is that step (7), not an earlier one."""
    monkeypatch.setattr(rich, "_console", None)
    bar = RichProgressBar(refresh_rate=1, console_kwargs={"force_terminal": True})
    shown, _ = _spy(monkeypatch, bar)
    _fit(bar, tmp_path, max_steps=7, limit_train_batches=40, limit_val_batches=0)
    assert shown[-1] == 7, shown


def test_validation_inside_an_epoch_first_shows_the_batches_trained(tmp_path, monkeypatch):
    """Validation every 5 batches: the training bar shows 5, 10, 15 before each validation
    starts, even where the throttle skipped that batch's update."""
    monkeypatch.setattr(rich, "_console", None)
    bar = RichProgressBar(refresh_rate=1, console_kwargs={"force_terminal": True})
    shown, _ = _spy(monkeypatch, bar)
    at_validation = []
    start = RichProgressBar.on_validation_start

    def recording_start(self, trainer, module):
        start(self, trainer, module)
        at_validation.append(shown[-1])

    monkeypatch.setattr(RichProgressBar, "on_validation_start", recording_start)
    _fit(bar, tmp_path, max_epochs=1, limit_train_batches=20, limit_val_batches=1,
         val_check_interval=5)
    assert at_validation == [5, 10, 15, 20], (at_validation, shown)


def test_the_online_bar_shows_the_runs_last_step(tmp_path, monkeypatch):
    """The online bar (position = the run's step, total = max_steps) ends at max_steps."""
    monkeypatch.setattr(rich, "_console", None)
    bar = rich_progress_bar("Online training steps")
    bar._console_kwargs = {"force_terminal": True}
    bar._refresh_rate = 1
    shown, _ = _spy(monkeypatch, bar)
    _fit(bar, tmp_path, max_steps=30, limit_train_batches=40, limit_val_batches=0)
    assert shown[-1] == 30, shown
    assert len([p for p in shown if p > 0]) < 30, shown


def test_refresh_rate_0_still_turns_the_bar_off(tmp_path, monkeypatch):
    """``refresh_rate=0`` (Lightning's way to turn the bar off): training runs and the training
    bar is never updated (before the fix: a ZeroDivisionError at the first batch)."""
    monkeypatch.setattr(rich, "_console", None)
    bar = RichProgressBar(refresh_rate=0, console_kwargs={"force_terminal": True})
    shown, reads = _spy(monkeypatch, bar)
    _fit(bar, tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=0)
    assert shown == [] and reads == [], (shown, reads)
