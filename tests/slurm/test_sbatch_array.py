"""train.sbatch in a job array with a RUN_DIR given: every task got that one folder, and each
resumed from and exported the newest checkpoint there, whichever task wrote it (checked on a
local Slurm: tasks 1 and 2 of --array=0-2 both exported csv/version_2's last.ckpt). Each task
now has RUN_DIR_<index> (and EXPORT_DIR_<index>). Without Slurm: a fake SLURM_JOB_ID and an
srun that prints what it was given (tests/slurm/test_sbatch_odd_paths.py)."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "sbatch_odd_paths", Path(__file__).parent / "test_sbatch_odd_paths.py")
odd_paths = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(odd_paths)


def _root_dir(argv: list[str]) -> str:
    return argv[argv.index("--trainer.default_root_dir") + 1]


def test_a_given_run_dir_is_each_array_tasks_own(tmp_path):
    (tmp_path / "fit.yaml").write_text("")
    array = {"SLURM_ARRAY_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "2"}
    argv = odd_paths._run(tmp_path, "train.sbatch", ["fit.yaml"],
                          {"RUN_DIR": "runs/sweep/", **array})
    assert _root_dir(argv) == "runs/sweep_2"
    assert (tmp_path / "runs" / "sweep_2").is_dir() and not (tmp_path / "runs/sweep").exists()
    # outside an array the given RUN_DIR is kept as it is
    (tmp_path / "bin").rename(tmp_path / "bin0")
    argv = odd_paths._run(tmp_path, "train.sbatch", ["fit.yaml"], {"RUN_DIR": "runs/sweep"})
    assert _root_dir(argv) == "runs/sweep"
