"""Lightning's ``*-true`` precisions (the whole model cast to one dtype): refused at setup,
by name, for a model that cannot run in that dtype; trained as before for one that can."""

import math

import pytest
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader

from pdesurrogate.models import FNO, CAPEModule, CAPEWrapper, ModernUNet, PDERefiner, ScOT, UNet
from pdesurrogate.training import NextStepModule, RefinerModule
from pdesurrogate.training.all2all import All2AllModule


def _next_step(model):
    return NextStepModule(model, scheduler="none"), (1, 16), False


MODELS = {
    "fno": lambda: _next_step(FNO(1, 1, [4], hidden_channels=8, n_layers=1, n_params=1)),
    "cape_unet": lambda: _next_step(CAPEWrapper(UNet(1, 2, 1, 8, 2),
                                                CAPEModule(1, 1, 1, modes=4, hidden=8))),
    "unet": lambda: _next_step(UNet(1, 1, 1, 8, 2, n_params=1)),
    "refiner": lambda: (RefinerModule(PDERefiner(
        ModernUNet(1, 2, 1, 8, [1, 2], 1, n_params=1, cond=True), 2), scheduler="none"),
        (1, 16), False),
    "refiner_k0": lambda: (RefinerModule(PDERefiner(
        ModernUNet(1, 2, 1, 8, [1, 2], 1, n_params=1, cond=True), 0), scheduler="none"),
        (1, 16), False),
    "scot": lambda: (All2AllModule(ScOT(1, 1, embed_dim=8, depths=[2, 2], num_heads=[2, 2],
                                        skip_blocks=[1], window_size=2, patch_size=2,
                                        n_params=1), scheduler="none"), (1, 8, 8), True),
}


def _fit(name: str, precision: str) -> Trainer:
    torch.manual_seed(0)
    module, shape, lead = MODELS[name]()
    g = torch.Generator().manual_seed(0)
    pairs = [{"input": torch.randn(*shape, generator=g), "target": torch.randn(*shape, generator=g),
              "params": torch.rand(1, generator=g)} for _ in range(4)]
    for p in pairs:
        if lead:
            p["lead_time"] = torch.tensor(0.1)
    trajs = [{"u": torch.randn(3, *shape, generator=g), "params": torch.rand(1, generator=g),
              "times": torch.tensor([0.0, 0.1, 0.2])} for _ in range(2)]
    trainer = Trainer(max_epochs=1, accelerator="cpu", devices=1, precision=precision,
                      logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False)
    trainer.fit(module, DataLoader(pairs, batch_size=2), DataLoader(trajs, batch_size=2))
    return trainer


@pytest.mark.parametrize(("name", "precision", "model", "culprit", "works"), [
    # neuralop's complex64 spectral weights: float32 only
    ("fno", "bf16-true", "FNO", "FNO runs in float32 only", "'bf16-mixed', '16-mixed']"),
    ("fno", "64-true", "FNO", "FNO runs in float32 only", "'bf16-mixed', '16-mixed']"),
    # CAPE's complex weights (view_as_complex has no bfloat16), whatever the base
    ("cape_unet", "bf16-true", "CAPEWrapper", "its SpectralConv runs in float16 and float32 "
     "and float64 only", "'16-mixed', '64-true']"),
    # refinement noise below bfloat16's resolution
    ("refiner", "bf16-true", "PDERefiner", "PDERefiner runs in float32 and float64 only",
     "'16-mixed', '64-true']"),
    # AdamW's eps is 0 in float16: NaN after the first step, for any model
    ("unet", "16-true", "UNet", "AdamW's eps", "'64-true', 'bf16-true']"),
])
def test_precisions_a_model_cannot_run_are_refused_by_name(name, precision, model, culprit,
                                                           works):
    """Before, these failed in the first forward with a dtype error from inside a layer
    (``expected scalar type ComplexFloat but found BFloat16``), or trained on NaN."""
    with pytest.raises(ValueError) as err:
        _fit(name, precision)
    msg = str(err.value)
    assert msg.startswith(f"trainer.precision={precision!r} cannot run {model}:"), msg
    assert culprit in msg and msg.endswith(works), msg
    assert "Use one of ['32-true', 'bf16-mixed', '16-mixed'" in msg


@pytest.mark.parametrize(("name", "precision"), [
    ("unet", "bf16-true"), ("unet", "64-true"), ("cape_unet", "64-true"),
    ("refiner", "64-true"), ("refiner_k0", "bf16-true"),
    # scOT's relative-position table follows the weights' dtype
    ("scot", "bf16-true"), ("scot", "64-true"),
])
def test_precisions_a_model_runs_still_train(name, precision):
    trainer = _fit(name, precision)
    assert math.isfinite(float(trainer.callback_metrics["val/rel_l2"]))


def test_float16_weights_still_validate():
    """16-true is refused for training (the optimiser), not for evaluating a model that runs
    in float16."""
    torch.manual_seed(0)
    module, shape, _ = MODELS["unet"]()
    trajs = [{"u": torch.randn(3, *shape), "params": torch.rand(1),
              "times": torch.tensor([0.0, 0.1, 0.2])} for _ in range(2)]
    trainer = Trainer(accelerator="cpu", devices=1, precision="16-true", logger=False,
                      enable_progress_bar=False, enable_model_summary=False)
    out = trainer.validate(module, DataLoader(trajs, batch_size=2), verbose=False)
    assert math.isfinite(out[0]["val/rel_l2"])
