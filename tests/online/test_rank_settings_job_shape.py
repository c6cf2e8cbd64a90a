"""What a rank of ``pdesurrogate online`` says about the job it was started in, before training:
too few ranks for the trainers (an sbatch/srun ``--ntasks`` of trainers or fewer), and
``trainer.accelerator: gpu`` on a rank that sees no GPU (a Slurm job on a GPU partition without
``--gpus``). Each is one message, raised by world rank 0 alone (every other rank returns
``None`` and exits with CONFIG_ERROR), not a ValueError from ``split_roles`` printed by every
rank or Lightning's error from deep inside the trainer. MPI is a stand-in world here."""

import importlib.util
from pathlib import Path

import pytest
import torch
from jsonargparse import Namespace

import pdesurrogate.streaming.roles as roles_module
from pdesurrogate.online.errors import UsageError
from pdesurrogate.online.rank_settings import check_gpu_seen, rank_settings, too_few_ranks

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


class _Done:
    def Test(self) -> bool:  # noqa: N802 - mpi4py's name
        return True


class _World:
    """COMM_WORLD of ``size`` ranks seen from ``rank``; a broadcast from rank 0 leaves the
    buffer as it is (this rank's own value: right for rank 0, and for a rank 0 that found no
    error)."""

    def __init__(self, size: int, rank: int):
        self.size, self.rank = size, rank

    def Ibcast(self, buf, root=0):  # noqa: N802 - mpi4py's name
        return _Done()

    def Abort(self, code=1):  # noqa: N802 - mpi4py's name
        raise AssertionError(f"rank {self.rank} aborted the job ({code})")


@pytest.fixture
def world(monkeypatch):
    def make(size: int, rank: int) -> None:
        mpi = Namespace(COMM_WORLD=_World(size, rank))
        monkeypatch.setattr(roles_module, "mpi", lambda: mpi)
    return make


def test_too_few_ranks_names_what_the_job_needs():
    assert too_few_ranks(3, 2, {}) is None
    msg = too_few_ranks(2, 2, {})
    assert "trainers=2 needs an MPI job of at least 3 ranks" in msg and "this one has 2" in msg
    assert "--ntasks" in msg and "srun started" not in msg
    # srun's tasks are each an MPI job of their own: srun's plugin does not start this MPI
    msg = too_few_ranks(1, 1, {"SLURM_STEP_NUM_TASKS": "3"})
    assert "srun started 3 tasks, but each is an MPI job of 1" in msg and "--mpi=pmi2" in msg
    # a heterogeneous step counts its components' tasks apart: no guess there
    assert "srun started" not in too_few_ranks(
        1, 1, {"SLURM_STEP_NUM_TASKS": "3", "SLURM_HET_SIZE": "2"})


@pytest.mark.parametrize("rank", [0, 1])
def test_a_job_of_as_many_ranks_as_trainers_is_refused_once_by_rank_0(tmp_path, world, rank):
    """2 ranks, --trainers 2 (sbatch --ntasks=2): rank 0 raises the one message before the
    trainer's parse; rank 1 returns None, to exit quietly."""
    cfg = helpers.write_config(tmp_path)
    world(2, rank)
    argv = ["--config", str(cfg), "--out", str(tmp_path / "r"), "--trainers", "2"]
    if rank == 0:
        with pytest.raises(UsageError, match="trainers=2 needs an MPI job of at least 3 ranks"):
            rank_settings(argv)
    else:
        assert rank_settings(argv) is None


@pytest.mark.parametrize("accelerator", ["gpu", "cuda", "GPU"])
def test_a_gpu_accelerator_without_a_gpu_is_one_clear_error(monkeypatch, accelerator):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(UsageError, match=f"trainer.accelerator='{accelerator}', but this "
                                         r"trainer rank \(on .*CUDA_VISIBLE_DEVICES=unset\) "
                                         "sees no GPU: ask Slurm for GPUs"):
        check_gpu_seen(Namespace(accelerator=accelerator))


def test_the_gpu_check_passes_where_a_gpu_is_seen_or_none_is_asked_for(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for accelerator in ("cpu", "auto", None):
        check_gpu_seen(Namespace(accelerator=accelerator))
    check_gpu_seen(None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_gpu_seen(Namespace(accelerator="gpu"))
    # Lightning's "gpu" is CUDA or Apple's MPS; "cuda" only CUDA
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    check_gpu_seen(Namespace(accelerator="gpu"))
    with pytest.raises(UsageError):
        check_gpu_seen(Namespace(accelerator="cuda"))


def test_the_trainer_rank_checks_the_gpu_before_training(tmp_path, world, monkeypatch):
    """Trainer rank 0 of a 2-rank job with --trainer.accelerator gpu and no GPU: the error
    comes out of rank_settings (printed once by the command), not out of the trainer."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    cfg = helpers.write_config(tmp_path)
    world(2, 0)
    with pytest.raises(UsageError, match="sees no GPU"):
        rank_settings(["--config", str(cfg), "--out", str(tmp_path / "r"),
                       "--trainer.accelerator", "gpu"])
