"""NextStepModule: overfitting, CAPE auxiliary loss and warm-up, curriculum schedule, checkpoints.

Tiny models on CPU; each test runs in a few seconds.
"""

import math

import pytest
import torch
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader, Dataset

from pdesurrogate.models import FNO, CAPEModule, CAPEWrapper, UNet
from pdesurrogate.training import (
    FieldDataModule,
    NextStepModule,
    curriculum_fraction,
    relative_l2,
    teacher_forced_steps,
)


def _trainer(**kw) -> Trainer:
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", devices=1, **kw)


class ShiftPairs(Dataset):
    """``target = roll(input, 1)``: a periodic shift by one cell, which an FNO represents
    exactly (a Fourier multiplier), so the loss can fall as far as optimisation allows."""

    def __init__(self, n: int = 8, nx: int = 32, n_params: int = 0, window: int = 1):
        g = torch.Generator().manual_seed(0)
        x = torch.arange(nx) / nx
        a = torch.randn(n, 3, generator=g)
        self.u = sum(a[:, m, None] * torch.sin(2 * math.pi * (m + 1) * x + m)
                     for m in range(3))[:, None]
        self.p = torch.rand(n, n_params, generator=g)
        self.window = window

    def __len__(self):
        return len(self.u)

    def __getitem__(self, i):
        if self.window == 1:
            return {"input": self.u[i], "target": torch.roll(self.u[i], 1, -1),
                    "params": self.p[i]}
        return {"u": torch.stack([torch.roll(self.u[i], s, -1) for s in range(self.window + 1)]),
                "params": self.p[i]}


class Record(Callback):
    def __init__(self):
        self.losses, self.epoch_metrics = [], []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))

    def on_train_epoch_end(self, trainer, module):
        self.epoch_metrics.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def test_relative_l2():
    """Exact values: ||(3,4) - 0|| / ||(3,4)|| = 1; (6,8) vs (3,4): 1; per-sample reduction."""
    t = torch.tensor([[3.0, 4.0], [3.0, 4.0]])
    p = torch.tensor([[0.0, 0.0], [6.0, 8.0]])
    assert relative_l2(p, t, reduction="none").tolist() == [1.0, 1.0]
    assert relative_l2(t, t).item() == 0.0
    with pytest.raises(ValueError, match="same shape"):
        relative_l2(p, t[:1])


def test_fno_overfits_a_few_samples():
    """Train relative L2 of a tiny FNO on 8 pairs falls by >= 100x in 200 steps (measured
    ~300x)."""
    torch.manual_seed(0)
    module = NextStepModule(FNO(1, 1, [8], 16, 2, grid_embedding=False), lr=1e-2,
                            weight_decay=0.0)
    rec = Record()
    _trainer(max_epochs=200, callbacks=[rec]).fit(module, DataLoader(ShiftPairs(), batch_size=8))
    assert len(rec.losses) == 200
    assert rec.losses[-1] <= rec.losses[0] / 100, (rec.losses[0], rec.losses[-1])


def test_cape_aux_loss_and_warmup():
    """train/loss = rel_l2 + w aux_rel_l2 (to 1e-5) with w = aux_warmup_weight in the first
    aux_warmup_epochs epochs and aux_weight afterwards; a model without CAPE has no aux term."""
    torch.manual_seed(0)
    model = CAPEWrapper(UNet(1, 2, 1, 4, n_levels=2), CAPEModule(1, 1, 2, modes=4, hidden=4))
    module = NextStepModule(model, lr=1e-3, aux_weight=0.5, aux_warmup_epochs=2,
                            aux_warmup_weight=5.0)
    rec = Record()
    data = DataLoader(ShiftPairs(n=4, nx=16, n_params=2), batch_size=4)
    _trainer(max_epochs=4, callbacks=[rec]).fit(module, data)
    weights = [m["train/aux_weight"] for m in rec.epoch_metrics]
    assert weights == [5.0, 5.0, 0.5, 0.5]
    for m, w in zip(rec.epoch_metrics, weights, strict=True):
        assert m["train/aux_rel_l2"] > 0
        assert m["train/loss"] == pytest.approx(m["train/rel_l2"] + w * m["train/aux_rel_l2"],
                                                rel=1e-5)
    assert module.model.cape_output is None  # no graph kept alive between steps
    plain = NextStepModule(FNO(1, 1, [4], 8, 1), lr=1e-3)
    rec2 = Record()
    _trainer(max_epochs=1, callbacks=[rec2]).fit(plain, DataLoader(ShiftPairs(n=4), 4))
    assert "train/aux_rel_l2" not in rec2.epoch_metrics[0]


def test_curriculum_schedule():
    """rho(e) rises monotonically from exactly 0 (teacher forcing) at e = 0 to exactly 1
    (autoregressive) at e >= E; n_tf falls monotonically from R to 1; without curriculum every
    epoch is autoregressive (n_tf = 1)."""
    E, R = 20, 5
    rho = [curriculum_fraction(e, E) for e in range(0, 2 * E)]
    assert rho[0] == 0.0 and rho[E] == 1.0 and rho[-1] == 1.0
    assert all(b > a for a, b in zip(rho[:E], rho[1: E + 1], strict=True))
    assert 0.45 < curriculum_fraction(E / 2, E) < 0.55
    module = NextStepModule(FNO(1, 1, [4], 8, 1), rollout_steps=R, curriculum=True,
                            curriculum_epochs=E)
    n_tf = [module.teacher_forced_steps(e) for e in range(2 * E)]
    assert n_tf[0] == R and n_tf[E] == 1 and n_tf[-1] == 1
    assert all(b <= a for a, b in zip(n_tf, n_tf[1:], strict=False))
    assert teacher_forced_steps(R, 0.5) == 3
    no_cur = NextStepModule(FNO(1, 1, [4], 8, 1), rollout_steps=R)
    assert [no_cur.teacher_forced_steps(e) for e in (0, 10)] == [1, 1]
    with pytest.raises(ValueError, match="curriculum needs rollout_steps >= 2"):
        NextStepModule(FNO(1, 1, [4], 8, 1), curriculum=True)


def test_rollout_training_with_curriculum_logs_teacher_forcing():
    """Windows of R+1 = 4 frames train; logged teacher-forced inputs follow n_tf(epoch)."""
    torch.manual_seed(0)
    module = NextStepModule(FNO(1, 1, [4], 8, 1), rollout_steps=3, curriculum=True,
                            curriculum_epochs=2)
    rec = Record()
    _trainer(max_epochs=3, callbacks=[rec]).fit(
        module, DataLoader(ShiftPairs(n=4, window=3), batch_size=4))
    assert [m["train/teacher_forced_steps"] for m in rec.epoch_metrics] == [3.0, 2.0, 1.0]
    with pytest.raises(ValueError, match="windows of 4 frames"):
        module._window(next(iter(DataLoader(ShiftPairs(n=2), batch_size=2))))


def test_fit_on_file_validates_and_checkpoints(advection_file, tmp_path):
    """Fit on a file through FieldDataModule: val/test log rel_l2 per step and averaged (the
    mean equals the mean of the per-step values to 1e-6); the checkpoint loads with
    torch.load(weights_only=True) and restores normalisation and model."""
    torch.manual_seed(0)
    dm = FieldDataModule(str(advection_file), batch_size=8, fractions=(0.6, 0.2, 0.2))
    module = NextStepModule(FNO(1, 1, [6], 8, 2, n_params=1), lr=3e-3)
    trainer = _trainer(max_epochs=3)
    trainer.fit(module, dm)
    m = trainer.callback_metrics
    steps = [float(m[f"val/rel_l2_step_{k}"]) for k in range(1, 6)]
    assert float(m["val/rel_l2"]) == pytest.approx(sum(steps) / 5, rel=1e-6)
    assert module.stats is dm.stats and module.data_info["dt"] == pytest.approx(0.05)
    assert module.u_mean.tolist() == pytest.approx(dm.stats.mean)
    (res,) = trainer.test(module, dm, verbose=False)
    assert "test/rel_l2" in res and "test/rel_l2_step_5" in res
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    raw = torch.load(ckpt, weights_only=True, map_location="cpu")
    assert raw["hyper_parameters"]["model_spec"]["class"] == "fno"
    again = NextStepModule.load_from_checkpoint(ckpt)
    assert again.stats.to_dict() == dm.stats.to_dict()
    u, p = torch.randn(2, 1, 32), torch.rand(2, 1)
    torch.testing.assert_close(again.rollout(u, p, 3), module.rollout(u, p, 3), atol=0, rtol=0)


def test_module_checks():
    with pytest.raises(ValueError, match="give a model"):
        NextStepModule()
    with pytest.raises(ValueError, match="scheduler"):
        NextStepModule(FNO(1, 1, [4], 8, 1), scheduler="step")
    with pytest.raises(ValueError, match="lr must be"):
        NextStepModule(FNO(1, 1, [4], 8, 1), lr=0.0)
