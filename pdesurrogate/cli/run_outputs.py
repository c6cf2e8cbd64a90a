"""What a ``fit`` or ``test`` says at its end (on stderr, rank 0): its run folder, the checkpoint
it wrote, and what a stopped or failed fit can resume from."""

from __future__ import annotations

import math
import os


def _stopped_resume_hint(trainer, subcommand: str) -> str:
    """What a fit stopped by SIGTERM leaves to resume from: the checkpoint
    :class:`~pdesurrogate.training.stop_checkpoint.StopCheckpoint` wrote where it stopped, else
    the run's last ``last.ckpt`` (its batches since then are trained again), else none."""
    from pdesurrogate.training.stop_checkpoint import StopCheckpoint

    if subcommand != "fit" or trainer is None:
        return "nothing was saved"
    saved = next((c.saved for c in trainer.callbacks
                  if isinstance(c, StopCheckpoint) and c.saved), None)
    if saved:
        return f"resume from where it stopped with --ckpt_path {saved}"
    writer = trainer.checkpoint_callback
    last = getattr(writer, "last_model_path", "") if writer is not None else ""
    if last and os.path.isfile(last):
        return (f"resume with --ckpt_path {last} (the run's newest checkpoint; what was "
                "trained after it is trained again)")
    return "no checkpoint was written: a new fit starts from the beginning"


def _fit_outputs(trainer, idle: str | None = None) -> str:
    """Where a finished fit left its results: the run folder (logs, the config.yaml that
    ``test`` needs) and the checkpoint to resume, test or export; where there is none and
    the fit had nothing to train (``idle``, from
    :func:`~pdesurrogate.cli.resume_checks._nothing_to_train`), why. Called on rank 0 alone
    (see :func:`_run_folder`)."""
    folder = _run_folder(trainer)
    ckpt = trainer.checkpoint_callback
    last = (getattr(ckpt, "last_model_path", "") or getattr(ckpt, "best_model_path", "")
            if ckpt is not None else "")
    # fast_dev_run puts a logger that writes nothing in place of the run's (its save_dir None)
    where = ("fit: no run folder (--trainer.fast_dev_run logs nothing)" if trainer.fast_dev_run
             else f"fit: run folder {folder}")
    why = f" ({idle})" if idle else ""
    if last:  # after nothing was trained: the checkpoint the fit started from recorded it
        return f"{where}; checkpoint {last}{why}"
    return f"{where}; no checkpoint written" + (
        " (--trainer.enable_checkpointing false)" if ckpt is None else why)


def _run_folder(trainer) -> str:
    """The folder of a fit's or test's first logger (``<default_root_dir>/csv/version_N``),
    worked out as ``Trainer.log_dir`` does but without its broadcast to the other ranks
    (called on rank 0 alone, after the others may have exited); without loggers,
    ``default_root_dir``."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    logger = trainer.loggers[0] if trainer.loggers else None
    return (trainer.default_root_dir if logger is None else logger.log_dir
            if isinstance(logger, (CSVLogger, TensorBoardLogger)) else logger.save_dir)


def _test_outputs(trainer) -> str:
    """Where a finished test logged its metrics: each test opens a run folder of its own
    (the next ``version_N``), which a script reading its ``metrics.csv`` could only guess.
    Above it, a line for each Fourier-band error that is NaN because the grid holds no mode
    of that band: Lightning's table prints ``nan``, which reads like a failed run."""
    return "\n".join([*_empty_band_notes(trainer), _test_folder(trainer)])


def _empty_band_notes(trainer) -> list[str]:
    """``test: test/frmse_high is n/a: ...`` for each ``test/frmse_<band>`` metric (and its
    ``_ar`` twin) that is NaN."""
    from pdesurrogate.metrics import band_limits

    notes = []
    for name, value in trainer.callback_metrics.items():
        band = name.removeprefix("test/frmse_").removesuffix("_ar")
        if name.startswith("test/frmse_") and math.isnan(float(value)):
            notes.append(f"test: {name} is n/a (nan in the table): the grid has no Fourier "
                         f"mode with {band_limits(band)}")
    return notes


def _test_folder(trainer) -> str:
    if trainer.fast_dev_run:
        return ("test: no run folder (--trainer.fast_dev_run logs nothing): the metrics are "
                "only in the table on stdout")
    if not trainer.loggers:
        return ("test: no run folder (--trainer.logger false): the metrics are only in the "
                "table on stdout")
    return f"test: run folder {_run_folder(trainer)}"


def _failed_fit_outputs(command: str, trainer, error: BaseException) -> str | None:
    """For a fit that failed after it trained (on rank 0): its run folder and what a rerun
    can resume from, which the line a finished fit ends with would have said; a script or a
    user rerunning the step had to look for them. None for anything else (nothing trained:
    a rerun starts afresh), and for the NaN stop, whose error already names the checkpoint."""
    if command != "fit" or trainer is None or not trainer.is_global_zero \
            or not trainer.global_step:
        return None
    from pdesurrogate.training.finite_weights import NonFiniteWeights

    if isinstance(error, NonFiniteWeights):
        return None
    hint = _stopped_resume_hint(trainer, command)
    if hint.startswith("resume"):
        hint = f"once the cause is fixed, {hint}"
    return f"pdesurrogate fit: run folder {_run_folder(trainer)}; {hint}"
