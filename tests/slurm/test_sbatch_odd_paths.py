"""The sbatch scripts' paths and extra options up to srun, without Slurm (a fake SLURM_JOB_ID
and an srun that prints what it was given): a submit folder, config, model and files with
spaces, non-ASCII letters and a leading ``-`` reach the command whole, and the extra options of
FIT_ARGS / PREDICT_ARGS are split on whitespace but never globbed (``data/run[1].nc`` became
``data/run1.nc`` wherever that file existed)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# every argument on its own NUL-ended record, after srun's own options
SRUN = '#!/bin/bash\nwhile [ "${1#-}" != "$1" ]; do shift; done\nprintf "%s\\0" "$@"\nexit 3\n'


def _run(folder: Path, script: str, args: list[str], extra: dict) -> list[str]:
    bindir = folder / "bin"
    bindir.mkdir()
    (bindir / "srun").write_text(SRUN)
    (bindir / "srun").chmod(0o755)
    (folder / "site.sh").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(SLURM_JOB_ID="1", SLURM_SUBMIT_DIR=str(folder), SLURM_JOB_NAME="my job",
               SLURM_JOB_NODELIST="n", PDESURROGATE_PYTHON=sys.executable,
               PDESURROGATE_SETUP=str(folder / "site.sh"),
               PATH=f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}", **extra)
    r = subprocess.run(["bash", str(ROOT / "slurm" / script), *args], cwd=folder, env=env,
                       capture_output=True, timeout=120)
    assert r.returncode == 3, r.stderr.decode()  # srun's exit status, passed on
    argv = r.stdout.decode().split("\0")[:-1]
    return argv[argv.index("-c") + 2:]  # after the Python bootstrap's -c TEXT


@pytest.fixture
def folder(tmp_path) -> Path:
    folder = tmp_path / "sub mit" / "été -dir"
    (folder / "data").mkdir(parents=True)
    for name in ("data/run1.nc", "data/run1.png", "data/-in put.nc", "fit x.yaml"):
        (folder / name).write_text("")
    return folder


def test_train_passes_paths_whole_and_fit_args_unglobbed(folder):
    argv = _run(folder, "train.sbatch", ["fit x.yaml"],
                {"RUN_DIR": "runs/été x", "FIT_ARGS": "--data.init_args.path data/run[1].nc"})
    assert argv[:7] == ["fit", "--config", "fit x.yaml", "--trainer.default_root_dir",
                        "runs/été x", "--trainer.num_nodes", "1"], argv
    assert argv[-2:] == ["--data.init_args.path", "data/run[1].nc"], argv


def test_predict_passes_paths_whole_and_predict_args_unglobbed(folder):
    model = folder / "-model x"
    model.mkdir()
    for name in ("config.json", "model.safetensors"):
        (model / name).write_text("")
    argv = _run(folder, "predict.sbatch", ["./-model x", "data/-in put.nc", "./-out:é=1.nc"],
                {"PREDICT_ARGS": "--plot\ndata/run[1].png"})
    assert argv[:7] == ["predict", "--model", "./-model x", "--input", "data/-in put.nc",
                        "--out", "./-out:é=1.nc"], argv
    assert argv[-2:] == ["--plot", "data/run[1].png"], argv
