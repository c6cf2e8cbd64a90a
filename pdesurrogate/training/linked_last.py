"""``LinkedLastCheckpoint``: fit's per-epoch checkpoint writer, whose ``last.ckpt`` is a second
name of the epoch's checkpoint file rather than a second copy of it.

Lightning's ``ModelCheckpoint(save_last=True)`` (one top-k file, no monitor: fit's default
writer) writes the same checkpoint twice at the end of every epoch: ``epoch=N-step=M.ckpt``,
then ``last.ckpt``. Each write is the whole model and optimiser state, synced to disk
(:class:`~pdesurrogate.training.checkpoint_io.AtomicCheckpointIO`): about 10 ms for the 24 MB of
``configs/fit/fno_burgers.yaml`` on a 2-core machine, seconds and twice the disk traffic for a
model of a few GB. Lightning's own ``save_last="link"`` avoids the copy with a symbolic link, but
it removes ``last.ckpt`` before making the link (a job killed in between has none to resume
from), the link dangles once the next epoch deletes the file it points to, and the Slurm
scripts' search for checkpoints skips links.

Here ``last.ckpt`` becomes a hard link to the epoch's file, made under a temporary name and
renamed over ``last.ckpt`` (atomic: a kill leaves the old ``last.ckpt`` or the new one). When
the next epoch deletes ``epoch=N-step=M.ckpt``, ``last.ckpt`` keeps its content. The two names
hold the same bytes only where Lightning would have written the same checkpoint twice: the
epoch's file records ``last_model_path`` as it was when it was written, so from the second
epoch on (and after a resume) it already names ``last.ckpt``; the first epoch, where it is still
empty, writes ``last.ckpt`` in full, as does a folder where links fail (a filesystem without
hard links), a URL, and any other writer than fit's default.
"""

from __future__ import annotations

import os
from pathlib import Path
from weakref import proxy

from lightning.pytorch.callbacks import ModelCheckpoint

from pdesurrogate.temp_files import clean_leftovers, temp_name

from .checkpoint_io import _fsync_folder, is_url


def link_into_place(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Make ``target`` a hard link to ``source``, atomically: linked under a temporary name
    beside ``target`` (the scheme of :mod:`pdesurrogate.temp_files`, whose leftovers a later
    save of ``target`` removes), then renamed over it. OSError where the folder's filesystem
    has no hard links (or ``source`` is on another one)."""
    target = Path(target)
    clean_leftovers(target)
    tmp = temp_name(target)
    os.link(source, tmp)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


class LinkedLastCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` is a hard link to the checkpoint it just wrote
    at the same step, where the two would hold the same bytes (module docstring). Arguments
    and everything else as ``ModelCheckpoint``'s; a checkpoint records its state under
    ``ModelCheckpoint``'s key, so a fit written with either resumes with the other."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # last_model_path as it was when the newest checkpoint file was written
        self._written_with_last: str | None = None

    @property
    def state_key(self) -> str:
        # Lightning keys a callback's state by its class name: keep ModelCheckpoint's, so that
        # the checkpoints of fits written before this class resume with it (and the other way)
        key = super().state_key
        name = type(self).__qualname__
        return ModelCheckpoint.__qualname__ + key[len(name):] if key.startswith(name) else key

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        newest = self._last_checkpoint_saved
        if (self.save_last is True and filepath == self.last_model_path and newest
                and newest != filepath and self._last_global_step_saved == trainer.global_step
                and self._written_with_last == filepath and not is_url(filepath)
                and not is_url(newest)
                and os.path.dirname(os.path.abspath(newest))
                == os.path.dirname(os.path.abspath(filepath))
                and self._linked(trainer, newest, filepath)):
            self._last_checkpoint_saved = filepath
            self._written_with_last = self.last_model_path
            if trainer.is_global_zero:
                for logger in trainer.loggers:
                    logger.after_save_checkpoint(proxy(self))
            return
        self._written_with_last = self.last_model_path
        super()._save_checkpoint(trainer, filepath)

    @staticmethod
    def _linked(trainer, source: str, target: str) -> bool:
        """Link ``target`` to ``source`` on the rank that writes files; whether it worked,
        agreed by every rank (a collective: all ranks take the same path afterwards)."""
        done = True
        if trainer.is_global_zero:
            try:
                link_into_place(source, target)
            except OSError:
                done = False
        return bool(trainer.strategy.broadcast(done, src=0))
