"""``pdesurrogate fit --config configs/fit/cape_fno_burgers.yaml`` on a tiny file written by the
real Burgers solver (the model as shipped, a few optimiser steps on 4-step windows with the
curriculum and the auxiliary loss), then export and ``pdesurrogate.load``: the surrogate keeps
CAPE's settings, uses the viscosity and rolls out."""

from pathlib import Path

import torch

import pdesurrogate
from pdesurrogate.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_fit_cape_config_exports_a_parameter_aware_surrogate(tmp_path, burgers_file):
    data = burgers_file(n_points=64, samples=10, frames=6)
    root = tmp_path / "run"
    rc = main(["fit", "--config", str(ROOT / "configs" / "fit" / "cape_fno_burgers.yaml"),
               "--data.init_args.path", str(data), "--data.init_args.batch_size", "4",
               "--trainer.max_steps", "3", "--trainer.log_every_n_steps", "1",
               "--trainer.limit_val_batches", "1",
               "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
               "--trainer.enable_model_summary", "false"])
    assert rc == 0
    metrics = (next(root.rglob("metrics.csv"))).read_text()
    assert "train/aux_rel_l2" in metrics and "train/teacher_forced_steps" in metrics
    # the config Lightning saves records the callbacks the CLI adds (no "unable to serialize")
    (saved,) = root.rglob("config.yaml")
    assert "pdesurrogate.training.deferred_signals.DeferredSignals" in saved.read_text()
    (ckpt,) = root.rglob("last.ckpt")
    out = tmp_path / "model"
    assert main(["export", str(ckpt), str(out)]) == 0
    sur = pdesurrogate.load(out)
    spec = sur.config["model"]
    assert spec["class"] == "cape"
    assert spec["init_args"]["cape"]["init_args"]["gate"] == "linear"
    assert spec["init_args"]["base"]["init_args"]["n_params"] == 1
    u0 = torch.randn(2, 1, 64)
    slow, fast = sur.predict(u0, torch.full((2, 1), 0.01)), sur.predict(u0, torch.full((2, 1), 0.1))
    assert torch.isfinite(slow).all() and not torch.allclose(slow, fast)
    assert sur.rollout(u0, torch.full((2, 1), 0.05), steps=3).shape == (2, 4, 1, 64)
