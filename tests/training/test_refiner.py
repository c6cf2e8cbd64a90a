"""RefinerModule: the training objective, training and validation on a tiny file, correlation
metrics, sampled rollouts, evaluation noise fixed per trajectory, and export -> load ->
identical refined predictions."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import Trainer, seed_everything
from torch import nn
from torch.utils.data import DataLoader

from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO, MODELS, ModernUNet, PDERefiner
from pdesurrogate.models.refiner import EVAL_NOISE_SEED, trajectory_generators
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


class Pointwise(nn.Module):
    """A refiner backbone made of elementwise operations only: a sample's output is bit-for-bit
    the same in any batch (a U-Net's batched convolutions round differently from one sample's),
    so only the refinement noise could make evaluation depend on the batching."""

    def __init__(self):
        super().__init__()
        self.in_channels, self.out_channels, self.dim, self.n_params = 2, 1, 1, 1
        self.w = nn.Parameter(torch.tensor([0.5, 1.3, -0.7, 0.2, 0.4, 0.3]))

    def forward(self, x, params, cond):
        w, k, c = self.w, cond.to(x.dtype).reshape(-1, 1, 1), params.reshape(-1, 1, 1)
        prev, est = x[:, :1], x[:, 1:]
        return prev + w[0] * torch.tanh(w[1] * est + w[2] * prev + w[3] * c + w[4] * k) \
            + w[5] * est


def pointwise_module() -> RefinerModule:
    """The RefinerModule the evaluation-noise tests score (also imported by their DDP script);
    ``Pointwise`` must be in ``MODELS`` (the module records its model's spec)."""
    return RefinerModule(PDERefiner(Pointwise(), n_refine_steps=2, sigma_min=0.1))


@pytest.fixture
def pointwise(monkeypatch):
    monkeypatch.setitem(MODELS, "pointwise", Pointwise)
    return pointwise_module


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
    """Training on a tiny file lowers the validation error; validation logs the rollout error
    and the high-correlation time; rollouts from several seeds differ (spread > 0); and the
    exported surrogate runs the same K + 1-step refinement: with the same torch seed, the same
    output."""
    dm = FieldDataModule(str(advection_file), batch_size=10, fractions=(0.6, 0.2, 0.2))
    module = RefinerModule(_refiner(2, 1e-2), lr=3e-3)
    # the validation noise is fixed per trajectory, so before/after compare the same draws
    before = _trainer().validate(module, dm, verbose=False)[0]["val/rel_l2"]
    trainer = _trainer(max_epochs=15)
    trainer.fit(module, dm)
    assert float(trainer.callback_metrics["val/rel_l2"]) < 0.85 * before
    assert {"val/rel_l2", "val/corr_time"} <= set(trainer.callback_metrics)
    assert "rollout_steps" not in module.hparams
    with_times = trainer.validate(module, dm.val_dataloader(), verbose=False)[0]
    no_times = [{"u": v["u"], "params": v["params"]} for v in dm.val_dataloader().dataset]
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
    # the exported surrogate draws each trajectory's noise as the module's test does, so its
    # rollouts are the test's (and predict reproduces test/rel_l2); the global generator is
    # neither used nor touched
    state = torch.get_rng_state()
    got = sur.rollout(u0, p, steps=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert len(calls) == 3 * 3  # K + 1 = 3 evaluations per step
    ref = module.rollout(u0, p, 3, generator=trajectory_generators(u0, p, EVAL_NOISE_SEED))
    torch.testing.assert_close(got, ref, atol=0, rtol=0)
    # the same noise for a trajectory in any batch (the U-Net's batched rounding aside, ~4e-6;
    # other noise would differ by about sigma_min = 1e-2)
    torch.testing.assert_close(sur.rollout(u0[1:], p[1:], steps=3), ref[1:], atol=5e-5,
                               rtol=0)
    one = sur.predict(u0, p)
    torch.testing.assert_close(one, module.rollout(u0, p, 1, generator=trajectory_generators(
        u0, p, EVAL_NOISE_SEED))[:, 1], atol=0, rtol=0)


def test_evaluation_noise_is_fixed_per_trajectory(advection_file, pointwise):
    """The test error (PDE-Refiner, K = 2) is the same for batch sizes 1, 3 and 4 and on every
    call, whatever the global RNG's state; a validation pass leaves the global RNG as it found it
    (before, the noise came from the global RNG in batch order: another number per batch size)."""
    module = pointwise()
    results = []
    for bs in (1, 3, 4, 1):
        torch.manual_seed(bs)  # another global RNG history each time
        dm = FieldDataModule(str(advection_file), batch_size=bs, fractions=(0.5, 0.2, 0.3))
        results.append(_trainer().test(module, dm, verbose=False)[0])
    assert len(dm.test_indices) == 3 and results[0]["test/rel_l2"] > 0
    assert all(r == results[0] for r in results), results

    dm = FieldDataModule(str(advection_file), batch_size=2, fractions=(0.5, 0.3, 0.2))
    trainer = _trainer()
    before = torch.get_rng_state()
    trainer.validate(module, dm, verbose=False)
    assert torch.equal(torch.get_rng_state(), before)


DDP_SCRIPT = """
import json
import sys

sys.path.insert(0, {tests!r})
from lightning.pytorch import Trainer
from test_refiner import Pointwise, pointwise_module

from pdesurrogate.models import MODELS
from pdesurrogate.training import FieldDataModule

MODELS["pointwise"] = Pointwise

if __name__ == "__main__":
    dm = FieldDataModule({path!r}, batch_size=2, fractions=(0.5, 0.2, 0.3))
    trainer = Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False,
                      enable_progress_bar=False, enable_model_summary=False)
    result = trainer.test(pointwise_module(), dm, verbose=False)[0]
    with open({out!r} + f"/rank{{trainer.global_rank}}.json", "w") as f:
        json.dump(result, f)
    # ended here, not left to interpreter exit: gloo's threads torn down then aborted the
    # process now and then ("terminate called without an active exception")
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
"""


@pytest.mark.slow  # 8-14 s: make test stays under 10 min on a slow 2-core machine
def test_evaluation_noise_same_under_ddp(advection_file, tmp_path, pointwise):
    """Two DDP processes (3 test trajectories: 2 + 1) log the test error of one process."""
    script = tmp_path / "ddp_test.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT.format(
        tests=str(Path(__file__).parent), path=str(advection_file), out=str(tmp_path))))
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    dm = FieldDataModule(str(advection_file), batch_size=2, fractions=(0.5, 0.2, 0.3))
    single = _trainer().test(pointwise(), dm, verbose=False)[0]
    assert ranks[0] == ranks[1] == single


@pytest.mark.parametrize("sanity", [0, 2])
def test_validation_frequency_does_not_change_training(advection_file, sanity):
    """Same seed, validation every epoch or every other one (with or without the sanity check):
    bit-identical trained weights (before, validation drew its noise from the global RNG, which
    also draws the training noise and refinement steps)."""
    weights = []
    for every in (1, 2):
        seed_everything(0)
        module = RefinerModule(_refiner(2, 1e-2), lr=3e-3)
        dm = FieldDataModule(str(advection_file), batch_size=4, fractions=(0.6, 0.2, 0.2))
        _trainer(max_epochs=3, check_val_every_n_epoch=every,
                 num_sanity_val_steps=sanity).fit(module, dm)
        weights.append({k: v.clone() for k, v in module.model.state_dict().items()})
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k


def test_module_checks():
    with pytest.raises(ValueError, match="trains a PDERefiner"):
        RefinerModule(FNO(1, 1, [4], 8, 1))


def test_parameter_blind_refiner_export_reproduces_its_evaluation(tmp_path):
    """A PDE-Refiner whose backbone takes no parameters (n_params = 0): its evaluation seeds
    each trajectory's noise from what the model takes (the first state alone), as the
    exported surrogate does without parameters, so the exported rollouts are the evaluated
    ones (they used to differ by up to 1.2, the noise seeded with the file's parameters)."""
    torch.manual_seed(0)
    backbone = ModernUNet(1, 2, 1, hidden_channels=8, channel_mults=[1, 2], n_blocks=1,
                          n_params=0, cond=True)
    module = RefinerModule(PDERefiner(backbone, n_refine_steps=2, sigma_min=1e-2))
    u = torch.randn(3, 4, 1, 16)
    p = torch.rand(3, 1)  # the file's parameters, which the model does not take
    seen = {}
    real = module.rollout

    def spy(u0, params, steps, generator=None):
        seen["pred"] = real(u0, params, steps, generator=generator)
        return seen["pred"]

    module.rollout = spy
    with torch.no_grad():
        module._evaluate({"u": u, "params": p}, "val")
    sur = load(export_surrogate(module, tmp_path / "blind"))
    torch.testing.assert_close(sur.rollout(u[:, 0], steps=3), seen["pred"], atol=0, rtol=0)
