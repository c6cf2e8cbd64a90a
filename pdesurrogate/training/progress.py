"""The progress bar of every training command: a rich bar redrawn a few times a second on a
terminal, plain lines now and then in a file.

Lightning's ``RichProgressBar(refresh_rate=R)`` redraws up to ``R`` times a second (default
100) from a thread of its own, so with its default it redraws after every batch. A redraw
costs a few milliseconds of Python with the GIL held (2.4 ms on a 2-core machine for
``configs/fit/fno_burgers.yaml``), time the training loop waits for wherever it runs Python
or GIL-holding torch calls (forward, optimizer, data loading). Measured by
``benchmarks/training_overhead.py``: ``pdesurrogate fit`` was 7-14 % slower than a bare
PyTorch loop with per-batch redraws, and within noise of it at :data:`REFRESH_PER_S` redraws
a second (-2.8 % and +0.7 % in two runs), about what a terminal bar needs to look live.

Where the bar's console is no terminal (a Slurm job's ``slurm-N.out``, ``| tee log``, CI,
``nohup``, an online run's trainer rank, whose output goes to a job log; in full,
:func:`~pdesurrogate.datasets.progress.redraws`), rich draws nothing
until the run ends and then one frame, folded at 80 columns: a log of a fit of many hours said
nothing about it until it ended. There the bar prints plain lines instead
(:class:`RichProgressBar`).

Lightning also updates the bar after every batch: the count, and the shown metrics, which it
reads with ``trainer.progress_bar_metrics`` (a ``.item()`` of each, so a host sync a batch on a
GPU). Between two redraws only the last update is ever seen, so the bar here updates a batch's
count and metrics only where a redraw is due (every ``1 / refresh_rate`` seconds), and always
at an epoch's end (``max_steps`` included) and before validation.
"""

from __future__ import annotations

import datetime
import math
import sys
import time
from typing import Any

from lightning.pytorch.callbacks import RichProgressBar as _LightningRichBar

from pdesurrogate.datasets.progress import redraws

REFRESH_PER_S = 4
# a plain progress line (the bar's console not a terminal) at most this often, in seconds,
# besides the first epoch's end and the end of training: 120 lines an hour of a Slurm log
PLAIN_EVERY_S = 30.0
CLASS_PATH = "pdesurrogate.training.progress.RichProgressBar"
# a terminal narrower than this gets plain lines: Lightning's bar needs about 50 columns
# without its metrics ('Epoch 1/30 ━━━━━━━━━━ 32/32 0:00:01 • 0:00:00 24.1it/s')
MIN_BAR_COLUMNS = 60


class RichProgressBar(_LightningRichBar):
    """Lightning's ``RichProgressBar`` on a terminal (or in Jupyter); elsewhere (and with
    ``TERM=dumb``, ``TTY_INTERACTIVE=0``, ``FORCE_COLOR`` into a file, or fewer than
    :data:`MIN_BAR_COLUMNS` columns) plain lines on stdout, flushed, where the bar would draw:
    ``epoch 4/30, batch 32/32, step 128, elapsed 0:01:05, train/rel_l2 0.313, val/rel_l2
    0.274``, at the end of the first epoch, then at most every ``plain_every_s`` seconds (at a
    batch's or an epoch's end), and when training ends.

    ``refresh_rate``, ``leave``, ``console_kwargs``: as Lightning's (``console_kwargs`` also
    decide whether the console is a terminal, e.g. ``{force_terminal: true}``).
    """

    def __init__(self, refresh_rate: int = REFRESH_PER_S, leave: bool = False,
                 console_kwargs: dict[str, Any] | None = None,
                 plain_every_s: float = PLAIN_EVERY_S):
        if isinstance(plain_every_s, bool) or not isinstance(plain_every_s, (int, float)) \
                or not math.isfinite(plain_every_s) or plain_every_s < 0:
            raise ValueError("RichProgressBar: plain_every_s must be a number of seconds >= 0, "
                             f"got {plain_every_s!r}")
        super().__init__(refresh_rate=refresh_rate, leave=leave, console_kwargs=console_kwargs)
        self.plain_every_s = float(plain_every_s)
        self._plain = False
        self._started = self._last = 0.0
        self._position = self._epoch = 0
        self._printed_step = -1
        self._updated = -math.inf  # time.monotonic() of the last update of the training bar
        # a batch's end not yet shown: (trainer, module, batch_idx); not its outputs or batch,
        # which would keep that step's tensors alive
        self._pending: tuple | None = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if self.is_enabled:
            from rich.console import Console

            probe = Console(**self._console_kwargs)
            # TERM=dumb (Emacs' shell), CI with FORCE_COLOR or TTY_INTERACTIVE=0: rich
            # animates nothing there, or redraws into a log; a narrow terminal: Lightning's
            # columns squeezed to 'train… 0.139', 'val/r… 3.188' over six lines
            self._plain = not redraws(probe) or (
                not probe.is_jupyter and probe.width < MIN_BAR_COLUMNS)
            if self._plain:
                self.disable()  # Lightning's hooks then draw nothing

    def on_train_start(self, trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        self._started = self._last = time.monotonic()
        self._printed_step = -1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self._plain and self.is_enabled:  # refresh_rate 0 disables the bar
            now = time.monotonic()
            if now - self._updated < 1.0 / self.refresh_rate:
                self._pending = (trainer, pl_module, batch_idx)
                return
            self._updated, self._pending = now, None
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if not self._plain:
            return
        self._position, self._epoch = batch_idx + 1, trainer.current_epoch
        # an epoch's last batch: the epoch's end says it, with the validation's metrics
        if self._position != self.total_train_batches \
                and time.monotonic() - self._last >= self.plain_every_s:
            self._print_line(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._show_pending()
        super().on_train_epoch_end(trainer, pl_module)
        # validation at an epoch's end has run by now: its metrics are in the line
        if self._plain and (self._printed_step < 0
                            or time.monotonic() - self._last >= self.plain_every_s):
            self._print_line(trainer, pl_module)

    def on_validation_start(self, trainer, pl_module) -> None:
        self._show_pending()
        super().on_validation_start(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        if self._plain and self._printed_step != trainer.global_step:
            self._print_line(trainer, pl_module)

    def _show_pending(self) -> None:
        """Update the training bar with the last batch's end where a redraw skipped it
        (an epoch ended, by ``max_steps`` too, or validation started, between two redraws)."""
        if self._pending is not None:
            trainer, pl_module, batch_idx = self._pending
            self._pending = None
            _LightningRichBar.on_train_batch_end(self, trainer, pl_module, None, None, batch_idx)

    def _print_line(self, trainer, pl_module) -> None:
        now = time.monotonic()
        self._last, self._printed_step = now, trainer.global_step
        elapsed = datetime.timedelta(seconds=round(now - self._started))
        line = f"{self._plain_position(trainer)}, elapsed {elapsed}"
        metrics = self.get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        for name, value in metrics.items():
            line += f", {name} {value:.4g}" if isinstance(value, float) else f", {name} {value}"
        print(line, file=sys.stdout, flush=True)

    def _plain_position(self, trainer) -> str:
        """``epoch E/N, batch B/M, step S`` of the last batch trained, epochs counted from 1
        (Lightning's bar counts from 0, ``Epoch 0/29``; after the last epoch its epoch is one
        past it). ``M`` is the epoch's batches: Lightning's ``total_train_batches`` is, with
        ``max_epochs=-1``, the steps left to ``max_steps``, which reads ``batch 1/0`` at the end.
        ``B`` is Lightning's count, which a fit resumed from an online run's checkpoint starts
        at the stream's batches (``batch 85`` of a 5-batch epoch): past ``M`` it goes without
        ``/M``, as Lightning's TQDM bar shows ``85/?``."""
        epochs, batches = trainer.max_epochs, trainer.num_training_batches
        return (f"epoch {self._epoch + 1}" + (f"/{epochs}" if epochs and epochs > 0 else "")
                + f", batch {self._position}"
                + (f"/{int(batches)}" if math.isfinite(batches) and self._position <= batches
                   else "")
                + f", step {trainer.global_step}")


def rich_progress_bar(description: str | None = None) -> RichProgressBar:
    """:class:`RichProgressBar` redrawn :data:`REFRESH_PER_S` times a second.

    ``description``: the training bar's label instead of ``Epoch E/N``, for runs of one endless
    epoch (``pdesurrogate online``), where Lightning would print ``Epoch 0/-2``. That bar
    counts the run's optimiser steps out of ``max_steps``, so a resumed run goes on from where
    it stopped (Lightning would count this leg's batches out of the steps left).
    """
    if description is None:
        return RichProgressBar(refresh_rate=REFRESH_PER_S)

    class _Labelled(RichProgressBar):
        def _get_train_description(self, current_epoch: int) -> str:
            return description

        def _plain_position(self, trainer) -> str:
            steps = self.total_train_batches
            return f"{description} {trainer.global_step}" + (
                f"/{int(steps)}" if math.isfinite(steps) else "")

        @property
        def total_train_batches(self) -> int | float:
            max_steps = self.trainer.max_steps
            return max_steps if max_steps is not None and max_steps > 0 \
                else super().total_train_batches

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            # the bar's position is batch_idx + 1: make that the run's step count
            super().on_train_batch_end(trainer, pl_module, outputs, batch,
                                       trainer.global_step - 1)

    return _Labelled(refresh_rate=REFRESH_PER_S)
