"""``pdesurrogate online`` as several tasks of an ``srun`` without an MPI plugin (``srun -n 3
pdesurrogate online ...`` where ``MpiDefault=none``, Slurm's default): no PMI variables, so
each task took itself for a launcher and started an MPI job of its own in the same folder (seen
on a local Slurm: one run of the config's ranks, ignoring the allocation, and the other tasks
failing with "in use by another pdesurrogate online run"). Now task 0 refuses with one message
naming the fix, before anything is made; the other tasks exit 2 quietly."""

import pytest
from jsonargparse import Namespace

from pdesurrogate.online.errors import UsageError
from pdesurrogate.online.launcher import launch, srun_without_mpi


def test_only_an_srun_step_of_several_tasks_is_refused():
    assert srun_without_mpi({}) is None  # no Slurm, or a batch script (no step variables)
    assert srun_without_mpi({"SLURM_STEP_NUM_TASKS": "1"}) is None  # srun -n 1: one launcher
    msg = srun_without_mpi({"SLURM_STEP_NUM_TASKS": "3"})
    assert msg.startswith("srun started 3 tasks of `pdesurrogate online`, but with no MPI")
    assert "--mpi=pmi2" in msg and "slurm/online.sbatch" in msg


def test_task_0_refuses_before_making_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "3")
    monkeypatch.setenv("SLURM_PROCID", "0")
    out = tmp_path / "run"
    with pytest.raises(UsageError, match="srun started 3 tasks"):
        launch(None, Namespace(out=str(out)), [])
    assert not out.exists()


def test_the_other_tasks_exit_2_without_a_word(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "3")
    monkeypatch.setenv("SLURM_PROCID", "2")
    out = tmp_path / "run"
    assert launch(None, Namespace(out=str(out)), []) == 2
    assert not out.exists()
    assert capsys.readouterr() == ("", "")
