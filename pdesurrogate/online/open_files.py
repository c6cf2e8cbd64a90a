"""The open-files limit (``ulimit -n``) against the ranks of an online job the launcher starts.

Every process of the job inherits the launcher's soft ``RLIMIT_NOFILE``: the ranks, and Hydra's
proxy, which holds pipes to every rank it starts. Measured with the mpich wheel (MPICH 5,
ch4:ucx), the least limit under which N ranks started:

- ``mpiexec -n N /bin/true`` (the proxy alone): 19, 23, 31, 47, 79 for N = 1, 2, 4, 8, 16, so
  ``15 + 4 N``;
- ``mpiexec -n N python -c "from mpi4py import MPI; ..."`` (an allreduce): 30, 32, 36, 47 for
  N = 1, 2, 4, 8: ``28 + 2 N`` for a rank (UCX maps each peer's shared memory through
  ``/proc/PID/fd``), and the proxy's at 8;
- a tiny Burgers online run, 1 trainer and N - 1 solver ranks: 34, 34, 36, 40, 47 for N = 2, 3,
  4, 6, 8; never below 34, the trainer rank's own files (torch, Lightning, its checkpoint).

Below it a rank died in ``MPI_Init`` ("UCX ERROR ... Too many open files", then "Fatal error in
internal_Init_thread"), the proxy failed to start one ("pipe error (Too many open files)"), or
the trainer failed in its set-up, nothing naming the limit. :func:`open_files_error` says so
before the job starts.
"""

from __future__ import annotations

# least limits measured (module docstring): a trainer rank's own files; a rank's base and
# per-peer need; the proxy's base and per-rank need
TRAINER_OWN = 34
RANK_BASE, RANK_PER_PEER = 28, 2
PROXY_BASE, PROXY_PER_RANK = 15, 4


def files_needed(ranks: int) -> int:
    """The least open-files limit under which ``ranks`` ranks of the job start (measured:
    module docstring)."""
    return max(TRAINER_OWN, RANK_BASE + RANK_PER_PEER * ranks, PROXY_BASE + PROXY_PER_RANK * ranks)


def open_files_error(ranks: int, soft: int | None = None) -> str | None:
    """Why ``ranks`` ranks cannot start under the open-files limit ``soft`` (default: this
    process's soft ``RLIMIT_NOFILE``, which mpiexec and the ranks inherit); None when it is
    enough, unlimited, or cannot be read (not on a POSIX system)."""
    if soft is None:
        try:
            import resource
        except ImportError:
            return None
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY:
            return None
    need = files_needed(ranks)
    if soft < 0 or soft >= need:
        return None
    return (f"the open-files limit (ulimit -n) is {soft}, and the {ranks} ranks of the MPI job "
            f"need at least {need} (a rank's Python, torch and connections to the other ranks; "
            f"mpiexec's pipes to every rank); with less a rank dies as MPI starts. Raise it "
            f"before the run: ulimit -n {max(1024, need)}")
