"""The Darcy command sequence of the README, tiny: ``generate`` (a 16x16 file) -> ``fit`` with
``configs/fit/fno_darcy.yaml`` -> ``test`` -> ``export`` -> ``predict``, each through
``main([...])``; ``predict --steps`` on the steady export is one clear error."""

import json
from pathlib import Path

import numpy as np
import pytest

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset, open_dataset
from pdesurrogate.solvers import Darcy2D

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "fit" / "fno_darcy.yaml")
QUIET = ["--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
         "--trainer.enable_progress_bar", "false"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny fit of the shipped config on 10 Darcy samples, exported: (data, export, fit's
    stderr)."""
    tmp = tmp_path_factory.mktemp("darcy")
    data = tmp / "darcy2d.nc"
    generate_dataset(Darcy2D(n=16, tuner="fixed"), data, samples=10, times=[0.0], seed=0,
                     workers=1, progress=False)
    root = tmp / "runs"
    rc = main(["fit", "--config", CONFIG, "--data.init_args.path", str(data),
               "--data.init_args.batch_size", "4",
               "--model.init_args.model.init_args.hidden_channels", "4",
               "--model.init_args.model.init_args.n_modes", "[4, 4]",
               "--model.init_args.model.init_args.n_layers", "1",
               "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
               "--trainer.log_every_n_steps", "1",
               "--trainer.default_root_dir", str(root), *QUIET])
    assert rc == 0
    run = root / "csv" / "version_0"
    assert main(["test", "--config", str(run / "config.yaml"), "--ckpt_path",
                 str(run / "checkpoints" / "last.ckpt"), *QUIET[-2:]]) == 0
    out = tmp / "models" / "fno_darcy"
    assert main(["export", str(run / "checkpoints" / "last.ckpt"), str(out)]) == 0
    return data, out, run


def test_fit_logs_rel_l2_and_exports_a_steady_map(trained):
    data, out, run = trained
    logged = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/rel_l2", "val/rel_l2"} <= set(logged)
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["kind"], cfg["inputs"], cfg["targets"]) == ("steady", ["a"], ["u"])
    assert cfg["provenance"]["data_source"]["path"] == str(data)


def test_predict_writes_the_targets_and_prints_the_error_per_sample(trained, tmp_path,
                                                                     capsys):
    data, out, _ = trained
    pred = tmp_path / "pred.nc"
    assert main(["predict", "--model", str(out), "--input", str(data), "--out", str(pred)]) == 0
    err = capsys.readouterr().err
    with open_dataset(pred) as p, open_dataset(data) as d:
        assert p.channel_names == ("u",) and p.u.shape == (10, 1, 1, 16, 16)
        u, got = np.asarray(d.u[:, 0, 1], np.float64), np.asarray(p.u[:, 0, 0], np.float64)
    rel = np.linalg.norm((got - u).reshape(10, -1), axis=1) / np.linalg.norm(
        u.reshape(10, -1), axis=1)
    line = next(ln for ln in err.splitlines() if ln.startswith("relative L2 vs truth over"))
    assert line.startswith(f"relative L2 vs truth over 10 samples: mean {rel.mean():.4g}, "
                           f"median {np.median(rel):.4g}, max {rel.max():.4g}"), line
    assert "wrote" in err and "the targets of 10 samples" in err


def test_predict_refuses_steps_for_a_steady_map(trained, tmp_path, capsys):
    data, out, _ = trained
    rc = main(["predict", "--model", str(out), "--input", str(data), "--out",
               str(tmp_path / "p.nc"), "--steps", "3"])
    assert rc != 0 and not (tmp_path / "p.nc").exists()
    assert "--steps: " in capsys.readouterr().err
