"""The sbatch scripts before they reach srun, without Slurm (a fake SLURM_JOB_ID): ``--help``
prints the header (how to submit, the arguments, where the log goes; outside Slurm too, where
it said "run me with sbatch"), and a Python that cannot import pdesurrogate ends online.sbatch
and predict.sbatch with one line and exit code 2 (it was a ModuleNotFoundError traceback from
every rank, as train.sbatch already checked)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("train", "online", "predict")


@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_the_header(name, flag):
    r = subprocess.run(["bash", str(ROOT / "slurm" / f"{name}.sbatch"), flag],
                       capture_output=True, text=True, timeout=30,
                       env={k: v for k, v in os.environ.items() if not k.startswith("SLURM_")})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"slurm/{name}.sbatch: "), lines[:2]
    assert f"sbatch slurm/{name}.sbatch " in r.stdout
    assert "Log: slurm-<job name>-<job id>.out in the submit directory" in r.stdout
    assert "Environment (all optional):" in r.stdout
    assert not any(line.startswith(("#", "SBATCH", "set -")) for line in lines), lines[-3:]


@pytest.mark.parametrize("name, args", [
    ("online", ["cfg.yaml"]),
    ("predict", ["model", "in.nc", "out.nc"]),
])
def test_a_python_without_pdesurrogate_is_one_line(tmp_path, name, args):
    # this Python without its site-packages: no pdesurrogate
    bare = tmp_path / "python"
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    bare.chmod(0o755)
    (tmp_path / "cfg.yaml").write_text("trainers: 1\n")
    site = tmp_path / "site.sh"
    site.write_text("")
    (tmp_path / "model").mkdir()
    for f in ("model/config.json", "model/model.safetensors", "in.nc"):
        (tmp_path / f).write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(SLURM_JOB_ID="1", SLURM_SUBMIT_DIR=str(tmp_path), SLURM_NTASKS="2",
               SLURM_JOB_NAME="t", SLURM_JOB_NODELIST="n", PDESURROGATE_PYTHON=str(bare),
               PDESURROGATE_SETUP=str(site), PATH=f"{tmp_path}:/usr/bin:/bin")
    # srun, should the script get that far: says so, does nothing
    srun = tmp_path / "srun"
    srun.write_text("#!/bin/sh\necho 'srun was run' >&2\nexit 1\n")
    srun.chmod(0o755)
    r = subprocess.run(["bash", str(ROOT / "slurm" / f"{name}.sbatch"), *args], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip() == (f"[{name}.sbatch] error: {bare} cannot import pdesurrogate "
                                "(installed for it?)"), r.stderr


def test_online_ranks_that_never_start_are_launched_again_then_reported(tmp_path):
    """online.sbatch's start-up watchdog: a launch whose ranks write no ranks/*.pid within
    ONLINE_START_TIMEOUT is killed and launched again, then the job ends with one error line
    (exit 2). Before, a launch hung in MPI_Init (seen on the local Slurm) ran silently to the
    time limit. Here the launcher is a stand-in mpiexec that never starts a rank."""
    mpiexec = tmp_path / "mpiexec"
    mpiexec.write_text('#!/bin/sh\necho "launch $*" >> launches.txt\nexec sleep 900\n')
    mpiexec.chmod(0o755)
    (tmp_path / "cfg.yaml").write_text("trainers: 1\n")
    site = tmp_path / "site.sh"
    site.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(SLURM_JOB_ID="1", SLURM_SUBMIT_DIR=str(tmp_path), SLURM_NTASKS="2",
               SLURM_JOB_NAME="t", SLURM_JOB_NODELIST="n", SLURM_JOB_NUM_NODES="1",
               PDESURROGATE_PYTHON=sys.executable, PDESURROGATE_SETUP=str(site),
               ONLINE_LAUNCHER="mpiexec", MPIEXEC=str(mpiexec), ONLINE_START_TIMEOUT="2",
               ONLINE_START_TRIES="2", RUN_DIR=str(tmp_path / "run"))
    r = subprocess.run(["bash", str(ROOT / "slurm" / "online.sbatch"), "cfg.yaml"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert (tmp_path / "launches.txt").read_text().count("launch -n 2 ") == 2, out
    for line in ["the 2 ranks did not all start within 2s (launch 1 of 2; 0 wrote",
                 "launching again (launch 2 of 2)",
                 "the 2 ranks did not all start within 2s (launch 2 of 2; 0 wrote"]:
        assert line in r.stdout, out
    assert r.stderr.startswith("[online.sbatch] error: the MPI job did not start in 2 "
                               "launch(es) of 2s each"), out
    assert not (tmp_path / "run" / ".online-sbatch-launch").exists()
