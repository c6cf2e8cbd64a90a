"""Checks of a fit's callbacks made before training, which Lightning makes only when a callback
first acts, at the end of the first epoch (its training lost): a monitor naming a validation
metric that is never logged (:func:`check_validation_monitors`, at the end of the sanity
check) or a training metric that the module never logs (:func:`check_training_monitors`, as
the module sets up), and a checkpoint folder that cannot be made or written
(:func:`check_checkpoint_folders`, as the module sets up). :class:`~.next_step.NextStepModule`
(and the modules built on it) calls them."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

# where callbacks come from that log no metric only outside the sanity check, and no training
# metric but the learning rate (:data:`_LEARNING_RATES`)
_KNOWN_CALLBACKS = ("lightning", "pytorch_lightning", "pdesurrogate")
# what step_logs.LearningRateLog logs: one rate, or one per optimiser i and parameter group j
_LEARNING_RATES = re.compile(r"train/lr(_\d+_\d+)?")


def _unknown_callback(callbacks) -> bool:
    """Whether a callback of other code than Lightning's and this package's is among
    ``callbacks``: it may log metrics of its own, which no check here can know."""
    return any(type(cb).__module__.split(".")[0] not in _KNOWN_CALLBACKS for cb in callbacks)


def _monitors(callbacks, prefix: str):
    """``(callback, monitor)`` for each ``ModelCheckpoint`` and strict ``EarlyStopping`` of
    ``callbacks`` whose monitor starts with ``prefix``: the ones that fail on a metric never
    logged (a non-strict EarlyStopping only warns)."""
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    for cb in callbacks:
        watching = isinstance(cb, ModelCheckpoint) or (
            isinstance(cb, EarlyStopping) and getattr(cb, "strict", True))
        monitor = getattr(cb, "monitor", None) if watching else None
        if isinstance(monitor, str) and monitor.startswith(prefix):
            yield cb, monitor


def check_validation_monitors(trainer) -> None:
    """At the end of the sanity check's validation: a ValueError naming the callback and its
    ``monitor`` where an ``EarlyStopping`` (strict) or ``ModelCheckpoint`` of ``trainer``
    watches a validation metric (a name starting with ``val``) that the validation did not
    log. Lightning found it only when the callback first read it, at the end of the first
    epoch (its whole training lost). Every validation logs the same names, the sanity
    check's too; a callback of other code than Lightning's and this package's might log a
    metric only outside the sanity check, so with one the monitors are not checked."""
    callbacks = list(trainer.callbacks)
    if _unknown_callback(callbacks):
        return
    logged = sorted(k for k in trainer.callback_metrics if k.startswith("val"))
    if not logged:  # a validation that logged nothing tells nothing
        return
    for cb, monitor in _monitors(callbacks, "val"):
        if monitor not in logged:
            raise ValueError(
                f"trainer.callbacks: {type(cb).__name__}(monitor={monitor!r}) watches a "
                f"metric that validation does not log (it logs {', '.join(logged)}), and "
                "would fail at the end of the first epoch: set its monitor to one of these")


def check_training_monitors(trainer, module: str, names: Sequence[str] | None) -> None:
    """Before a fit trains: a ValueError naming the callback and its ``monitor`` where an
    ``EarlyStopping`` (strict) or ``ModelCheckpoint`` of ``trainer`` watches a training metric
    (a name starting with ``train/``) that neither the module (``module``: its class name,
    ``names``: the ``train/`` metrics its training steps may log) nor a callback logs.
    Lightning found it when the callback first read it, at the end of the first epoch. No
    check where ``names`` is None (a module that does not say what it logs) or a callback of
    other code than Lightning's and this package's may log metrics of its own."""
    from pdesurrogate.training.step_logs import LearningRateLog

    callbacks = list(trainer.callbacks)
    if names is None or _unknown_callback(callbacks):
        return
    rates = any(isinstance(cb, LearningRateLog) for cb in callbacks)
    for cb, monitor in _monitors(callbacks, "train/"):
        if monitor in names or (rates and _LEARNING_RATES.fullmatch(monitor)):
            continue
        logged = [*names, *(["train/lr (LearningRateLog)"] if rates else [])]
        raise ValueError(
            f"trainer.callbacks: {type(cb).__name__}(monitor={monitor!r}) watches a training "
            f"metric that is never logged ({module} logs {', '.join(logged)}), and would fail "
            "at the end of the first epoch: set its monitor to one of these")


def check_checkpoint_folders(trainer) -> None:
    """Before a fit trains: a ValueError naming the callback and its ``dirpath`` where a
    ``ModelCheckpoint`` of ``trainer`` could not make or write its folder (a file on the
    path, a folder without write permission). Lightning makes the folder at the first save,
    at the end of the first epoch, and the fit failed there. Remote paths (``s3://``, ...)
    are left to their file system."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    for cb in trainer.callbacks:
        folder = getattr(cb, "dirpath", None) if isinstance(cb, ModelCheckpoint) else None
        if folder is None or "://" in str(folder):
            continue
        problem = _unwritable(os.path.abspath(os.fspath(folder)))
        if problem:
            raise ValueError(f"trainer.callbacks: {type(cb).__name__}(dirpath={str(folder)!r}) "
                             f"cannot write its checkpoints: {problem}; it would fail at its "
                             "first save, at the end of the first epoch")


def _unwritable(folder: str) -> str | None:
    """Why ``folder`` could not be made (its nearest existing ancestor) or written, or None."""
    here = folder
    while not os.path.exists(here) and os.path.dirname(here) != here:
        here = os.path.dirname(here)
    if not os.path.isdir(here):
        return f"{here!r} is a file, not a folder"
    if not os.access(here, os.W_OK | os.X_OK):
        return f"{here!r} is not writable"
    return None
