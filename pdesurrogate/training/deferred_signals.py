"""Run a training process's SIGUSR1 handler at a safe point, not inside the signal.

Under Slurm, Lightning's SIGUSR1 handler (auto-requeue: ``--signal=USR1@T``) finalises the
loggers, saves ``hpc_ckpt_N.ckpt`` and runs ``scontrol requeue``, all inside the signal
handler, i.e. between any two bytecodes of the main thread. If the signal lands while the main
thread holds a non-reentrant lock that this work needs again (TensorBoard's event queue while a
scalar is being queued, a checkpoint being written), the handler waits for a lock its own
thread holds: the job hangs until its time limit instead of requeueing (seen once in our Slurm
tests: "Handling auto-requeue signal: 10", then nothing for 7 minutes).

:class:`DeferredSignals` replaces the handler that is installed when training starts with one
that only records the signal, and calls the original handler from the next batch or epoch hook,
where no such lock is held. The delay is at most one training or validation batch.

A signal received during a training batch is handled once that batch is over, logging included:
Lightning logs a batch's metrics after its ``on_train_batch_end``, so a handler run there (as
before) wrote ``hpc_ckpt`` of the batch and flushed the loggers (the handler's
``logger.finalize``) before the batch's row reached the CSV logger, whose rows wait in memory
until a flush: a job killed once requeued lost the row, and the resume does not train that
batch again. It is handled when the next batch starts (its checkpoint is the same: nothing of
the next batch has run), or at the epoch's end or in validation when the batch was the epoch's
last (a checkpoint taken as the last batch starts would skip it on resume).

Under DDP the ranks run a handler together: Lightning's saves a checkpoint, which every rank
writes together, so a rank that ran it alone (Slurm signals the ranks at about the same time,
not at the same batch; a user may signal one) waited for the others in a collective that did
not match theirs. At each of the points above that every rank reaches together (a training
batch's start, the end of a training epoch, of a validation pass and of training; not a
validation batch, whose number can differ between ranks) they agree which signals any of them
has received, in one all-reduce (:class:`~.rank_agreement.RankAgreement`), and every rank
runs those handlers.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from lightning.pytorch import Callback

from .rank_agreement import RankAgreement


class DeferredSignals(Callback):
    """Defers the Python handlers of ``signals`` (default SIGUSR1) to the next hook.

    Args:
        signals: signal names, e.g. ``("SIGUSR1",)``; a signal without a Python handler when
            training starts (default action or ignored) is left alone.
    """

    def __init__(self, signals: tuple[str, ...] = ("SIGUSR1",)):
        self.signals = tuple(signals)
        for name in self.signals:
            if not isinstance(getattr(signal, name, None), signal.Signals):
                raise ValueError(f"unknown signal name {name!r} (expected e.g. 'SIGUSR1')")
        self._handlers: dict[int, Any] = {}
        self._pending: list[tuple[int, FrameType | None]] = []
        self._ranks = RankAgreement()

    def on_train_start(self, trainer, pl_module) -> None:
        self._ranks.open(trainer)  # every rank calls this hook
        # Lightning installs its handlers after on_fit_start, before this hook
        for name in self.signals:
            sig = getattr(signal, name)
            handler = signal.getsignal(sig)
            if callable(handler) and handler != self._record:
                self._handlers[sig] = handler
                signal.signal(sig, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self._pending.append((signum, frame))

    def run_pending(self) -> None:
        """Call the original handlers of the signals received since the last call (under DDP,
        of those any rank received: a collective, which every rank calls)."""
        if self._ranks.distributed:
            sigs = [getattr(signal, name) for name in self.signals]  # the same on every rank
            here = {s for s, _ in self._pending}
            flags = self._ranks.any_rank([s in here for s in sigs])
            self._pending += [(s, None) for s, f in zip(sigs, flags, strict=True)
                              if f and s not in here and s in self._handlers]
        while self._pending:
            signum, frame = self._pending.pop(0)
            self._handlers[signum](signum, frame)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # the batch before has logged its row; not before an epoch's last batch, whose
        # checkpoint the training order would read as the end of the epoch
        if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            self.run_pending()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                                dataloader_idx=0) -> None:
        if not self._ranks.distributed:
            self.run_pending()

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._ranks.distributed:
            self.run_pending()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.run_pending()

    def on_train_end(self, trainer, pl_module) -> None:
        self.run_pending()
        for sig, handler in self._handlers.items():
            if signal.getsignal(sig) == self._record:
                signal.signal(sig, handler)
        self._handlers.clear()
        self._ranks.close()
