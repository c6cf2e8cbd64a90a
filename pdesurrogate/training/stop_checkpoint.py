"""``StopCheckpoint``: on SIGTERM, a fit writes a checkpoint of where it stopped before it ends.

Lightning's own SIGTERM handling only stops the fit: after the current batch it raises
``SIGTERMException`` (a ``SystemExit`` without a code), so the process exited 0, as if
finished, and the batches of the epoch in progress were lost: a resume from the epoch's
``last.ckpt`` trained them again. This callback saves, at the end of the batch during which
SIGTERM arrived, the same kind of checkpoint as Slurm's requeue signal does (Lightning's
``hpc_ckpt``, also written at a batch's end), over the run's ``last.ckpt``: the file a resumed
or requeued fit starts from, which the training order and the draws then continue exactly
(:mod:`~pdesurrogate.training.epoch_sampler`, :mod:`~pdesurrogate.training.draw_seeds`).
``pdesurrogate fit`` then exits 143 (128 + SIGTERM) naming it.

Lightning's handler acts on the signal where it lands, which breaks two cases: the ranks of a
DDP run see SIGTERM at different batches (each stopped alone, and a checkpoint, which all ranks
write together, could not be written), and a SIGTERM during validation stopped the fit in the
middle of it, where nothing was saved. So the signal is only recorded when it arrives and handed
to Lightning's handler at a point every rank reaches together: the end of a training batch, or
the end of a validation pass (validation batches can differ in number between ranks).

Under DDP the agreement at a training batch's end is read one batch later
(:class:`~.rank_agreement.RankAgreement` with ``later=True``: a blocking all-reduce after every
batch cost about 1 ms a batch), so the ranks stop at the end of the batch after the one during
which SIGTERM arrived: well within the grace period a cluster gives between SIGTERM and SIGKILL
(Slurm's ``KillWait``, 30 s by default). At the points that end something, the agreement is at
once: the end of the batch that ends an epoch's training (or the fit, at ``max_steps``), the
end of a validation pass, and the end of a training epoch (which also catches a signal agreed
on in the background when the epoch ended early, e.g. by early stopping), so a signal is never
left unread. In one process there is nothing to agree on and no delay.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

from lightning.pytorch import Callback

from .rank_agreement import RankAgreement

CLASS_PATH = "pdesurrogate.training.stop_checkpoint.StopCheckpoint"


class StopCheckpoint(Callback):
    """Write ``last.ckpt`` where a fit stops on SIGTERM, at a point every rank agrees on.

    From the start of training, SIGTERM is recorded, not acted on. At the end of each training
    batch, and at the end of each validation pass, the ranks agree whether any of them has
    received it (under DDP one all-reduce: :class:`~.rank_agreement.RankAgreement`, whose
    result a training batch reads at the next batch's end, unless the batch ends the epoch's
    training; nothing in one process); if so, every rank passes the signal to Lightning's
    handler (which makes Lightning stop after this batch or at this epoch's end), and the ranks
    write ``last.ckpt`` together. A SIGTERM during validation thus stops the fit at the end of
    that validation pass, not in it.

    ``saved``: the path written (None: none yet). Nothing is written without a checkpoint
    writer (``--trainer.enable_checkpointing false``); the fit still stops. A SIGTERM before
    training starts (during the sanity check) is Lightning's to handle, as before.
    """

    def __init__(self):
        self.saved: str | None = None
        self._lightning_handler = None  # SIGTERM's handler when training started
        self._received: FrameType | None | bool = False
        self._ranks = RankAgreement()

    def on_train_start(self, trainer, pl_module) -> None:
        self._ranks.open(trainer)  # every rank calls this hook
        # Lightning installs its handler after on_fit_start, before this hook; only the main
        # thread can install one (Lightning does not either elsewhere)
        if threading.current_thread() is not threading.main_thread():
            return
        handler = signal.getsignal(signal.SIGTERM)
        if callable(handler) and handler != self._record:
            self._lightning_handler = handler
            signal.signal(signal.SIGTERM, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self._received = True

    def _stop_agreed(self, trainer, later: bool) -> bool:
        """Whether any rank has received SIGTERM; a collective under DDP (all ranks call it).
        With ``later`` under DDP: whether any had at the previous call (if it had ``later``)."""
        # the flag stays raised until the stop: the handler and the checkpoint run once
        [received] = self._ranks.any_rank(
            [bool(self._received) or bool(trainer.received_sigterm)], later=later)
        if received and not trainer.received_sigterm:
            self._received = False
            if self._lightning_handler is not None:
                # on every rank at once: the handler's own broadcast (DDP) is then matched
                self._lightning_handler(signal.SIGTERM, None)
        return received

    def _stop_here(self, trainer, later: bool = False) -> None:
        # `saved` is set on every rank at once, so the ranks keep calling the collective alike
        if self.saved is not None or not self._stop_agreed(trainer, later):
            return
        path = last_checkpoint_path(trainer)
        if path is None:
            return
        # all ranks: rank 0 writes, the others wait for it; whole (optimizer, loops) to resume
        trainer.save_checkpoint(path, weights_only=False)
        self.saved = path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._stop_here(trainer, later=not _ends_training(trainer))

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            self._stop_here(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # under DDP only: a training that ended early (early stopping, max_time) left the last
        # batch's agreement unread; in one process there is none, and the fit goes on as before
        if self._ranks.distributed:
            self._stop_here(trainer)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if (self._lightning_handler is not None
                and signal.getsignal(signal.SIGTERM) == self._record):
            signal.signal(signal.SIGTERM, self._lightning_handler)
        self._lightning_handler = None
        self._ranks.close()


def _ends_training(trainer) -> bool:
    """Whether the training batch that just ended is the last of its epoch's training (or of
    the fit, at ``max_steps``); the same on every rank, which train the same number of batches."""
    progress = trainer.fit_loop.epoch_loop.batch_progress
    return (progress.is_last_batch or progress.current.ready >= trainer.num_training_batches
            or 0 <= trainer.max_steps <= trainer.global_step)


def last_checkpoint_path(trainer) -> str | None:
    """The run's ``last.ckpt`` (of the first checkpoint writer that keeps one; its name if it
    has not written it yet), or None where the run has no checkpoint writer."""
    writers = list(getattr(trainer, "checkpoint_callbacks", []) or [])
    if not writers:
        return None
    keeps_last = [w for w in writers if getattr(w, "save_last", None)]
    writer = (keeps_last or writers)[0]
    if getattr(writer, "last_model_path", ""):
        return writer.last_model_path
    if not getattr(writer, "dirpath", None):
        return None
    return os.path.join(writer.dirpath, writer.CHECKPOINT_NAME_LAST + writer.FILE_EXTENSION)
