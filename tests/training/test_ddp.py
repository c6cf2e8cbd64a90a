"""`pdesurrogate fit --trainer.devices 2 --trainer.strategy ddp` on CPU (gloo): both ranks finish
with identical weights, and those weights moved away from the initial ones; the validation error
logged under DDP is the one a single process computes (each trajectory counted once)."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from lightning.pytorch import Trainer
from safetensors.torch import load_file

from pdesurrogate.training import FieldDataModule, NextStepModule
from pdesurrogate.training.evaluation import evaluation_loader

CALLBACK = '''
import json
import os
from lightning.pytorch.callbacks import Callback
from safetensors.torch import save_file


class DumpWeights(Callback):
    """Each rank writes its model weights at the start and the end of training."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir

    def _dump(self, trainer, module, tag):
        state = {k: v.detach().cpu().contiguous().clone()
                 for k, v in module.model.state_dict().items()}
        # the normalisation statistics each rank trains with (not in state_dict)
        state.update({"norm." + n: module.get_buffer(n).detach().cpu().clone()
                      for n in ("u_mean", "u_std", "p_mean", "p_std")})
        save_file(state, os.path.join(self.out_dir, f"{tag}_rank{trainer.global_rank}.safetensors"))

    def on_train_start(self, trainer, module):
        self._dump(trainer, module, "start")

    def on_train_end(self, trainer, module):
        self._dump(trainer, module, "end")

    def on_validation_end(self, trainer, module):
        if not trainer.sanity_checking:
            with open(os.path.join(self.out_dir, f"val_rank{trainer.global_rank}.json"), "w") as f:
                json.dump(float(trainer.callback_metrics["val/rel_l2"]), f)
'''


def test_ddp_two_cpu_processes_end_with_identical_weights(tmp_path, advection_file):
    (tmp_path / "dumpcb.py").write_text(CALLBACK)
    cfg = tmp_path / "fit.yaml"
    cfg.write_text(textwrap.dedent(f"""
        seed_everything: 0
        trainer:
          max_epochs: 2
          accelerator: cpu
          devices: 2
          strategy: ddp
          enable_progress_bar: false
          default_root_dir: {tmp_path / "run"}
        model:
          class_path: pdesurrogate.training.NextStepModule
          init_args:
            model:
              class_path: pdesurrogate.models.FNO
              init_args: {{in_channels: 1, out_channels: 1, n_modes: [4], hidden_channels: 8,
                          n_layers: 2, n_params: 1}}
            lr: 0.01
        data:
          class_path: pdesurrogate.training.FieldDataModule
          init_args: {{path: {advection_file}, batch_size: 2, fractions: [0.5, 0.3, 0.2]}}
        """))
    env = {"PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "pdesurrogate.cli", "fit", "--config", str(cfg),
         "--trainer.callbacks+=dumpcb.DumpWeights",
         f"--trainer.callbacks.out_dir={tmp_path}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    end0 = load_file(tmp_path / "end_rank0.safetensors")
    end1 = load_file(tmp_path / "end_rank1.safetensors")
    start0 = load_file(tmp_path / "start_rank0.safetensors")
    assert end0.keys() == end1.keys() and len(end0) > 0
    for k in end0:
        assert torch.equal(end0[k], end1[k]), k
    # both ranks trained with the training split's statistics from the start
    from pdesurrogate.datasets import compute_stats, open_dataset, split_indices

    stats = compute_stats(open_dataset(advection_file),
                          split_indices(len(open_dataset(advection_file)), (0.5, 0.3, 0.2), 0)[0])
    for state in (start0, end0, end1):
        assert state["norm.u_mean"].tolist() == pytest.approx(stats.mean)
        assert state["norm.p_mean"].tolist() == pytest.approx(stats.param_mean)
    moved = sum(float((end0[k] - start0[k]).abs().sum()) for k in end0 if k[:5] != "norm.")
    assert moved > 1e-3

    # 3 validation trajectories on 2 ranks: Lightning's own sampler would pad rank 1 with a
    # repeat of trajectory 0 and count it twice in the logged mean
    logged = [json.loads((tmp_path / f"val_rank{r}.json").read_text()) for r in (0, 1)]
    ckpt = sorted((tmp_path / "run").rglob("*.ckpt"))[-1]
    module = NextStepModule.load_from_checkpoint(ckpt, weights_only=False)
    data = FieldDataModule(str(advection_file), batch_size=2, fractions=(0.5, 0.3, 0.2))
    single = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                     enable_model_summary=False).validate(module, data, verbose=False)
    assert len(data.val_indices) == 3
    assert logged[0] == pytest.approx(single[0]["val/rel_l2"], rel=1e-5)
    assert logged[1] == pytest.approx(logged[0], rel=1e-6)


class _Ranked:
    def __init__(self, world_size: int, global_rank: int, **limits):
        self.world_size, self.global_rank = world_size, global_rank
        self.limit_val_batches = limits.get("limit_val_batches", 1.0)
        self.limit_test_batches = limits.get("limit_test_batches", 1.0)
        self.overfit_batches = limits.get("overfit_batches", 0.0)
        if self.overfit_batches > 0:  # as Lightning's Trainer does
            self.limit_val_batches = self.overfit_batches


def test_evaluation_loader_gives_each_trajectory_to_one_rank_and_refuses_too_few():
    items = list(range(5))
    seen = [i for r in range(3) for batch in evaluation_loader(items, 2, _Ranked(3, r), "val")
            for i in batch.tolist()]
    assert sorted(seen) == items
    assert [i for b in evaluation_loader(items, 2, None, "val") for i in b.tolist()] == items
    with pytest.raises(ValueError, match=r"the test split holds 2 trajectory\(ies\), fewer than "
                                         r"the 3 training processes"):
        evaluation_loader(items[:2], 1, _Ranked(3, 0), "test")
    # an empty split is a split turned off (fractions with a 0), not an error
    assert list(evaluation_loader([], 2, _Ranked(3, 0), "validation")) == []
    # 3 trajectories, 2 ranks, batch 1: rank 1 has one batch, and int(1 * 0.5) = 0 of them
    # would stop it alone; 0.5 of 2 batches each (4 trajectories) is fine
    with pytest.raises(ValueError, match="limit_val_batches=0.5 leaves some of the 2"):
        evaluation_loader(items[:3], 1, _Ranked(2, 0, limit_val_batches=0.5), "validation")
    assert len(evaluation_loader(items[:4], 1, _Ranked(2, 1, limit_val_batches=0.5),
                                 "validation")) == 2
    assert len(evaluation_loader(items[:3], 1, _Ranked(2, 0, limit_test_batches=0.5),
                                 "validation")) == 2
    # --trainer.overfit_batches 0.5 reaches the loader as limit_val_batches: the error names
    # the option the user gave
    with pytest.raises(ValueError, match="^overfit_batches=0.5 leaves some of the 2"):
        evaluation_loader(items[:3], 1, _Ranked(2, 0, overfit_batches=0.5), "validation")
