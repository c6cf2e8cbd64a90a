"""The run's checkpoint, ``out/checkpoint/``: written (staged, then swapped in), found and
recovered for ``--resume``, and restored into the trainer ranks.

Checkpoints (``out/checkpoint/``): every ``checkpoint_every_n_steps`` training steps, and on
SIGTERM / SIGUSR1 (the launcher turns Ctrl-C, SIGTERM and SIGHUP into SIGUSR1 for the whole
job, since mpiexec forwards USR1 but kills on TERM), and when the job's launcher is gone (world
rank 0 watches its PID): the Lightning checkpoint (model, optimiser, step), each trainer's
stream state (buffer contents and seen counts, committed simulations) and the scheduler's
attempts. On a signal the trainers agree to stop, write the checkpoint, let the
solvers finish the simulation they are in (its samples are dropped), and the ranks exit 0 (the
launcher then returns 128 + the signal's number: the run is not finished). ``--resume``
continues to the same budget of simulations: a simulation counts as done exactly when its
samples were committed to a trainer's buffer before the checkpoint, so none runs into training
twice and none is lost. It loads the Lightning checkpoint weights-only (never code), and where
a kill in the middle of a checkpoint's swap left no ``checkpoint/``, it continues from the
complete one of ``checkpoint.partial/`` (newer) and ``checkpoint.old/``, saying which; a fresh
run refuses a folder holding any of them. A dead solver rank ends the job (mpiexec kills the
others; a trainer waiting on a silent stream gives up after ``stall_timeout``) with a message
pointing at the last periodic checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import torch

from pdesurrogate.online.errors import UsageError
from pdesurrogate.temp_files import atomic_write, named_error, open_temp_file

CHECKPOINT = "checkpoint"
# a checkpoint is staged in STAGE, then swapped in: CHECKPOINT -> OLD, STAGE -> CHECKPOINT
STAGE, OLD = f"{CHECKPOINT}.partial", f"{CHECKPOINT}.old"


def _read_manifest(ck: Path) -> dict:
    """``ck/manifest.json``, checked: a UsageError naming the file if it is missing, not JSON,
    or lacks what a resume reads."""
    path = ck / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"--resume: no checkpoint in {str(ck)!r} (no manifest.json)") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{str(path)!r}: cannot read the checkpoint's manifest "
                         f"({type(e).__name__}: {e}); the checkpoint cannot be resumed") from None
    keys = ("trainers", "global_step", "simulations", "committed")
    bad = [k for k in keys if not isinstance(manifest, dict) or isinstance(manifest.get(k), bool)
           or not isinstance(manifest.get(k), int) or manifest[k] < (1 if k == "trainers" else 0)]
    if bad:
        raise UsageError(f"{str(path)!r}: not a checkpoint manifest (expected an object with "
                         f"the integers trainers >= 1 and global_step, simulations, committed "
                         f">= 0; wrong or missing: {', '.join(bad)}); the checkpoint cannot be "
                         f"resumed")
    return manifest


def _complete(ck: Path) -> bool:
    """``ck`` holds a whole checkpoint: a manifest that reads, and every file it implies (the
    manifest is written last, after every rank's file)."""
    try:
        manifest = _read_manifest(ck)
    except UsageError:
        return False
    files = ["model.ckpt", *(f"stream-trainer{r}.pt" for r in range(manifest["trainers"]))]
    return all((ck / f).is_file() for f in files)


def _resume_point(out: Path) -> Path:
    """The checkpoint folder a --resume continues from: ``checkpoint/``, or, where a kill in
    the middle of its swap left none, the staged ``checkpoint.partial/`` (newer) or the
    previous ``checkpoint.old/``, whichever is complete first. A UsageError naming the folder
    or file when there is none to resume."""
    final, stage, old = out / CHECKPOINT, out / STAGE, out / OLD
    if final.exists():
        _read_manifest(final)
        return final
    for ck in (stage, old):
        if _complete(ck):
            return ck
    found = [f"{d}/" for d in (STAGE, OLD) if (out / d).exists()]
    extra = f"; {' and '.join(found)} incomplete" if found else ""
    raise UsageError(f"--resume: no checkpoint in {str(final)!r} (no manifest.json){extra}")


def _recover_checkpoint(out: Path) -> str | None:
    """Before a resume, by the holder of the run's lock: finish a checkpoint swap that a kill
    interrupted (the folder :func:`_resume_point` picks becomes ``checkpoint/``; the other is
    removed) and check the Lightning checkpoint with a weights-only load. Returns what it did,
    to be said, or None."""
    ck = _resume_point(out)
    note = None
    if ck.name != CHECKPOINT:
        other = out / (OLD if ck.name == STAGE else STAGE)
        what = ("the newer, staged checkpoint" if ck.name == STAGE else
                "the previous checkpoint (the staged one is incomplete)")
        note = (f"resuming from {ck}/, {what}: a run was stopped in the middle of a checkpoint "
                f"swap; renamed to {out / CHECKPOINT}/")
        os.replace(ck, out / CHECKPOINT)
        shutil.rmtree(other, ignore_errors=True)
    _check_lightning_checkpoint(out / CHECKPOINT / "model.ckpt")
    return note


def _check_lightning_checkpoint(path: Path) -> None:
    """A weights-only read of the Lightning checkpoint a resume loads: a file holding other
    objects (a pickle that runs code) is refused here, whatever torch's default for
    ``torch.load`` and the TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD variable."""
    from pdesurrogate.export_files import read_checkpoint

    try:
        read_checkpoint(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"--resume: {e}") from None


def _fit_loads_weights_only(fit) -> dict[str, bool]:
    """The keyword of ``fit`` (``Trainer.fit``) for a weights-only load of its ``ckpt_path``
    (Lightning >= 2.5 has it); older Lightning loads with torch's default, and
    :func:`_restore` reads the file weights-only first."""
    import inspect

    return {"weights_only": True} if "weights_only" in inspect.signature(fit).parameters \
        else {}


def _atomic_save(obj, path: Path) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


def _write_checkpoint(out: Path, trainer, receiver, roles, cfg, freeze: bool,
                      prior: dict) -> None:
    """Collective over the trainer ranks: stage every file, then rank 0 swaps the directory.
    ``prior``: samples and bytes received by the legs before a resume.

    A kill at any point leaves ``checkpoint/``, or (inside the swap) a complete
    ``checkpoint.partial/`` or ``checkpoint.old/``: the manifest is written last, and
    --resume takes the first complete one of the three (:func:`_resume_point`)."""
    comm, rank = roles.comm, roles.rank_in_role
    snap = receiver.snapshot(freeze=freeze)
    got = receiver.stats()
    snap["received"] = {"samples": prior["samples"] + got["samples"],
                        "bytes": prior["bytes"] + got["bytes"]}
    final, stage, old = out / CHECKPOINT, out / STAGE, out / OLD
    tmp = None
    try:
        if rank == 0:
            if stage.is_symlink():
                stage.unlink()
            shutil.rmtree(stage, ignore_errors=True)
            stage.mkdir(parents=True)
            # Lightning writes to the path it is given: a new file of a random name, renamed
            # below
            tmp, f = open_temp_file(stage / "model.ckpt")
            f.close()
        tmp = comm.bcast(tmp, root=0)
        _atomic_save(snap, stage / f"stream-trainer{rank}.pt")
        # with the optimizer and loop state (resume needs them); saying so also keeps
        # Lightning from logging that it chose this by default at every checkpoint
        try:
            trainer.save_checkpoint(tmp, weights_only=False)
        except OSError as e:  # named as the file it becomes, not its temporary name
            named_error(e, stage / "model.ckpt")
            raise
        committed = comm.allreduce(len(snap["committed_sims"]))
        comm.Barrier()
        if rank == 0:
            os.replace(tmp, stage / "model.ckpt")
            manifest = {"trainers": comm.size, "global_step": int(trainer.global_step),
                        "simulations": cfg.simulations, "committed": int(committed),
                        "stop": bool(freeze), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
            text = json.dumps(manifest, indent=2) + "\n"
            atomic_write(stage / "manifest.json", lambda f: f.write(text.encode()))
    except BaseException:
        # a write that failed (a full disk) leaves no incomplete stage, nor the empty
        # placeholder the Lightning checkpoint was to be renamed from; the job is aborted
        # and checkpoint/ (the last complete one) is left as it was
        if rank == 0:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    if rank == 0:
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    comm.Barrier()


def _restore(out: Path, roles, receiver, scheduler, fit) -> tuple[str, dict]:
    """Load this rank's stream state and the scheduler's; return the Lightning checkpoint and
    what this rank had received up to the checkpoint. ``fit``: the ``Trainer.fit`` that will
    load the checkpoint (without a weights-only option, the file is read weights-only here
    first)."""
    ck = out / CHECKPOINT
    manifest = _read_manifest(ck)
    if manifest["trainers"] != roles.comm.size:
        raise UsageError(f"{str(ck)!r} was written by {manifest['trainers']} trainer ranks; this "
                         f"run has {roles.comm.size} (resume with the same trainers)")
    states = []
    for r in range(roles.comm.size):
        path = ck / f"stream-trainer{r}.pt"
        try:
            states.append(torch.load(path, weights_only=True, map_location="cpu"))
        except Exception as e:
            raise UsageError(f"{str(path)!r}: cannot read the stream state: {e}") from None
    done = sorted(set().union(*(set(s["committed_sims"]) for s in states)))
    sched = dict(states[0]["scheduler"])
    sched["done"] = done
    scheduler.load_state_dict(sched)
    mine = states[roles.rank_in_role]
    receiver.restore(mine)
    prior = {"samples": 0, "bytes": 0, **mine.get("received", {})}
    if not _fit_loads_weights_only(fit):
        _check_lightning_checkpoint(ck / "model.ckpt")
    return str(ck / "model.ckpt"), prior
