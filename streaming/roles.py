"""Split ``COMM_WORLD`` of an online run into trainer ranks and solver ranks.

Layout (fixed, so every rank can compute it): the first ``n_trainers`` world ranks are
trainers, the rest are solvers. World rank 0 is trainer 0 and also runs the scheduler (inside
its receiver thread, see :class:`~pdesurrogate.streaming.receiver.Receiver`).

Besides the role sub-communicator, :func:`split_roles` duplicates the world communicator twice
so the sample stream (:attr:`Roles.data`) and the scheduler's task messages
(:attr:`Roles.control`) never match each other's or a user's messages.

Threads: a trainer rank calls MPI from two threads (the receiver thread on ``data``/``control``
and the training loop's end-of-stream agreement on ``comm``), so MPI must be initialised with
``MPI_THREAD_MULTIPLE``. mpi4py does that by default (``mpi4py.rc.thread_level = "multiple"``,
set again by :func:`mpi` if ``mpi4py.MPI`` was not imported yet); the MPICH wheel provides it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any


def mpi():
    """The ``mpi4py.MPI`` module, initialised with thread level "multiple" when we import it
    first. Imported lazily so buffers and datasets work without an MPI job."""
    module = sys.modules.get("mpi4py.MPI")
    if module is not None:  # the common case, several times per message: no import machinery
        return module
    import mpi4py

    mpi4py.rc.thread_level = "multiple"
    from mpi4py import MPI

    return MPI


def require_thread_multiple() -> None:
    """Raise RuntimeError unless MPI runs with ``MPI_THREAD_MULTIPLE``."""
    MPI = mpi()
    level = MPI.Query_thread()
    if level < MPI.THREAD_MULTIPLE:
        names = {MPI.THREAD_SINGLE: "single", MPI.THREAD_FUNNELED: "funneled",
                 MPI.THREAD_SERIALIZED: "serialized"}
        raise RuntimeError(
            f"online training needs MPI_THREAD_MULTIPLE, MPI was initialised with "
            f"{names.get(level, level)!r}: import pdesurrogate.streaming before mpi4py.MPI, or "
            f"set mpi4py.rc.thread_level = 'multiple'")


@dataclass(frozen=True)
class Roles:
    """This rank's place in an online run.

    Attributes:
        role: "trainer" or "solver".
        comm: communicator of the ranks with the same role (trainers: for the end-of-stream
            agreement and DDP set-up; solvers: unused by the stream).
        world: the communicator that was split.
        trainer_ranks: world ranks of the trainers (``0 .. n_trainers-1``).
        solver_ranks: world ranks of the solvers.
        rank_in_role: this rank's index among its role (``comm.rank``).
        data: duplicate of ``world`` for the sample stream.
        control: duplicate of ``world`` for scheduler task messages.
    """

    role: str
    comm: Any
    world: Any
    trainer_ranks: tuple[int, ...]
    solver_ranks: tuple[int, ...]
    rank_in_role: int
    data: Any
    control: Any

    @property
    def is_trainer(self) -> bool:
        return self.role == "trainer"

    @property
    def runs_scheduler(self) -> bool:
        return self.world.rank == self.scheduler_rank

    @property
    def scheduler_rank(self) -> int:
        return self.trainer_ranks[0]


def split_roles(comm=None, n_trainers: int = 1) -> Roles:
    """Split ``comm`` (default ``COMM_WORLD``) into ``n_trainers`` trainers (the first world
    ranks) and solvers (the rest). Collective: every rank of ``comm`` must call it."""
    MPI = mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    size = comm.Get_size()
    if isinstance(n_trainers, bool) or not isinstance(n_trainers, int) or not (
            1 <= n_trainers < size):
        raise ValueError(f"n_trainers must be an integer in [1, {size - 1}] for an MPI job of "
                         f"{size} ranks (at least one solver rank), got {n_trainers!r}")
    rank = comm.Get_rank()
    is_trainer = rank < n_trainers
    sub = comm.Split(color=0 if is_trainer else 1, key=rank)
    data, control = comm.Dup(), comm.Dup()
    return Roles(
        role="trainer" if is_trainer else "solver", comm=sub, world=comm,
        trainer_ranks=tuple(range(n_trainers)), solver_ranks=tuple(range(n_trainers, size)),
        rank_in_role=sub.Get_rank(), data=data, control=control,
    )
