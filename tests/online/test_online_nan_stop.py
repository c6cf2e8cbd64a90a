"""``pdesurrogate online`` whose weights turn NaN (a learning rate far too large) ends the job
with one error naming the problem and the config keys to change, exporting nothing and leaving
no checkpoint of NaN weights; before, it trained NaN to the end of the stream and exported a
NaN model with exit status 0."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(not (BIN / "mpiexec").exists(), reason="no mpiexec next to python")

CONFIG = """
seed: 0
trainers: 1
solvers: 1
solver:
  class_path: advection1d
  init_args: {n_points: 16, beta_range: [0.2, 1.0]}
simulations: 6
n_steps: 4
dt: 0.05
buffer: {kind: fifo, capacity: 40, watermark: 4}
batch_size: 4
validation: {trajectories: 2, every_n_steps: 1000}
stats_trajectories: 2
checkpoint_every_n_steps: 0
stall_timeout: 60
model:
  class_path: pdesurrogate.training.NextStepModule
  init_args:
    model:
      class_path: pdesurrogate.models.FNO
      init_args: {in_channels: 1, out_channels: 1, n_modes: [4], hidden_channels: 4,
                  n_layers: 1, n_params: 1}
    lr: 1.0e+12
    scheduler: none
    residual: true
trainer: {enable_progress_bar: false, log_every_n_steps: 2, enable_model_summary: false}
"""


@pytest.mark.slow  # 15-25 s; the message itself: tests/training/test_finite_weights.py
def test_nan_weights_end_the_job_with_one_error_and_no_export(tmp_path):
    cfg, out = tmp_path / "online.yaml", tmp_path / "run"
    cfg.write_text(CONFIG)
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path / "tmp")}
    proc = subprocess.run([sys.executable, "-m", "pdesurrogate.cli", "online", "--config",
                           str(cfg), "--out", str(out)], capture_output=True, text=True,
                          timeout=240, env=env)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert re.search(r"\[online rank 0 \(trainer\)\] error: NonFiniteWeights: the weights were "
                     r"found NaN or infinite after epoch 0, batch \d+ ", text), text
    assert "model.init_args.lr, it was 1e+12" in text, text
    assert "Traceback" not in text, text
    assert not (out / "model").exists() and not list(out.rglob("*.safetensors")), \
        sorted(p.name for p in out.rglob("*"))
    assert not (out / "checkpoint").exists()
