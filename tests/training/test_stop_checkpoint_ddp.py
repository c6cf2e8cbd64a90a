"""SIGTERM under `pdesurrogate fit --trainer.devices 2 --trainer.strategy ddp` (CPU, gloo) that
the two ranks see at different batches, as under Slurm: both stop at the same batch, last.ckpt
of it is written, the fit exits 143 naming it, and a resumed DDP fit trains only the rest."""

import json
import re
import subprocess
import sys
import textwrap

import pytest
import torch

CALLBACK = '''
import json
import os
import signal
from lightning.pytorch.callbacks import Callback


class TermAt(Callback):
    """SIGTERM to this rank at the start of global step ``at[rank]`` (-1: never); each rank
    writes the global steps it trained."""

    def __init__(self, out_dir: str, at: list[int]):
        self.out_dir, self.at, self.steps = out_dir, at, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.steps.append(trainer.global_step)
        if trainer.global_step == self.at[trainer.global_rank]:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        # here: a fit stopped by SIGTERM runs no teardown hook
        name = f"steps{len(self.at)}_{min(self.at)}_rank{trainer.global_rank}.json"
        with open(os.path.join(self.out_dir, name), "w") as f:
            json.dump(self.steps, f)
'''


def _fit(tmp_path, cfg, at, *extra):
    env = {"PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "pdesurrogate.cli", "fit", "--config", str(cfg),
         "--trainer.callbacks+=termcb.TermAt", f"--trainer.callbacks.out_dir={tmp_path}",
         f"--trainer.callbacks.at={json.dumps(at)}", *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_sigterm_at_different_batches_of_two_ddp_ranks_stops_both_at_one(tmp_path,
                                                                        advection_file):
    (tmp_path / "termcb.py").write_text(CALLBACK)
    cfg = tmp_path / "fit.yaml"
    cfg.write_text(textwrap.dedent(f"""
        seed_everything: 0
        trainer:
          max_epochs: 2
          accelerator: cpu
          devices: 2
          strategy: ddp
          enable_progress_bar: false
          enable_model_summary: false
          num_sanity_val_steps: 0
          default_root_dir: {tmp_path / "run"}
        model:
          class_path: pdesurrogate.training.NextStepModule
          init_args:
            model:
              class_path: pdesurrogate.models.FNO
              init_args: {{in_channels: 1, out_channels: 1, n_modes: [4], hidden_channels: 8,
                          n_layers: 2, n_params: 1}}
        data:
          class_path: pdesurrogate.training.FieldDataModule
          init_args: {{path: {advection_file}, batch_size: 2, fractions: [0.5, 0.3, 0.2]}}
        """))
    # rank 1 in global step 2, rank 0 would be in step 4
    proc = _fit(tmp_path, cfg, [4, 2])
    assert proc.returncode == 128 + 15, proc.stderr[-4000:]
    said = re.findall(r"stopped by SIGTERM; resume from where it stopped with --ckpt_path (\S+)",
                      proc.stderr)
    assert len(said) == 1, proc.stderr[-4000:]
    ckpt = said[0]
    assert torch.load(ckpt, weights_only=True)["global_step"] == 3  # step 2's batch is kept
    for rank in (0, 1):  # both ranks stopped after step 2
        assert json.loads((tmp_path / f"steps2_2_rank{rank}.json").read_text()) == [0, 1, 2]

    proc = _fit(tmp_path, cfg, [-1, -1], "--ckpt_path", ckpt)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # 25 training pairs, 13 a rank, 7 batches of 2: the resume trains steps 3 to 13
    for rank in (0, 1):
        steps = json.loads((tmp_path / f"steps2_-1_rank{rank}.json").read_text())
        assert steps == list(range(3, 14)), steps
