"""Room in ``/dev/shm`` for the ranks of an online job the launcher starts on this machine.

The mpich wheel's ranks on one machine share memory through files of ``/dev/shm``: MPICH's
segment (``mpich_shm_*``, 1 MiB a rank) and UCX's (``ucx_shm_posix_*``, about 4 MiB a rank,
unlinked once mapped, so only ``df`` sees them); measured with this wheel (MPICH 5, ch4:ucx),
``mpiexec -n N`` took 5.3, 10.3, 20.6 and 41.1 MiB for N = 1, 2, 4, 8. A container's
``/dev/shm`` is 64 MiB unless told otherwise (Docker, Podman), and a rank whose share does not
fit dies inside ``MPI_Init`` of SIGBUS or SIGSEGV, which the job reported as "BAD TERMINATION
... EXIT CODE: 7" and nothing else. :func:`shm_room_error` says so before the job starts.
"""

from __future__ import annotations

import shutil

SHM_DIR = "/dev/shm"
MIB = 2**20
# a little under the 5.15 MiB a rank measured: a job the check lets through may still not fit
# by a few hundred KiB, but one it refuses never would
PER_RANK = 5 * MIB


def shm_room_error(ranks: int, shm_dir: str = SHM_DIR) -> str | None:
    """Why ``ranks`` ranks of the mpich wheel on this machine cannot start: ``shm_dir`` has
    less free space than :data:`PER_RANK` each; None when they fit, or when ``shm_dir`` cannot
    be read (no ``/dev/shm``: not Linux, and MPICH then does without it)."""
    try:
        free = shutil.disk_usage(shm_dir).free
    except OSError:
        return None
    need = ranks * PER_RANK
    if free >= need:
        return None
    fits = free // PER_RANK
    return (f"{shm_dir} has {free / MIB:.1f} MiB free, and the {ranks} ranks of the MPI job "
            f"need about {need / MIB:.0f} MiB there (MPICH and UCX share memory through it, "
            f"{PER_RANK // MIB} MiB a rank); with less a rank dies as MPI starts (bus error). "
            f"Give the container more (docker/podman run --shm-size=1g), remove stale "
            f"{shm_dir}/mpich_shm_* files that no running job holds, or run fewer ranks "
            f"(trainers + solvers: {fits} fit)")
