"""A TensorBoard logger whose event file outlives ``trainer.fit``, for a run that goes on
logging after it (an online run validates its final model at once).

Lightning closes the TensorBoard writer when a stage ends. tensorboardX then opens a new event
file at the next logged value, named ``events.out.tfevents.<second>.<host>``, and opens it for
writing from the start: when that is the same second as the first file's, the first file (every
training curve) is truncated. Measured before this logger: one online test run in eight lost
every ``train/*`` and ``stream/*`` value this way.
"""

from __future__ import annotations

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only


class OpenTensorBoardLogger(TensorBoardLogger):
    """``TensorBoardLogger`` whose writer, at the end of each stage, is flushed but stays
    open, so later stages log into the same event file; :meth:`close` closes it, writing out
    what tensorboardX's writer thread still queues (a flush does not wait for that queue).
    Arguments as ``TensorBoardLogger``'s."""

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.experiment.flush()
        if status == "success":
            self.save()  # hparams.yaml, as TensorBoardLogger.finalize writes it

    @rank_zero_only
    def close(self) -> None:
        """Flush and close the event file (the ``finalize`` of ``TensorBoardLogger``); a
        value logged afterwards would open a new file."""
        super().finalize("closed")
