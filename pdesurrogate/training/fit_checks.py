"""Checks of a fit's callbacks made before training, which Lightning makes only when a callback
first acts, at the end of the first epoch (its training lost): a monitor naming a validation
metric that is never logged (:func:`check_validation_monitors`, at the end of the sanity
check) and a checkpoint folder that cannot be made or written
(:func:`check_checkpoint_folders`, as the module sets up). :class:`~.next_step.NextStepModule`
(and the modules built on it) calls them."""

from __future__ import annotations

import os

# where callbacks come from that log no metric only outside the sanity check
_KNOWN_CALLBACKS = ("lightning", "pytorch_lightning", "pdesurrogate")


def check_validation_monitors(trainer) -> None:
    """At the end of the sanity check's validation: a ValueError naming the callback and its
    ``monitor`` where an ``EarlyStopping`` (strict) or ``ModelCheckpoint`` of ``trainer``
    watches a validation metric (a name starting with ``val``) that the validation did not
    log. Lightning found it only when the callback first read it, at the end of the first
    epoch (its whole training lost). Every validation logs the same names, the sanity
    check's too; a callback of other code than Lightning's and this package's might log a
    metric only outside the sanity check, so with one the monitors are not checked."""
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    callbacks = list(trainer.callbacks)
    if any(type(cb).__module__.split(".")[0] not in _KNOWN_CALLBACKS for cb in callbacks):
        return
    logged = sorted(k for k in trainer.callback_metrics if k.startswith("val"))
    if not logged:  # a validation that logged nothing tells nothing
        return
    for cb in callbacks:
        watching = isinstance(cb, ModelCheckpoint) or (
            isinstance(cb, EarlyStopping) and getattr(cb, "strict", True))
        monitor = getattr(cb, "monitor", None) if watching else None
        if isinstance(monitor, str) and monitor.startswith("val") and monitor not in logged:
            raise ValueError(
                f"trainer.callbacks: {type(cb).__name__}(monitor={monitor!r}) watches a "
                f"metric that validation does not log (it logs {', '.join(logged)}), and "
                "would fail at the end of the first epoch: set its monitor to one of these")


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
