"""Whether an MPI launcher started this process as a rank of a job: the variables a launcher
sets in each process it starts, and in no other (:data:`MPI_ENV`).

Two questions ask it: ``pdesurrogate online`` (run this rank's part, or launch the job) and the
``/dev/shm`` check before Lightning's MPI start-up in ``fit`` and ``test`` (may MPI's start be
spared, since it could only find one process). Both need names that mean "a rank", never
prefixes: a shell or container sets many variables of the same families for itself
(``OMPI_ALLOW_RUN_AS_ROOT`` in Open MPI images, ``OMPI_MCA_*``/``PMIX_MCA_*`` tuning,
``HYDRA_*`` and ``MV2_*`` settings), and an ``srun --pty bash`` shell carries ``SLURM_STEP_ID``
into every command typed in it; a process with only those is no rank.
"""

from __future__ import annotations

from collections.abc import Mapping

# Hydra (MPICH, Intel MPI; measured with the mpich wheel's mpiexec: PMI_RANK, PMI_SIZE, PMI_FD,
# MPI_LOCALNRANKS, MPI_LOCALRANKID), srun --mpi=pmi2 and Flux (PMI_RANK, PMI_SIZE), a PMIx
# server (srun --mpi=pmix, Open MPI 5: PMIX_RANK), Open MPI's mpirun (OMPI_COMM_WORLD_SIZE)
MPI_ENV = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


def launcher_mark(environ: Mapping[str, str]) -> str | None:
    """The first of :data:`MPI_ENV` that ``environ`` (a process's environment) holds: the sign
    that an MPI launcher started the process as a rank; None where it holds none."""
    return next((name for name in MPI_ENV if name in environ), None)
