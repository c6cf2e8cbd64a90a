"""The rich progress bar of every training command, redrawn a few times a second.

Lightning's ``RichProgressBar(refresh_rate=R)`` redraws up to ``R`` times a second (default
100) from a thread of its own, so with its default it redraws after every batch. A redraw
costs a few milliseconds of Python with the GIL held (2.4 ms on a 2-core machine for
``configs/fit/fno_burgers.yaml``), time the training loop waits for wherever it runs Python
or GIL-holding torch calls (forward, optimizer, data loading). Measured by
``benchmarks/training_overhead.py``: ``pdesurrogate fit`` was 7-14 % slower than a bare
PyTorch loop with per-batch redraws, and within noise of it at :data:`REFRESH_PER_S` redraws
a second (-2.8 % and +0.7 % in two runs), about what a terminal bar needs to look live.
"""

from __future__ import annotations

REFRESH_PER_S = 4
CLASS_PATH = "lightning.pytorch.callbacks.RichProgressBar"


def rich_progress_bar(description: str | None = None):
    """Lightning's ``RichProgressBar`` redrawn :data:`REFRESH_PER_S` times a second.

    ``description``: the training bar's label instead of ``Epoch E/N``, for runs of one endless
    epoch (``pdesurrogate online``), where Lightning would print ``Epoch 0/-2``. That bar
    counts the run's optimiser steps out of ``max_steps``, so a resumed run goes on from where
    it stopped (Lightning would count this leg's batches out of the steps left).
    """
    from lightning.pytorch.callbacks import RichProgressBar

    if description is None:
        return RichProgressBar(refresh_rate=REFRESH_PER_S)

    class _Labelled(RichProgressBar):
        def _get_train_description(self, current_epoch: int) -> str:
            return description

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
