"""RefinerModule: the training objective, training and validation on a tiny file, correlation
metrics, sampled rollouts, and export -> load -> identical refined predictions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader

from pdesurrogate.export import export_surrogate, load
from pdesurrogate.models import FNO, ModernUNet, PDERefiner
from pdesurrogate.training import (
    FieldDataModule,
    RefinerModule,
    high_correlation_time,
    pearson_correlation,
)


def _refiner(k: int = 3, sigma_min: float = 1e-3) -> PDERefiner:
    torch.manual_seed(0)
    backbone = ModernUNet(1, 2, 1, hidden_channels=8, channel_mults=[1, 2], n_blocks=1,
                          n_params=1, cond=True)
    return PDERefiner(backbone, n_refine_steps=k, sigma_min=sigma_min)


def _trainer(**kw) -> Trainer:
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", devices=1, **kw)


def _batch(b: int = 6, nx: int = 16) -> dict:
    g = torch.Generator().manual_seed(0)
    u = torch.randn(b, 1, nx, generator=g)
    return {"input": u, "target": torch.roll(u, 1, -1), "params": torch.rand(b, 1, generator=g)}


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")
def test_objective_k0_is_mse_of_the_prediction():
    """With K = 0 the loss is exactly the MSE of the step-0 prediction (the baseline)."""
    module = RefinerModule(_refiner(0))
    batch = _batch()
    loss = module.training_step(batch, 0)
    with torch.no_grad():
        pred = module.model(batch["input"], batch["params"])
    torch.testing.assert_close(loss.detach(), F.mse_loss(pred, batch["target"]))


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")
def test_objective_refinement_steps_predict_the_noise():
    """With K >= 1 and the step forced to k, the loss is the MSE between the network's output
    on target + sigma_k eps and eps (same eps, recomputed from the same seed)."""
    module = RefinerModule(_refiner(2, 1e-2), residual=True)
    batch = _batch()
    x, y, p = batch["input"], batch["target"], batch["params"]
    torch.manual_seed(5)
    loss = module.training_step(batch, 0)
    torch.manual_seed(5)
    k = torch.randint(0, 3, (6,))
    eps = torch.randn_like(y)
    sigma = module.model.sigma(k).reshape(6, 1, 1)
    first = (k == 0).reshape(6, 1, 1)
    est = torch.where(first, 0.0, (y - x) + sigma * eps)
    want = torch.where(first, y - x, eps)
    with torch.no_grad():
        ref = F.mse_loss(module.model.network(x, est, p, k), want)
    assert (k > 0).any() and (k == 0).any()
    torch.testing.assert_close(loss.detach(), ref)


def test_correlation_metrics():
    """Pearson correlation per sample; high-correlation time = last time before the first
    drop below 0.8 (the final time if it never drops)."""
    a = torch.randn(3, 1, 32)
    corr = pearson_correlation(torch.stack([a[0], -a[0], 2 * a[0] + 1]), a[0].expand(3, 1, 32))
    torch.testing.assert_close(corr, torch.tensor([1.0, -1.0, 1.0]))
    times = torch.arange(5) * 0.5
    c = torch.tensor([[1.0, 0.9, 0.79, 0.95, 0.9], [1.0, 0.99, 0.9, 0.85, 0.81],
                      [1.0, 0.5, 0.9, 0.9, 0.9]])
    torch.testing.assert_close(high_correlation_time(c, times), torch.tensor([0.5, 2.0, 0.0]))


def test_fit_validate_sample_and_export(advection_file, tmp_path):
    """Training on a tiny file lowers the loss; validation logs the rollout error and the
    high-correlation time; rollouts from several seeds differ (spread > 0); and the exported
    surrogate runs the same K + 1-step refinement: with the same torch seed, the same output."""
    dm = FieldDataModule(str(advection_file), batch_size=10, fractions=(0.6, 0.2, 0.2))
    module = RefinerModule(_refiner(2, 1e-2), lr=3e-3)
    losses = []

    class Rec(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = _trainer(max_epochs=15, callbacks=[Rec()])
    trainer.fit(module, dm)
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    assert {"val/rel_l2", "val/corr_time"} <= set(trainer.callback_metrics)
    assert "rollout_steps" not in module.hparams
    torch.manual_seed(0)
    with_times = trainer.validate(module, dm.val_dataloader(), verbose=False)[0]
    no_times = [{"u": v["u"], "params": v["params"]} for v in dm.val_dataloader().dataset]
    torch.manual_seed(0)
    without = trainer.validate(module, DataLoader(no_times, batch_size=10), verbose=False)[0]
    assert without == pytest.approx(with_times, rel=1e-6)

    u0, p = torch.randn(2, 1, 32), 1.0 + torch.rand(2, 1)
    s = module.sample_rollouts(u0, p, steps=3, n_samples=3, seed=0)
    assert s.shape == (3, 2, 4, 1, 32) and s[:, :, 1:].std(0).min() > 0
    g = torch.Generator().manual_seed(0)
    torch.testing.assert_close(s[0], module.rollout(u0, p, 3, generator=g), atol=1e-5,
                               rtol=1e-5)

    sur = load(export_surrogate(module, tmp_path / "refiner"))
    assert sur.config["model"]["class"] == "pde_refiner"
    calls = []
    sur.model.backbone.register_forward_hook(lambda *a: calls.append(1))
    torch.manual_seed(7)
    got = sur.rollout(u0, p, steps=3)
    assert len(calls) == 3 * 3  # K + 1 = 3 evaluations per step
    torch.manual_seed(7)
    ref = module.rollout(u0, p, 3)
    torch.testing.assert_close(got, ref, atol=0, rtol=0)
    torch.manual_seed(8)
    one = sur.predict(u0, p)
    torch.manual_seed(8)
    torch.testing.assert_close(one, module.rollout(u0, p, 1)[:, 1], atol=0, rtol=0)


def test_module_checks():
    with pytest.raises(ValueError, match="trains a PDERefiner"):
        RefinerModule(FNO(1, 1, [4], 8, 1))
