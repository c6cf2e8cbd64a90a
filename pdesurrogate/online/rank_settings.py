"""What a rank of the MPI job parses (:func:`rank_settings`): every rank the settings without the
model and the trainer, which need no Lightning; the trainer ranks then the whole config.

A solver rank never trains, and Lightning (with the model's libraries) added ~130 MB (of
~446 MB) to each solver rank of the tiny test run; a node may run dozens. The whole parse finds
what the other cannot (a misspelt model key, a trainer setting an online run refuses) on the
trainer ranks alone, after MPI has started: world rank 0 tells every rank whether it failed,
reports the error once, and every rank ends, none left waiting in MPI for a rank that has
exited.

Two errors of the job's shape, not of the config, are found here too and reported once, by
world rank 0: fewer ranks than trainers + 1 (:func:`too_few_ranks`), found on every rank before
anything is imported for training; and ``trainer.accelerator: gpu`` on a trainer rank that sees
no GPU (:func:`check_gpu_seen`; a Slurm job without ``--gpus*``), found before Lightning would
raise it from deep inside the trainer, in a traceback.
"""

from __future__ import annotations

import os
import socket
import sys

from pdesurrogate.online.errors import UsageError
from pdesurrogate.online.parser import _check, _check_settings, _parse

# the exit status of every rank but world rank 0 when world rank 0 found a config error
# (rank 0 prints it and exits with the command's status for a bad config value: 2)
CONFIG_ERROR = 2


def rank_settings(argv: list[str]):
    """``(parser, cfg)`` of this rank: on a trainer rank (world rank < ``trainers``) the whole
    parser and settings, checked as outside MPI; on a solver rank those of the parser without
    Lightning (``model`` and ``trainer`` unchecked). ``None`` on a rank that is to exit with
    :data:`CONFIG_ERROR` because world rank 0 found a config error, which world rank 0 raises.

    Collective over ``COMM_WORLD``, which it initialises (``MPI_THREAD_MULTIPLE``, as
    :func:`~pdesurrogate.streaming.split_roles` would). An error the parse without Lightning
    finds is raised on every rank before MPI starts: every rank finds it, and none waits."""
    from pdesurrogate.streaming.roles import mpi

    light_parser, light, argv = _parse(argv, lightning=False)
    _check_settings(light)
    world = mpi().COMM_WORLD
    short = too_few_ranks(world.size, light.trainers, os.environ)
    if short:
        # every rank sees the same size and trainers: no collective needed to agree
        if world.rank == 0:
            raise UsageError(short)
        return None
    if world.rank >= light.trainers:
        return None if _from_rank_0(world, False) else (light_parser, light)
    error = None
    try:
        parser, cfg, _ = _parse(argv)
        _check(cfg)
        check_gpu_seen(cfg.trainer)
    except BaseException as e:  # noqa: B036 - whatever it is, the other ranks must hear of it
        error = e
    failed = _from_rank_0(world, error is not None)
    if error is None and not failed:
        return parser, cfg
    if world.rank == 0:
        raise error
    if failed:
        return None
    # rank 0 parsed the same files fine (changed meanwhile?): this rank alone cannot go on
    print(f"[online rank {world.rank} (trainer)] error: {error}; aborting the MPI job",
          file=sys.stderr, flush=True)
    world.Abort(1)
    return None


def _from_rank_0(world, value: bool) -> bool:
    """World rank 0's ``value``, on every rank (collective). Waited for with naps
    (:func:`~pdesurrogate.streaming.polling.poll_until`), not MPI's busy wait: the solver ranks
    wait here while the trainer ranks import Lightning and parse (seconds), on cores those
    need."""
    import numpy as np

    from pdesurrogate.streaming.polling import poll_until

    flag = np.array([value], np.int8)
    request = world.Ibcast(flag, root=0)
    poll_until(request.Test)
    return bool(flag[0])


def too_few_ranks(size: int, trainers: int, environ) -> str | None:
    """What is wrong with an MPI job of ``size`` ranks for ``trainers`` trainer ranks (it needs
    at least one solver rank besides), or ``None``. Under srun (``environ``: the process's
    environment) a job of fewer ranks than the step's tasks means each task is an MPI job of
    its own: the MPI that mpi4py uses does not speak srun's ``--mpi`` plugin."""
    if size > trainers:
        return None
    msg = (f"trainers={trainers} needs an MPI job of at least {trainers + 1} ranks (the trainer "
           f"ranks and at least one solver rank), this one has {size}: start more ranks "
           f"(sbatch/srun --ntasks, mpiexec -n) or lower --trainers")
    tasks = environ.get("SLURM_STEP_NUM_TASKS", "")
    if tasks.isdigit() and int(tasks) > size and "SLURM_HET_SIZE" not in environ:
        msg += (f". srun started {tasks} tasks, but each is an MPI job of {size}: srun's MPI "
                f"plugin does not start this MPI (the mpich wheel needs --mpi=pmi2; "
                f"`srun --mpi=list` shows the site's)")
    return msg


def check_gpu_seen(trainer) -> None:
    """Raise :class:`UsageError` when the trainer settings ask for a GPU (``accelerator`` gpu or
    cuda) and this process sees none, e.g. a Slurm job on a GPU partition without ``--gpus``,
    ``--gpus-per-node`` or ``--gres=gpu:N``. Lightning would raise it only as the trainer is
    built, after the data and the model, as a traceback."""
    import torch

    accelerator = trainer.get("accelerator") if trainer is not None else None
    if not isinstance(accelerator, str) or accelerator.lower() not in ("gpu", "cuda"):
        return
    if torch.cuda.is_available():
        return
    if accelerator.lower() == "gpu" and torch.backends.mps.is_available():
        return
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    raise UsageError(
        f"online config: trainer.accelerator={accelerator!r}, but this trainer rank (on "
        f"{socket.gethostname()}, CUDA_VISIBLE_DEVICES="
        f"{'unset' if visible is None else repr(visible)}) sees no GPU: ask Slurm for GPUs for "
        f"the trainer ranks (--gpus-per-node, --gpus-per-task or --gres=gpu:N), or set "
        f"trainer.accelerator to cpu or auto")
