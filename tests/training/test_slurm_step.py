"""``srun pdesurrogate fit`` of several tasks in a job named ``interactive`` (salloc's default
name), which Lightning takes for an interactive shell and so ignores Slurm's ranks."""

import os
import random
import subprocess
import sys

import numpy as np
import pytest

from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D
from pdesurrogate.training.slurm_step import srun_tasks_lightning_ignores

from ..test_cli_fit import CONFIG, tiny

STEP = {"SLURM_STEP_ID": "0", "SLURM_JOB_NAME": "interactive", "SLURM_NTASKS": "2",
        "SLURM_STEP_NUM_TASKS": "2"}


@pytest.mark.parametrize("environ, tasks", [
    (STEP, 2),
    ({**STEP, "SLURM_JOB_NAME": "bash"}, 2),
    ({**STEP, "SLURM_JOB_NAME": "myfit"}, 0),  # Lightning sees Slurm itself
    ({k: v for k, v in STEP.items() if k != "SLURM_STEP_ID"}, 0),  # the salloc shell, no srun
    ({**STEP, "SLURM_STEP_NUM_TASKS": "1", "SLURM_NTASKS": "4"}, 0),  # srun -n1 in a bigger job
    ({**STEP, "NODE_RANK": "1"}, 0),  # ranks of the user's own
    ({**STEP, "SLURM_STEP_NUM_TASKS": "x"}, 0),
])
def test_which_steps_lightning_would_ignore(environ, tasks):
    assert srun_tasks_lightning_ignores(environ) == tasks


@pytest.mark.slow  # about 20 s: two fit processes in DDP (gloo)
def test_two_srun_tasks_in_an_interactive_job_fit_as_ranks_0_and_1(tmp_path):
    # two "nodes" of one task each, as on a 2-node salloc (both on this machine). Before:
    # Lightning ignored Slurm, so both tasks were node 0, rank 0 of 2, and waited for rank 1
    # forever
    data = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), data, samples=10,
                     times=np.linspace(0, 1, 3), seed=0, workers=1, progress=False)
    job = str(random.randrange(10_000, 19_999))  # Lightning's port: 15000 + its last 4 digits
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "PMI"))}
    procs = []
    for rank in (0, 1):
        env = {**base, **STEP, "SLURM_JOB_ID": job, "SLURM_PROCID": str(rank),
               "SLURM_LOCALID": "0", "SLURM_NODEID": str(rank), "SLURM_NNODES": "2",
               "SLURM_NTASKS_PER_NODE": "1", "SLURM_NODELIST": "localhost",
               "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "pdesurrogate.cli", "fit", "--config", CONFIG,
             *tiny(str(data), tmp_path / "runs"), "--trainer.max_epochs", "1",
             "--trainer.devices", "1", "--trainer.num_nodes", "2", "--trainer.strategy", "ddp",
             "--trainer.accelerator", "cpu", "--data.init_args.fractions", "[0.6, 0.4, 0.0]"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=90))
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-4000:]
    assert "ranks are Slurm's" in outs[0][1] and "ranks are Slurm's" not in outs[1][1]
    assert (tmp_path / "runs" / "csv" / "version_0" / "checkpoints" / "last.ckpt").exists()
