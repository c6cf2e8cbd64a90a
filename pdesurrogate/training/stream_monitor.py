"""``StreamMonitor``: live metrics of an online run, logged like any training metric.

Logged every ``log_every_n_steps`` training steps (and kept in :attr:`StreamMonitor.summary`;
the rows online.png draws are kept in :attr:`StreamMonitor.history`, at most
:data:`HISTORY_ROWS` of them, evenly spaced over the run):

* ``stream/samples_per_s``, ``stream/mb_per_s``: samples and payload megabytes received by this
  trainer rank since the stream started;
* ``stream/buffer_fill``: stored items / capacity; ``stream/seen_mean``, ``stream/seen_max``:
  times the stored items were drawn so far;
* ``trainer/idle_fraction``: share of the wall time since the first training batch that the
  training loop spent between batches waiting for data (the buffer below its watermark, the
  end-of-stream agreement, collation). The wait before the first batch (filling the buffer up
  to the watermark) is reported separately as ``startup_wait_s`` in the summary.

It also ends training at the end of the first epoch: an online "epoch" is the whole stream (the
iterable ends only when the stream has ended or the ranks agreed to stop).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from lightning.pytorch import Callback

from pdesurrogate.streaming import Receiver, TrainingBuffer

# rows of StreamMonitor.history at most (~460 bytes each): a run of days logs millions of
# rows (30 M steps at 20 a row: 1.5 M rows, ~0.7 GB), a figure needs a few thousand
HISTORY_ROWS = 2048


class StreamMonitor(Callback):
    """Logs stream and idle metrics (module docstring).

    Args:
        receiver: this rank's receiver.
        buffer: this rank's training buffer.
        log_every_n_steps: logging period in training steps.
        checkpoint: optional ``checkpoint(trainer)`` called every ``checkpoint_every_n_steps``
            steps on every trainer rank (collective: the ranks step in lockstep).
        checkpoint_every_n_steps: period of ``checkpoint`` (0: never).
    """

    def __init__(self, receiver: Receiver, buffer: TrainingBuffer, log_every_n_steps: int = 20,
                 checkpoint: Callable | None = None, checkpoint_every_n_steps: int = 0):
        super().__init__()
        self.receiver, self.buffer = receiver, buffer
        self.log_every_n_steps = max(1, int(log_every_n_steps))
        self.checkpoint, self.checkpoint_every_n_steps = checkpoint, int(checkpoint_every_n_steps)
        self._fit_start = self._first = self._last_end = None
        self.wait_s = 0.0
        self.startup_wait_s = 0.0
        self.batches = 0
        # every `_keep_every`-th logged row (counted by `_rows` from 0) is kept in history
        self.history: list[dict] = []
        self._rows = 0
        self._keep_every = 1

    def on_train_start(self, trainer, pl_module) -> None:
        self._fit_start = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._first is None:
            self._first = now
            self.startup_wait_s = now - (self._fit_start or now)
        elif self._last_end is not None:
            self.wait_s += now - self._last_end

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches += 1
        step = trainer.global_step
        if step % self.log_every_n_steps == 0:
            row = self.metrics()
            # at the step the CSV gives this row: Lightning's index from 0 of the optimiser
            # step, which global_step (the steps done) already counts here
            self._record({"step": step - 1, **row})
            pl_module.log_dict({k: float(v) for k, v in row.items()}, on_step=True,
                               on_epoch=False, batch_size=1)
        if self.checkpoint is not None and self.checkpoint_every_n_steps > 0 \
                and step % self.checkpoint_every_n_steps == 0:
            self.checkpoint(trainer)
        # after the checkpoint, so its time does not count as waiting for data
        self._last_end = time.perf_counter()

    def _record(self, row: dict) -> None:
        """Keep ``row`` in :attr:`history` if it is one of every ``_keep_every``; a full
        history (:data:`HISTORY_ROWS`) drops every other row and keeps half as many from then
        on, so it stays evenly spaced from the first row on and never holds more."""
        keep = self._rows % self._keep_every == 0
        self._rows += 1
        if not keep:
            return
        if len(self.history) >= HISTORY_ROWS:
            del self.history[1::2]
            self._keep_every *= 2
            if (self._rows - 1) % self._keep_every:
                return
        self.history.append(row)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        trainer.should_stop = True

    def idle_fraction(self) -> float:
        if self._first is None or self._last_end is None:
            return 0.0
        return self.wait_s / max(self._last_end - self._first, 1e-9)

    def metrics(self) -> dict[str, float]:
        st = self.receiver.stats()
        seen = self.buffer.seen_counts()
        return {
            "stream/samples_per_s": st["samples_per_s"],
            "stream/mb_per_s": st["mb_per_s"],
            "stream/buffer_fill": len(self.buffer) / self.buffer.capacity,
            "stream/seen_mean": float(np.mean(seen)) if seen else 0.0,
            "stream/seen_max": float(np.max(seen)) if seen else 0.0,
            "trainer/idle_fraction": self.idle_fraction(),
        }

    @property
    def summary(self) -> dict:
        """Totals at the end: batches, wait and startup times, idle fraction, last metrics."""
        return {"batches": self.batches, "wait_s": self.wait_s,
                "startup_wait_s": self.startup_wait_s, "idle_fraction": self.idle_fraction(),
                **self.metrics()}
