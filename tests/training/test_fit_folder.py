"""``pdesurrogate fit`` on a folder of three files, then ``test``, ``export`` and ``info`` of it;
``test`` refused once a file is added to the folder or one of its files is regenerated;
``predict`` on the folder warns that it is the model's training data."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")
QUIET = ["--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
         "--trainer.enable_progress_bar", "false"]


def _burgers(path: Path, seed: int, samples: int = 4) -> None:
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), path,
                     samples=samples, times=np.linspace(0, 1, 3), seed=seed, workers=1)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("folder_fit")
    data = tmp / "burgers"
    data.mkdir()
    for i in range(3):
        _burgers(data / f"part{i}.nc", seed=i)
    root = tmp / "runs"
    rc = main(["fit", "--config", CONFIG, "--data.init_args.path", str(data),
               "--data.init_args.batch_size", "4",
               "--model.init_args.model.init_args.hidden_channels", "4",
               "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
               "--trainer.default_root_dir", str(root), *QUIET])
    assert rc == 0
    run = root / "csv" / "version_0"
    return tmp, data, run


def _test(run: Path) -> int:
    return main(["test", "--config", str(run / "config.yaml"), "--ckpt_path",
                 str(run / "checkpoints" / "last.ckpt"), *QUIET[-4:]])


def test_fit_test_export_and_info_of_a_folder(fitted, capsys):
    tmp, data, run = fitted
    capsys.readouterr()
    assert _test(run) == 0, capsys.readouterr().err
    out = tmp / "models" / "fno"
    assert main(["export", str(run / "checkpoints" / "last.ckpt"), str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    source = cfg["provenance"]["data_source"]
    assert source["path"] == str(data) and source["n_trajectories"] == 12
    assert main(["info", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(data), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["files"] == [{"name": f"part{i}.nc", "trajectories": 4} for i in range(3)]
    assert info["shape"]["trajectories"] == 12 and info["splits"] is None
    assert info["file_bytes"] == sum(f.stat().st_size for f in data.iterdir())
    assert main(["info", str(data)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{data}: dataset folder of 3 files, pdesurrogate netCDF layout")
    assert "part1.nc  4 trajectories" in text, text
    # predict on the folder the checkpoint was fit on: its fingerprint is the folder's
    assert main(["predict", "--model", str(out), "--input", str(data), "--out",
                 str(tmp / "pred.nc")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"pdesurrogate predict: warning: '{data}' is the folder the model was trained on " \
           "(same content fingerprint): the relative L2 vs truth averages all 12 trajectories" \
           in err, err
    assert "relative L2 vs truth on the held-out test split alone" in err


@pytest.mark.parametrize("change", ["added", "regenerated", "removed"])
def test_test_refuses_a_changed_folder(fitted, change, capsys):
    tmp, data, run = fitted
    backup = tmp / f"backup_{change}"
    shutil.copytree(data, backup)
    try:
        if change == "added":
            _burgers(data / "part3.nc", seed=3, samples=1)
        elif change == "regenerated":
            (data / "part1.nc").unlink()
            _burgers(data / "part1.nc", seed=7)
        else:
            (data / "part2.nc").unlink()
        capsys.readouterr()
        assert _test(run) != 0
        err = capsys.readouterr().err
        assert "this test reads other data than the checkpoint was fit on" in err, err
        assert "as does a folder with a file added or removed" in err, err
    finally:
        shutil.rmtree(data)
        shutil.copytree(backup, data)
