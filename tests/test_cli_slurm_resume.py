"""A fit without ``--ckpt_path`` in a Slurm job whose run folder holds a requeue checkpoint
(``hpc_ckpt_N.ckpt``): resumed from it, through the checks ``--ckpt_path`` gets, only where
the job is a requeue; refused, naming the file, where it is not (an array task sharing the
folder with another, whose checkpoint it is). cli.checkpoints._slurm_requeue_checkpoint."""

import pickle
from pathlib import Path

import pytest

from pdesurrogate.cli import main

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")


@pytest.fixture
def slurm_job(monkeypatch):
    """The environment of a batch job's one task (what Lightning's SLURMEnvironment reads)."""
    for name, value in {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "sweep",
                        "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    return monkeypatch


def fit(root: Path) -> list[str]:
    # the data file is never opened: both runs stop before anything is built
    return ["fit", "--config", CONFIG, "--data.init_args.path", str(root / "none.nc"),
            "--trainer.default_root_dir", str(root)]


@pytest.mark.parametrize("restarts", [None, "0"])
def test_a_job_that_is_no_requeue_is_refused_naming_the_checkpoint(tmp_path, slurm_job,
                                                                   capsys, restarts):
    if restarts is not None:
        slurm_job.setenv("SLURM_RESTART_COUNT", restarts)
    for n in (1, 3):
        (tmp_path / f"hpc_ckpt_{n}.ckpt").write_bytes(b"another trial's state")
    assert main(fit(tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"{str(tmp_path / 'hpc_ckpt_3.ckpt')!r} is a Slurm requeue checkpoint" in err, err
    first = err.strip().splitlines()[0]
    assert "(4242) is no requeue" in first and first.endswith("with --ckpt_path"), err


def test_a_requeued_job_resumes_through_the_ckpt_path_checks(tmp_path, slurm_job, capsys):
    """The requeue's checkpoint is vetted like a --ckpt_path: a pickle is refused by name
    (Lightning's own resume would have loaded it without these checks)."""
    slurm_job.setenv("SLURM_RESTART_COUNT", "1")
    planted = tmp_path / "hpc_ckpt_2.ckpt"
    planted.write_bytes(pickle.dumps({"state_dict": {}}))
    assert main(fit(tmp_path)) == 2
    err = capsys.readouterr().err
    assert str(planted) in err and "is a Slurm requeue checkpoint" not in err, err


def test_outside_slurm_the_folder_is_not_looked_at(tmp_path, monkeypatch):
    from pdesurrogate.cli.checkpoints import _slurm_requeue_checkpoint

    for name in ("SLURM_NTASKS", "SLURM_JOB_NAME", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "hpc_ckpt_1.ckpt").write_bytes(b"x")
    assert _slurm_requeue_checkpoint(str(tmp_path)) is None
