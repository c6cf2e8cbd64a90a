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
"""

from __future__ import annotations

import os

from lightning.pytorch import Callback

CLASS_PATH = "pdesurrogate.training.stop_checkpoint.StopCheckpoint"


class StopCheckpoint(Callback):
    """Write ``last.ckpt`` at the end of the training batch during which SIGTERM arrived.

    ``saved``: the path written (None: none yet). Nothing is written without a checkpoint
    writer (``--trainer.enable_checkpointing false``), nor in a multi-process run, whose ranks
    see the signal at different batches (a checkpoint is written by all of them together), nor
    when SIGTERM arrives during validation: a resume then starts from the last ``last.ckpt``.
    """

    def __init__(self):
        self.saved: str | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.saved is not None or not trainer.received_sigterm or trainer.world_size > 1:
            return
        path = last_checkpoint_path(trainer)
        if path is None:
            return
        trainer.save_checkpoint(path)
        self.saved = path


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
