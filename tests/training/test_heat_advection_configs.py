"""``pdesurrogate fit --config configs/fit/{fno_heat2d,fno_advection}.yaml`` on tiny files
written by the real solvers (the model shrunk, two optimiser steps), then ``pdesurrogate test``
from the saved config and ``last.ckpt``, ``pdesurrogate export`` and ``pdesurrogate.load``: the
surrogate keeps the config's PDE parameters and (heat) domain padding and rolls out."""

from pathlib import Path

import numpy as np
import pytest
import torch

import pdesurrogate
from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Advection1D, Heat2D

ROOT = Path(__file__).resolve().parents[2]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
SMALL = ["--model.init_args.model.init_args.hidden_channels", "4",
         "--model.init_args.model.init_args.n_layers", "1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Tiny heat2d (16 x 16, 5 times) and advection1d (32 points, 5 times) files."""
    d = tmp_path_factory.mktemp("heat_advection")
    heat, adv = d / "heat2d.nc", d / "advection1d.nc"
    generate_dataset(Heat2D(n=16), heat, samples=10, times=np.linspace(0, 0.4, 5), seed=0,
                     workers=1, progress=False)
    generate_dataset(Advection1D(n_points=32), adv, samples=10, times=np.linspace(0, 0.2, 5),
                     seed=0, workers=1, progress=False)
    return {"fno_heat2d": heat, "fno_advection": adv}


@pytest.mark.parametrize("name,modes,params,padding", [
    ("fno_heat2d", "[4, 4]", ["kappa", "kappa_var"], 0.125),
    ("fno_advection", "[4]", ["beta"], 0.0)])
def test_fit_test_export_load(files, tmp_path, name, modes, params, padding):
    root = tmp_path / "run"
    rc = main(["fit", "--config", str(ROOT / "configs" / "fit" / f"{name}.yaml"),
               "--data.init_args.path", str(files[name]), "--data.init_args.batch_size", "4",
               "--model.init_args.model.init_args.n_modes", modes, *SMALL,
               "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1",
               "--trainer.default_root_dir", str(root), *QUIET])
    assert rc == 0
    (ckpt,) = root.rglob("last.ckpt")
    saved = str(ckpt.parent.parent / "config.yaml")
    assert main(["test", "--config", saved, "--ckpt_path", str(ckpt),
                 "--trainer.limit_test_batches", "1", *QUIET]) == 0
    out = tmp_path / "model"
    assert main(["export", str(ckpt), str(out)]) == 0
    sur = pdesurrogate.load(out)
    spec = sur.config["model"]
    assert spec["class"] == "fno" and spec["init_args"]["domain_padding"] == padding
    assert spec["init_args"]["n_params"] == len(params)
    grid = (16, 16) if name == "fno_heat2d" else (32,)
    u0 = torch.randn(2, 1, *grid)
    p = torch.tensor([[0.05, 0.2]] * 2) if name == "fno_heat2d" else torch.full((2, 1), 0.5)
    traj = sur.rollout(u0, p, steps=2)
    assert traj.shape == (2, 3, 1, *grid) and torch.isfinite(traj).all()
