"""The checkpoint writer a fit gets (:func:`default_checkpoint`), and what a config's trainer
callbacks and plugins are (given as instances or as ``class_path``), without building them."""

from __future__ import annotations


def default_checkpoint():
    """The checkpoint writer a fit gets: ``last.ckpt`` after each epoch (what a resumed or
    requeued fit starts from). Lightning writes ``last.ckpt`` only in an epoch where it saved
    a top-k checkpoint, so ``save_top_k`` stays 1 (without a monitor: the newest epoch's, a
    second copy of ``last.ckpt``); with ``save_top_k=0`` a killed fit had no checkpoint.

    A config's own ``ModelCheckpoint`` (a subclass too) replaces it only where it does the
    same: ``save_last: true`` in the run's ``checkpoints/``, every epoch, without a
    ``monitor`` and with ``save_top_k`` not 0 (see :func:`_saves_last`). Beside any other,
    fit adds :class:`~pdesurrogate.training.run_checkpoint.RunCheckpoint` before it, so
    ``last.ckpt`` is still written every epoch for a resumed or requeued fit (its top-k copy:
    ``epoch=N-step=M-last.ckpt``); theirs, if it has ``save_last`` in the same folder, is named
    ``last-v1.ckpt`` by Lightning. ``--trainer.enable_checkpointing false`` adds none.

    It is a :class:`~pdesurrogate.training.linked_last.LinkedLastCheckpoint`: from the second
    epoch on, ``last.ckpt`` is a hard link to the epoch's file, not a second copy of it."""
    from pdesurrogate.training.linked_last import LinkedLastCheckpoint

    return LinkedLastCheckpoint(save_last=True)


def _is_checkpoint_writer(callback) -> bool:
    """Whether a trainer callback is a Lightning ``ModelCheckpoint`` (see :func:`_is_a`)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    return _is_a(callback, ModelCheckpoint)


def _saves_last(callback) -> bool:
    """Whether a ``ModelCheckpoint`` of the config (an instance, or its ``class_path`` and
    ``init_args``) writes ``last.ckpt`` as a file in the run's ``checkpoints/`` after every
    epoch, as fit's own writer does: ``save_last: true``, no ``monitor`` (with one, Lightning
    rewrites ``last.ckpt`` only in epochs that improved it), ``save_top_k`` not 0 (then only
    when training ends), every epoch, and no ``dirpath``. ``save_last: link`` makes
    ``last.ckpt`` a symbolic link, which the Slurm scripts' search for checkpoints skips."""
    def arg(name, default=None):
        if isinstance(callback, dict) or hasattr(callback, "class_path"):
            args = callback.get("init_args") if isinstance(callback, dict) else getattr(
                callback, "init_args", None)
            value = args.get(name, default) if args is not None else default
        else:
            value = getattr(callback, name, getattr(callback, f"_{name}", default))
        return default if value is None else value

    return (arg("save_last") is True and arg("monitor") is None and arg("save_top_k", 1) != 0
            and arg("every_n_epochs", 1) == 1 and arg("every_n_train_steps", 0) == 0
            and arg("train_time_interval") is None and arg("dirpath") is None)


def _class_path(callback) -> str | None:
    """The ``class_path`` of a trainer callback as a config gives it (None for an instance)."""
    path = callback.get("class_path") if isinstance(callback, dict) else getattr(
        callback, "class_path", None)
    return path if isinstance(path, str) else None


def _is_a(item, base: type) -> bool:
    """Whether a trainer callback or plugin (an instance, or a ``class_path`` as a config gives
    it) is a ``base``. A class that does not import is none (jsonargparse reports it)."""
    import importlib

    if isinstance(item, base):
        return True
    path = _class_path(item)
    module, _, name = path.rpartition(".") if path else ("", "", "")
    try:
        cls = getattr(importlib.import_module(module), name, None) if module else None
    except Exception:  # whatever fails to import, jsonargparse reports when it builds it
        return False
    return isinstance(cls, type) and issubclass(cls, base)


def _is_progress_bar(callback) -> bool:
    """Whether a trainer callback is a Lightning progress bar (see :func:`_is_a`)."""
    from lightning.pytorch.callbacks.progress import ProgressBar

    return _is_a(callback, ProgressBar)
