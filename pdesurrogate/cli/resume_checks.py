"""What a fit resumed from a checkpoint trains: nothing where ``max_steps`` is already reached,
not the rest of an epoch that ``max_steps`` cut, and where our datamodules continue mid-epoch."""

from __future__ import annotations


def _resumes_mid_epoch(datamodule, saved_states) -> bool:
    """Whether ``datamodule``'s training batches continue where a checkpoint written in the
    middle of an epoch stopped: ours (:class:`~pdesurrogate.training.FieldDataModule` and its
    subclasses, :class:`~pdesurrogate.pinn.BallPoints`) do from the state they keep in the
    checkpoint, under their class name, one of ``saved_states`` (the checkpoint's top-level
    keys). A checkpoint written before they kept it restarts the epoch's order at its start,
    as Lightning warns."""
    from pdesurrogate.pinn.points import BallPoints
    from pdesurrogate.training import FieldDataModule

    return (isinstance(datamodule, (FieldDataModule, BallPoints))
            and type(datamodule).__qualname__ in saved_states)


def _cut_epoch(checkpoint: dict) -> tuple[int, int] | None:
    """``(epoch, batches)`` where the fit that wrote ``checkpoint`` ended an epoch before its
    last batch (``max_steps`` reached in the middle of it), else None. A checkpoint written in
    the middle of an epoch that was still running (Slurm's ``hpc_ckpt``, a stop on SIGTERM)
    is none: Lightning resumes it where it stopped."""
    try:
        fit = checkpoint["loops"]["fit_loop"]
        epochs = fit["epoch_progress"]["current"]
        batches = fit["epoch_loop.batch_progress"]
        done = int(batches["current"]["processed"])
        if epochs["processed"] > epochs["completed"] and not batches["is_last_batch"] and done:
            return int(epochs["completed"]), done
    except (KeyError, TypeError):
        pass
    return None


def _nothing_to_train(max_steps: int, global_step) -> str | None:
    """Why a fit from a checkpoint at ``global_step`` trains nothing, or None: Lightning's
    ``max_steps`` counts the steps the checkpoint holds (a resumed fit continues its step
    count, an online run's checkpoint too), so at or below its step the fit ends at once.
    Lightning takes that as a finished run, not an error, and so does fit: a Slurm requeue of
    a fit that already reached max_steps resumes from its last.ckpt, and must end cleanly."""
    if max_steps is None or max_steps < 0 or not isinstance(global_step, int):
        return None
    if global_step < max_steps:
        return None
    return (f"--trainer.max_steps {max_steps} is at or below the step of --ckpt_path "
            f"({global_step}; max_steps counts the checkpoint's steps too): nothing to train")
