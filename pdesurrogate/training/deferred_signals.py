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
where no such lock is held. The delay is at most one training or validation batch (under DDP
one training batch more, see below).

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
runs those handlers, each once however many ranks received its signal. At a training batch's
start the agreement is read one batch later (``later=True``: the reduction runs in the
background; a blocking one cost about 1 ms a batch): a signal received during batch k is
handled when batch k + 2 starts, not k + 1 (or at the epoch's end, as above), one batch more of
the ``T`` seconds that ``--signal=USR1@T`` leaves before the time limit (180 in
``slurm/train.sbatch``). The other points, which end an epoch's training, a validation pass or
training, agree at once, on the flags still in the background too, so no signal is left
unhandled. In one process there is no agreement and no delay.

A signal received more than once between two points (on one rank or several) runs its handler
once, as the kernel itself merges a signal that arrives while the same one is pending.

Where the platform has no such signal (Windows has no SIGUSR1: every ``fit`` adds this callback)
it is skipped, as nothing can send it; a training run off the main thread, where Python installs
no handler, defers none.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from lightning.pytorch import Callback

from .rank_agreement import RankAgreement

# POSIX signals that a platform may lack (Windows has none of them): there they are skipped
# rather than refused, since nothing can send them; any other unknown name is a mistake
POSIX_ONLY = frozenset({"SIGUSR1", "SIGUSR2", "SIGHUP", "SIGQUIT", "SIGALRM", "SIGCONT",
                        "SIGXCPU", "SIGPROF", "SIGVTALRM", "SIGWINCH", "SIGPIPE", "SIGCHLD"})


class DeferredSignals(Callback):
    """Defers the Python handlers of ``signals`` (default SIGUSR1) to the next hook.

    Args:
        signals: signal names, e.g. ``("SIGUSR1",)``; a signal without a Python handler when
            training starts (default action or ignored) is left alone, and one of
            :data:`POSIX_ONLY` that this platform lacks too.
    """

    def __init__(self, signals: tuple[str, ...] = ("SIGUSR1",)):
        self.signals = tuple(signals)
        for name in self.signals:
            if not isinstance(getattr(signal, name, None), signal.Signals) \
                    and name not in POSIX_ONLY:
                raise ValueError(f"unknown signal name {name!r} (expected e.g. 'SIGUSR1')")
        # those this platform has, in the order given (the same on every rank)
        self._signals = tuple(getattr(signal, name) for name in self.signals
                              if isinstance(getattr(signal, name, None), signal.Signals))
        self._handlers: dict[int, Any] = {}
        self._pending: list[tuple[int, FrameType | None]] = []
        self._ranks = RankAgreement()

    def on_train_start(self, trainer, pl_module) -> None:
        self._ranks.open(trainer)  # every rank calls this hook
        # Lightning installs its handlers after on_fit_start, before this hook; only the main
        # thread can install one (Lightning does not either elsewhere)
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in self._signals:
            handler = signal.getsignal(sig)
            if callable(handler) and handler != self._record:
                self._handlers[sig] = handler
                signal.signal(sig, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self._pending.append((signum, frame))

    def run_pending(self, later: bool = False) -> None:
        """Call the original handler of each signal received since the last call, once.

        Under DDP, of each signal any rank received, on every rank: a collective, which every
        rank calls with the same ``later``. With ``later`` under DDP, of each signal received
        before the previous call, if that call had ``later`` too (the ranks have agreed on them
        in the background since), while they agree on those received since in the background,
        for the next call (:meth:`.RankAgreement.any_rank`).
        """
        # swapped before it is read: a signal landing meanwhile is in one list or the other
        received, self._pending = self._pending, []
        frames = dict(received)  # of each signal, its last arrival's frame
        sigs = self._signals
        agreed = self._ranks.any_rank([s in frames for s in sigs], later=later)
        for sig, run in zip(sigs, agreed, strict=True):
            if run and sig in self._handlers:
                # under DDP it runs away from where the signal landed, and on ranks it missed
                frame = None if self._ranks.distributed else frames.get(sig)
                self._handlers[sig](sig, frame)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # the batch before has logged its row; not before an epoch's last batch, whose
        # checkpoint the training order would read as the end of the epoch
        if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            self.run_pending(later=True)

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
