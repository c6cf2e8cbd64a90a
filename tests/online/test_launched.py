"""One answer to "did an MPI launcher start this process as a rank?" (pdesurrogate.online.launched)
for ``online`` (run this rank's part, or launch the job) and for fit's ``/dev/shm`` check before
Lightning's MPI start-up: the variables a launcher sets in its ranks, not the families of names
a shell or container sets for itself."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pdesurrogate.online import command, shm_room
from pdesurrogate.online.launched import MPI_ENV, launcher_mark
from pdesurrogate.online.launcher import WORKER_ENV

MIB = 2**20
# set in shells and containers by hand, never only by a launcher in a rank: Open MPI images
# (run as root), MCA tuning of Open MPI and PMIx, Hydra's and MVAPICH's settings, an
# `srun --pty bash` shell's step
STRAY = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
         "OMPI_MCA_btl_vader_single_copy_mechanism": "none", "PMIX_MCA_gds": "hash",
         "HYDRA_LAUNCHER": "fork", "MV2_ENABLE_AFFINITY": "0", "SLURM_STEP_ID": "0",
         "SLURM_JOB_ID": "7"}


@pytest.fixture
def no_room(monkeypatch):
    """/dev/shm with 1 MiB free, as skip_mpi_start reads it; no Slurm, no MPI started."""
    for key in [k for k in os.environ if k.startswith(("SLURM_", "LSB_", "TORCHELASTIC"))]:
        monkeypatch.delenv(key)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    usage = shm_room.shutil.disk_usage(".")
    monkeypatch.setattr(shm_room.shutil, "disk_usage",
                        lambda _: usage._replace(free=MIB, total=64 * MIB))


def test_stray_launcher_family_variables_are_no_rank(monkeypatch, no_room):
    assert launcher_mark(STRAY) is None
    # before: LAUNCHER_MARKS' prefixes took OMPI_ALLOW_RUN_AS_ROOT (or any of these) for a
    # launcher, and a plain fit in a container with a full /dev/shm was refused ("started by
    # an MPI launcher (HYDRA_LAUNCHER is set)") instead of training without MPI's start-up
    assert shm_room.skip_mpi_start({"HOME": "/root", **STRAY}) is True
    for key in list(os.environ):
        if key in MPI_ENV:
            monkeypatch.delenv(key)
    monkeypatch.delenv(WORKER_ENV, raising=False)
    for key, value in STRAY.items():
        monkeypatch.setenv(key, value)
    assert command._under_mpi() is False


@pytest.mark.parametrize("name", MPI_ENV)
def test_each_rank_variable_is_a_rank_for_online_and_for_the_shm_check(monkeypatch, no_room,
                                                                        name):
    assert launcher_mark({"HOME": "/", name: "0"}) == name
    with pytest.raises(shm_room.SharedMemoryRoomError, match=f"launcher \\({name} is set\\)"):
        shm_room.skip_mpi_start({"HOME": "/", name: "0"})
    monkeypatch.delenv(WORKER_ENV, raising=False)
    for key in MPI_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv(name, "0")
    assert command._under_mpi() is True


def test_the_mpich_wheels_mpiexec_is_seen_as_a_launcher():
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        pytest.skip("needs the mpich wheel's mpiexec")
    env = {k: v for k, v in os.environ.items() if launcher_mark({k: v}) is None}
    code = ("import os; from pdesurrogate.online.launched import launcher_mark; "
            "print(launcher_mark(os.environ))")
    done = subprocess.run([str(mpiexec), "-n", "1", sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "PMI_RANK", done.stderr
