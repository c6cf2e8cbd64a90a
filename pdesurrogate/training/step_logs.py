"""When a training step should call ``self.log``, and the learning rate logged on those steps.

Lightning's ``LightningModule.log`` costs about 1.5 ms a call on CPU (it moves the metric's
state to the value's device on every call), a few per cent of a small model's step. Step-level
training metrics only reach the loggers every ``trainer.log_every_n_steps`` optimiser steps, so
logging on those steps alone writes the same files. Steps logged besides: the first and the last
batch of each epoch, so that the progress bar shows a value at once and epoch-end callbacks see
this epoch's final values. Every step is logged while a callback ranks checkpoints by a
``train/`` metric in the middle of an epoch (a ``ModelCheckpoint`` with ``monitor`` and
``every_n_train_steps`` or ``train_time_interval``): it reads the metric after steps the
loggers skip, and would otherwise score them with an earlier step's value.

:class:`LearningRateLog` logs ``train/lr`` on the same steps, through the module's ``log``, so
it lands in the same CSV row as ``train/rel_l2`` (Lightning's ``LearningRateMonitor`` writes
its own rows, under ``lr-AdamW``).
"""

from __future__ import annotations

from lightning.pytorch import Callback, LightningModule
from lightning.pytorch.callbacks import ModelCheckpoint

CLASS_PATH = "pdesurrogate.training.step_logs.LearningRateLog"


def step_logs_due(module: LightningModule, batch_idx: int) -> bool:
    """Whether ``module``'s ``training_step`` for ``batch_idx`` should log its step metrics."""
    try:
        trainer = module.trainer
    except RuntimeError:  # not attached to a Trainer (a bare call): nothing to throttle
        return True
    # in training_step global_step does not yet count this batch's optimiser step
    return logged_step(trainer, batch_idx, trainer.global_step + 1) or \
        monitored_mid_epoch(trainer)


def monitored_mid_epoch(trainer) -> bool:
    """Whether a callback of ``trainer`` reads a ``train/`` metric after training batches, not
    only at an epoch's end: a ``ModelCheckpoint`` monitoring one every ``every_n_train_steps``
    or ``train_time_interval``."""
    return any(isinstance(c, ModelCheckpoint) and str(c.monitor or "").startswith("train/")
               and (c._every_n_train_steps > 0 or c._train_time_interval is not None)
               for c in getattr(trainer, "callbacks", ()))


def logged_step(trainer, batch_idx: int, steps_done: int) -> bool:
    """Whether the loggers write the step metrics of batch ``batch_idx``, after which
    ``steps_done`` optimiser steps have been taken: the rule of :func:`step_logs_due`, for a
    caller that runs before or after the batch's optimiser step."""
    if batch_idx == 0 or batch_idx == trainer.num_training_batches - 1:
        return True
    n = int(trainer.log_every_n_steps)
    # the loggers write after the optimiser step that makes global_step a multiple of n
    return n > 0 and steps_done % n == 0


class LearningRateLog(Callback):
    """Logs the learning rate on the steps whose training metrics the loggers write (as
    :func:`step_logs_due` picks them in ``training_step``): ``train/lr`` (one optimiser with one
    parameter group, as every module here has), else ``train/lr_{i}_{j}`` for group ``j`` of
    optimiser ``i``. The rate is the one the step used, read as the batch starts: Lightning
    steps a per-step schedule before ``on_train_batch_end``, which would show the next one."""

    def __init__(self):
        super().__init__()
        self._rates: list[tuple[int, int, float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._rates = [(i, j, float(g["lr"])) for i, opt in enumerate(trainer.optimizers)
                       for j, g in enumerate(opt.param_groups)]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # global_step already counts this batch's optimiser step here (in training_step it
        # does not yet: step_logs_due adds the 1)
        if not logged_step(trainer, batch_idx, trainer.global_step):
            return
        for i, j, lr in self._rates:
            name = "train/lr" if len(self._rates) == 1 else f"train/lr_{i}_{j}"
            pl_module.log(name, lr, on_step=True, on_epoch=False, batch_size=1)
