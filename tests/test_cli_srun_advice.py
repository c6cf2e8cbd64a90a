"""Lightning's advice "The `srun` command is available on your system but is not used" once per
fit, from Lightning's own look at the cluster as it builds the Trainer: our two looks before it
(the Slurm requeue checkpoint, the /dev/shm check before MPI's start-up) said it again, a
second time in a fit's stderr wherever srun is installed."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from pdesurrogate.cli.checkpoints import _slurm_requeue_checkpoint
from pdesurrogate.online import shm_room

ROOT = Path(__file__).resolve().parents[1]
ADVICE = "is available on your system but is not used"


@pytest.fixture
def srun_installed(tmp_path, monkeypatch):
    """An ``srun`` on PATH, outside any Slurm job; the environment to run a process in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    for key in [k for k in os.environ if k.startswith("SLURM_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _advice(call) -> list[str]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in seen if ADVICE in str(w.message)]


def test_our_looks_at_the_cluster_give_no_advice(srun_installed, tmp_path):
    # before: one advice each
    assert _advice(lambda: _slurm_requeue_checkpoint(str(tmp_path))) == []
    assert _advice(lambda: shm_room.skip_mpi_start({}, str(tmp_path))) == []


@pytest.mark.slow
def test_a_fit_gives_lightnings_advice_once(srun_installed, tmp_path):
    from pdesurrogate.datasets import generate_dataset
    from pdesurrogate.solvers import Burgers1D

    data = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=16, nu_range=(0.01, 0.1), ic="grf"), data, samples=8,
                     times=np.linspace(0, 1, 3), seed=0, workers=1)
    done = subprocess.run(
        [sys.executable, "-m", "pdesurrogate.cli", "fit", "--config",
         "configs/fit/fno_burgers.yaml", "--data.init_args.path", str(data),
         "--data.init_args.batch_size", "4", "--trainer.max_epochs", "1",
         "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
         "--model.init_args.model.init_args.hidden_channels", "4",
         "--trainer.default_root_dir", str(tmp_path / "run")],
        capture_output=True, text=True, cwd=ROOT, env=srun_installed, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # before: twice
    assert done.stderr.count(ADVICE) == 1, done.stderr
