"""Room in ``/dev/shm`` for MPI ranks on this machine: those of an online job the launcher
starts, and the one MPI start-up of ``fit`` and ``test`` (Lightning's check for an MPI job).

The mpich wheel's ranks on one machine share memory through files of ``/dev/shm``: MPICH's
segment (``mpich_shm_*``, 1 MiB a rank) and UCX's (``ucx_shm_posix_*``, about 4 MiB a rank,
unlinked once mapped, so only ``df`` sees them); measured with this wheel (MPICH 5, ch4:ucx),
``mpiexec -n N`` took 5.3, 10.3, 20.6 and 41.1 MiB for N = 1, 2, 4, 8. A container's
``/dev/shm`` is 64 MiB unless told otherwise (Docker, Podman), and a rank whose share does not
fit dies inside ``MPI_Init`` of SIGBUS or SIGSEGV, which the job reported as "BAD TERMINATION
... EXIT CODE: 7" and nothing else. :func:`shm_room_error` says so before the job starts.

Lightning's Trainer asks whether it runs in an MPI job by importing ``mpi4py.MPI``, which starts
MPI even in a process no launcher started (a singleton, whose answer is always "one process";
its segment took 1040 KiB). With less free, ``pdesurrogate fit`` died of "Bus error" as the
Trainer was built, naming nothing. :func:`skip_mpi_start` tells the CLI to spare such a process
the start-up, and refuses in one line one that a launcher started, which MPI would kill.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import warnings
from collections.abc import Mapping

from pdesurrogate.online.launched import launcher_mark

SHM_DIR = "/dev/shm"
MIB = 2**20
# a little under the 5.15 MiB a rank measured: a job the check lets through may still not fit
# by a few hundred KiB, but one it refuses never would
PER_RANK = 5 * MIB
# what gives MPI more room, in both messages
ROOM_ADVICE = ("Give the container more (docker/podman run --shm-size=1g), remove stale "
               "{shm_dir}/mpich_shm_* files that no running job holds")


class SharedMemoryRoomError(RuntimeError):
    """``/dev/shm`` has no room for this process to start MPI, and a launcher started it."""


def _free(shm_dir: str) -> int | None:
    """Free bytes in ``shm_dir``, None where it cannot be read (no ``/dev/shm``: not Linux, and
    MPICH then does without it)."""
    try:
        return shutil.disk_usage(shm_dir).free
    except OSError:
        return None


def shm_room_error(ranks: int, shm_dir: str = SHM_DIR) -> str | None:
    """Why ``ranks`` ranks of the mpich wheel on this machine cannot start: ``shm_dir`` has
    less free space than :data:`PER_RANK` each; None when they fit, or when ``shm_dir`` cannot
    be read."""
    free = _free(shm_dir)
    need = ranks * PER_RANK
    if free is None or free >= need:
        return None
    fits = free // PER_RANK
    return (f"{shm_dir} has {free / MIB:.1f} MiB free, and the {ranks} ranks of the MPI job "
            f"need about {need / MIB:.0f} MiB there (MPICH and UCX share memory through it, "
            f"{PER_RANK // MIB} MiB a rank); with less a rank dies as MPI starts (bus error). "
            f"{ROOM_ADVICE.format(shm_dir=shm_dir)}, or run fewer ranks (trainers + solvers: "
            f"{fits} fit)")


def skip_mpi_start(environ: Mapping[str, str], shm_dir: str = SHM_DIR) -> bool:
    """Whether a Trainer built now must be given Lightning's ``LightningEnvironment`` to spare
    this process Lightning's MPI check, which starts MPI (unless ``mpi4py.MPI`` is already
    imported, or Lightning settles on TorchElastic, Slurm or LSF before it asks): True where
    ``shm_dir`` has less than :data:`PER_RANK` free and no launcher started the process (the
    check could only find one process: ``environ`` holds none of
    :data:`~pdesurrogate.online.launched.MPI_ENV`); False where there is room, as before.

    Raises:
        SharedMemoryRoomError: no room, and ``environ`` holds a launcher's mark: MPI would die
            of a bus error as it starts, and without it the ranks would not know each other.
    """
    if "mpi4py.MPI" in sys.modules or importlib.util.find_spec("mpi4py") is None:
        return False
    from lightning.fabric.plugins.environments import (
        LSFEnvironment,
        SLURMEnvironment,
        TorchElasticEnvironment,
    )

    with warnings.catch_warnings():
        # SLURMEnvironment.detect warns where srun is installed but not used; Lightning's own
        # detect, as it builds the Trainer, gives that advice once (asked here too, it was twice)
        warnings.simplefilter("ignore")
        if any(env.detect() for env in (TorchElasticEnvironment, SLURMEnvironment,
                                        LSFEnvironment)):
            return False
    free = _free(shm_dir)
    if free is None or free >= PER_RANK:
        return False
    mark = launcher_mark(environ)
    if mark is None:
        return True
    raise SharedMemoryRoomError(
        f"{shm_dir} has {free / MIB:.1f} MiB free, and this process, started by an MPI "
        f"launcher ({mark} is set), needs about {PER_RANK // MIB} MiB there to start MPI "
        f"(MPICH and UCX share memory through it); with less it dies of a bus error as MPI "
        f"starts. {ROOM_ADVICE.format(shm_dir=shm_dir)}, or run the command without a launcher "
        f"(one process)")
