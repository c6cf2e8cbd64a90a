"""What a user finds in the logs of ``pdesurrogate online --config
configs/online/burgers_fno.yaml`` (shrunk to a few seconds): the stream metrics and the
learning rate in the CSV rows of the training loss, the network's arguments in
``hparams.yaml``, and no placeholder ``hp_metric`` in TensorBoard."""

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "fit_logs_helpers", ROOT / "tests" / "training" / "test_fit_logs.py")
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
tensorboard_tags = _helpers.tensorboard_tags


def _online(tmp_path, *options: str) -> Path:
    """Run the shipped Burgers online config, shrunk to seconds, with ``options``; its folder."""
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "pdesurrogate", "online",
         "--config", str(ROOT / "configs" / "online" / "burgers_fno.yaml"), "--out", str(out),
         "--solvers", "1", "--solver.init_args.n_points", "32",
         "--model.init_args.model.init_args.hidden_channels", "6",
         "--validation.trajectories", "2", "--stats_trajectories", "2",
         "--buffer.watermark", "20", "--trainer.enable_progress_bar", "false",
         "--checkpoint_every_n_steps", "0", *options],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1",
             "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _csv_rows(out: Path) -> list[dict]:
    with open(out / "csv" / "version_0" / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # about 15 s: an MPI job of a solver rank and a trainer rank
def test_online_logs_name_the_rate_and_the_network(tmp_path):
    out = _online(tmp_path, "--simulations", "12", "--validation.every_n_steps", "10",
                  "--trainer.log_every_n_steps", "5")
    rows = _csv_rows(out)
    train = [r for r in rows if r["train/rel_l2"]]
    assert train, rows
    for r in train:
        # the config's constant rate (scheduler: none), on the row of the loss it trained
        assert float(r["train/lr"]) == pytest.approx(1e-3)
        assert r["stream/samples_per_s"] and r["trainer/idle_fraction"]
    for folder in (out / "csv" / "version_0", out / "tensorboard" / "version_0"):
        spec = yaml.safe_load((folder / "hparams.yaml").read_text())["model_spec"]
        assert spec["class"] == "fno" and spec["init_args"]["hidden_channels"] == 6
    tags = tensorboard_tags(out / "tensorboard" / "version_0")
    assert {"train/lr", "stream/mb_per_s", "val/rel_l2"} <= tags
    assert "hp_metric" not in tags


@pytest.mark.slow  # about 15 s: an MPI job of a solver rank and a trainer rank
def test_stream_metrics_reach_the_csv_with_lightnings_period_unset(tmp_path):
    # log_every_n_steps unset: the stream monitor logs every 20 steps, and Lightning must write
    # at the same steps (its own default, 50, would drop the monitor's rows)
    out = _online(tmp_path, "--simulations", "40", "--batch_size", "8",
                  "--validation.every_n_steps", "1000", "--trainer.log_every_n_steps", "null",
                  "--trainer.max_steps", "45")
    stream = [int(r["step"]) for r in _csv_rows(out) if r.get("stream/samples_per_s")]
    # Lightning's 0-based step of the 20th and 40th optimiser steps
    assert stream == [19, 39]
