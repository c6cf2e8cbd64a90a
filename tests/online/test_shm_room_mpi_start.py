"""``fit`` and ``test`` where ``/dev/shm`` has no room for MPI to start (``shm_room``).

Lightning's Trainer asks whether it runs in an MPI job by importing ``mpi4py.MPI``, which
starts MPICH even where no launcher started the process; MPICH's segment took 1040 KiB of
``/dev/shm``, and with 1 MiB free ``pdesurrogate fit`` died of "Bus error" (status 135) as the
Trainer was built (faulthandler: ``lightning/fabric/plugins/environments/mpi.py``,
``MPIEnvironment.detect``). Now a process no launcher started skips that start-up and trains;
one a launcher started is refused in one line naming ``/dev/shm``, its free space and what to do.
Where not one page is left, the fit stops in one line saying so too, from the TensorBoard
logger (tensorboardX's queue makes semaphores there): before, "OSError: [Errno 28] No space
left on device", no folder named.

The end-to-end test mounts a 2 MiB tmpfs over ``/dev/shm`` in a mount namespace of its own
(``unshare -m``, as root); it is skipped where that cannot be done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from pdesurrogate.online import shm_room
from pdesurrogate.online.shm_room import (
    MIB,
    PER_RANK,
    SHM_DIR,
    SharedMemoryRoomError,
    launcher_mark,
    skip_mpi_start,
)

ROOT = Path(__file__).resolve().parents[2]
Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def shm_free(monkeypatch):
    """``shm_free(n)``: ``/dev/shm`` reports ``n`` bytes free; no Slurm, LSF or torchrun
    variables (Lightning would settle on those before its MPI check)."""
    for key in list(os.environ):
        if key.startswith(("SLURM_", "LSB_", "TORCHELASTIC_")) or key in (
                "LSF_VERSION", "GROUP_RANK", "LOCAL_RANK", "NODE_RANK"):
            monkeypatch.delenv(key)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    real = shutil.disk_usage

    def set_free(free: int) -> None:
        def disk_usage(path):
            if str(path) == SHM_DIR:
                return Usage(64 * MIB, 64 * MIB - free, free)
            return real(path)

        monkeypatch.setattr(shm_room.shutil, "disk_usage", disk_usage)

    return set_free


def test_no_room_and_no_launcher_skips_the_mpi_start(shm_free):
    shm_free(MIB)
    assert skip_mpi_start({"HOME": "/root", "PATH": "/usr/bin"}) is True


def test_room_leaves_lightnings_check_as_it_was(shm_free):
    shm_free(PER_RANK)
    assert skip_mpi_start({}) is False
    assert skip_mpi_start({"PMI_RANK": "0"}) is False


@pytest.mark.parametrize("mark", ["PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
                                  "MPI_LOCALNRANKS"])
def test_no_room_under_a_launcher_is_one_line_naming_dev_shm(shm_free, mark):
    shm_free(MIB // 2)
    with pytest.raises(SharedMemoryRoomError) as caught:
        skip_mpi_start({"HOME": "/root", mark: "0"})
    message = str(caught.value)
    assert message.startswith(f"/dev/shm has 0.5 MiB free, and this process, started by an MPI "
                              f"launcher ({mark} is set), needs about 5 MiB")
    assert "bus error" in message and "--shm-size" in message and "\n" not in message


def test_mpi_already_started_is_left_alone(shm_free, monkeypatch):
    shm_free(0)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", object())
    assert skip_mpi_start({"PMI_RANK": "0"}) is False


def test_an_environment_lightning_picks_before_mpi_is_left_alone(shm_free, monkeypatch):
    shm_free(0)
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    assert skip_mpi_start({"PMI_RANK": "0"}) is False


def test_no_dev_shm_is_no_refusal(shm_free, tmp_path):
    assert skip_mpi_start({"PMI_RANK": "0"}, str(tmp_path / "none")) is False


def test_launcher_marks_are_the_rank_variables_and_unrelated_names_are_not():
    assert launcher_mark({"PMI_FD": "3", "PMI_RANK": "0", "HOME": "/"}) == "PMI_RANK"
    assert launcher_mark({"OMPI_COMM_WORLD_SIZE": "2"}) == "OMPI_COMM_WORLD_SIZE"
    assert launcher_mark({"HOME": "/", "SLURM_JOB_ID": "7", "MPI4PY_RC_THREADS": "1"}) is None


# -- the CLI in a namespace whose /dev/shm is a 2 MiB tmpfs with 512 KiB free ------------------

RUN = textwrap.dedent("""
    import os, sys
    from pdesurrogate.cli import main
    data, root = sys.argv[1], sys.argv[2]
    args = ["fit", "--config", "configs/fit/fno_burgers.yaml", "--data.init_args.path", data,
            "--data.init_args.batch_size", "4", "--trainer.max_epochs", "1",
            "--model.init_args.model.init_args.hidden_channels", "4",
            "--model.init_args.model.init_args.n_layers", "1",
            "--trainer.num_sanity_val_steps", "0", "--trainer.enable_model_summary", "false",
            "--trainer.accelerator", "cpu", "--trainer.default_root_dir", root]
    os.environ["PMI_RANK"] = "0"
    print("launched", main(args), flush=True)
    del os.environ["PMI_RANK"]
    print("alone", main(args), flush=True)
    print("mpi started", "mpi4py.MPI" in sys.modules, flush=True)
    # no page left: not even tensorboardX's event queue finds room for its semaphore
    fd = os.open("/dev/shm/rest", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, bytes(4096)):
            pass
    except OSError:
        os.close(fd)
    print("full", main([*args, "--trainer.default_root_dir", root + "2"]), flush=True)
""")


def _namespaced_shm() -> list[str] | None:
    """The command prefix that runs a command with a 2 MiB tmpfs, 1.5 MiB of it filled, over
    ``/dev/shm`` in a mount namespace of its own; None where that cannot be done."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or not os.path.isdir(SHM_DIR):
        return None
    setup = ("mount -t tmpfs -o size=2m tmpfs /dev/shm && "
             "head -c 1572864 /dev/zero > /dev/shm/fill && exec \"$@\"")
    prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c", setup, "sh"]
    try:
        probe = subprocess.run([*prefix, "df", "-k", SHM_DIR], capture_output=True, text=True,
                               timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if probe.returncode == 0 and " 512 " in probe.stdout else None


@pytest.mark.slow  # 6-8 s: three fits in a namespace; the unit cases above run in make test
def test_fit_trains_with_no_room_for_mpi_and_refuses_a_launched_one_in_one_line(tmp_path):
    prefix = _namespaced_shm()
    if prefix is None:
        pytest.skip("needs root and unshare -m to mount a small tmpfs over /dev/shm")
    from pdesurrogate.datasets import generate_dataset
    from pdesurrogate.solvers import Burgers1D

    data = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), data, samples=10,
                     times=np.linspace(0, 1, 3), seed=0, workers=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key in [k for k in env if shm_room.launcher_mark({k: ""}) or k.startswith("SLURM_")]:
        del env[key]
    done = subprocess.run([*prefix, sys.executable, "-c", RUN, str(data), str(tmp_path / "run")],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    # before: killed by SIGBUS in MPI's start-up, nothing printed but faulthandler's dump
    assert done.returncode == 0, done.stderr[-3000:]
    assert "launched 2\n" in done.stdout and "alone 0\n" in done.stdout
    assert "mpi started False" in done.stdout
    assert "full 2\n" in done.stdout
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert errors[1:] == [
        "pdesurrogate fit: error: SemaphoreRoomError: TensorBoard's event writer found no room "
        "for its queue's semaphore in /dev/shm (No space left on device); /dev/shm has 0 MiB "
        "free now, of 2 MiB. Remove stale files there that no running process holds, or give "
        "the container more shared memory (docker/podman run --shm-size=1g)"]
    assert errors[:1] == [
        "pdesurrogate fit: error: SharedMemoryRoomError: /dev/shm has 0.5 MiB free, and this "
        "process, started by an MPI launcher (PMI_RANK is set), needs about 5 MiB there to start "
        "MPI (MPICH and UCX share memory through it); with less it dies of a bus error as MPI "
        "starts. Give the container more (docker/podman run --shm-size=1g), remove stale "
        "/dev/shm/mpich_shm_* files that no running job holds, or run the command without a "
        "launcher (one process)"]
    assert (tmp_path / "run" / "csv" / "version_0" / "checkpoints" / "last.ckpt").is_file()
