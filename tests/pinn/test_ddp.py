"""PINN training on two CPU processes (DDP, gloo): the ranks draw different collocation points
and SDGD dimensions (a second device adds samples), rank 0 draws exactly what a single process
draws, and both ranks end with identical weights (also after fit_output_bias); validation
splits the fixed points between the ranks and counts each once.

The script runs in a fresh interpreter with ``strategy="ddp_fork"``: the two ranks are forked
from it, so torch and Lightning are imported once (``ddp``, as in tests/training/test_ddp.py,
imports them again in the second rank; the ranks' seeds come from ``trainer.global_rank`` in
both)."""

import importlib.util
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

SCRIPT = '''
import json
import os
import sys

import torch
from lightning.pytorch import Callback, Trainer
from safetensors.torch import save_file

from pdesurrogate.pinn import SDGD, BallPoints, PINNModule, Poisson


class Record(Callback):
    """Per step: the sum of the batch's points and the SDGD dimensions drawn; at the end the
    weights. Written to OUT/rank<r>.json (.safetensors)."""

    def __init__(self, out_dir):
        self.out_dir, self.sums, self.dims = out_dir, [], []

    def on_fit_start(self, trainer, module):
        sample = module.estimator.sample

        def recording(dim, generator=None):
            d = sample(dim, generator)
            self.dims.append(d.tolist())
            return d

        module.estimator.sample = recording

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.sums.append(float(batch["x"].double().sum()))

    def on_train_end(self, trainer, module):
        r = trainer.global_rank
        save_file({k: v.contiguous() for k, v in module.net.state_dict().items()},
                  os.path.join(self.out_dir, f"rank{r}.safetensors"))
        with open(os.path.join(self.out_dir, f"rank{r}.json"), "w") as f:
            json.dump({"sums": self.sums, "dims": self.dims,
                       "world_size": trainer.world_size}, f)

    def on_validation_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0):
        self.val_points = getattr(self, "val_points", 0) + batch["x"].shape[0]

    def on_validation_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        r = trainer.global_rank
        # the error over all 25 validation points, computed here in one piece
        data = BallPoints(dim=module.problem.dim, batch_size=1, val_points=25, seed=2)
        x = torch.cat([b["x"] for b in data.val_dataloader()])
        with torch.no_grad():
            u, exact = module(x), module.problem.exact(x)
        direct = float(((u - exact) ** 2).sum() / (exact ** 2).sum()) ** 0.5
        with open(os.path.join(self.out_dir, f"val{r}.json"), "w") as f:
            json.dump({"logged": float(trainer.callback_metrics["val/rel_l2"]),
                       "direct": direct, "points": self.val_points}, f)


def run(devices, out_dir):
    torch.manual_seed(0)
    module = PINNModule(Poisson(6, seed=1), SDGD(2), width=8, depth=2, lr=1e-2,
                        fit_output_bias=True)
    trainer = Trainer(accelerator="cpu", devices=devices,
                      strategy="ddp_fork" if devices > 1 else "auto", max_steps=3,
                      limit_val_batches=0, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      callbacks=[Record(out_dir)])
    trainer.fit(module, BallPoints(batch_size=8, steps_per_epoch=3, seed=2))
    if devices > 1:
        # 25 points in batches of 10: three batches, an odd number for two ranks
        Trainer(accelerator="cpu", devices=2, strategy="ddp_fork", logger=False,
                enable_progress_bar=False, enable_model_summary=False,
                callbacks=[Record(out_dir)]).validate(
            module, BallPoints(batch_size=1, val_points=25, seed=2), verbose=False)


if __name__ == "__main__":
    run(2, sys.argv[1])
'''


def _read(d, rank):
    with open(d / f"rank{rank}.json") as f:
        return json.load(f), load_file(d / f"rank{rank}.safetensors")


def test_ddp_ranks_draw_different_points_and_end_identical(tmp_path):
    script = tmp_path / "pinn_ddp.py"
    script.write_text(SCRIPT)
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    ddp.mkdir()
    single.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script), str(ddp)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (log0, w0), (log1, w1) = _read(ddp, 0), _read(ddp, 1)
    assert log0["world_size"] == log1["world_size"] == 2
    assert len(log0["sums"]) == len(log1["sums"]) == 3
    # different points and different SDGD dimensions at every step
    assert all(a != b for a, b in zip(log0["sums"], log1["sums"], strict=True))
    assert log0["dims"] != log1["dims"]
    # the replicas stay in step: identical weights after training
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # validation splits the fixed points between the ranks, each counted once: the logged
    # error over 25 points in 3 batches is the error over all of them (Lightning's sampler
    # gave rank 1 a repeat of batch 0)
    for r in (0, 1):
        with open(ddp / f"val{r}.json") as f:
            val = json.load(f)
        assert abs(val["logged"] - val["direct"]) <= 1e-6 * val["direct"], val
    points = []
    for r in (0, 1):
        with open(ddp / f"val{r}.json") as f:
            points.append(json.load(f)["points"])
    assert sorted(points) == [10, 15], points  # batches 0 and 2 (10 + 5), 1 and an empty one
    # rank 0 draws exactly what a single process draws (seeded results stay as they were)
    spec = importlib.util.spec_from_file_location("pinn_ddp", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.run(1, str(single))
    solo, _ = _read(single, 0)
    assert solo["world_size"] == 1
    assert solo["sums"] == log0["sums"] and solo["dims"] == log0["dims"]
