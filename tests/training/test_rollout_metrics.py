"""NextStepModule's validation/test errors against values computed by hand: step ``k`` compares
the ``k``-th autoregressive prediction with frame ``k`` of the trajectory."""

import math

import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader

from pdesurrogate.training import NextStepModule

A = 1.5  # the model multiplies its input by A
STEPS = 3


class Scale(nn.Module):
    """``u -> A u``: rolled out from ``u_0`` it predicts ``A^s u_0`` at step ``s``."""

    def forward(self, u, params=None):
        return A * u


def _trajectory() -> dict:
    """``u_s = (1 + s) phi`` for s = 0..STEPS, phi = 2 + sin(2 pi x) on 32 points."""
    x = torch.arange(32) / 32
    phi = 2 + torch.sin(2 * math.pi * x)
    u = torch.stack([(1 + s) * phi for s in range(STEPS + 1)])[:, None]  # (T, C=1, X)
    return {"u": u, "params": torch.zeros(0)}


@pytest.mark.parametrize("stage", ["validate", "test"])
def test_step_errors_compare_prediction_s_with_frame_s(stage):
    """Prediction ``A^s phi`` against ``(1 + s) phi``: ``rel_l2_step_s = |A^s - (1+s)| / (1+s)``,
    i.e. 1/4, 1/4, 5/32 for A = 3/2, and ``rel_l2`` their mean. Scoring prediction ``s - 1``
    against frame ``s - 1`` instead would give 0 at step 1 (``u_0`` against itself) and never
    score the last step."""
    with pytest.warns(UserWarning, match="not in pdesurrogate.models.MODELS"):
        module = NextStepModule(Scale())
    loader = DataLoader([_trajectory()], batch_size=1)
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", devices=1)
    (metrics,) = getattr(trainer, stage)(module, loader, verbose=False)
    prefix = "val" if stage == "validate" else "test"
    want = [abs(A**s - (1 + s)) / (1 + s) for s in range(1, STEPS + 1)]
    assert want == [0.25, 0.25, 0.15625]
    got = [metrics[f"{prefix}/rel_l2_step_{s}"] for s in range(1, STEPS + 1)]
    assert got == pytest.approx(want, rel=1e-6)
    assert metrics[f"{prefix}/rel_l2"] == pytest.approx(sum(want) / STEPS, rel=1e-6)
    assert f"{prefix}/rel_l2_step_{STEPS + 1}" not in metrics


@pytest.mark.parametrize("scale", [1.0, 1e-15])
def test_rel_l2_does_not_depend_on_the_fields_scale_and_equals_nrmse(scale):
    """The trajectory times ``scale``: a norm of ~1e-14 (a decayed trajectory, a field in small
    units) was floored at the training loss's 1e-12, and ``test/rel_l2`` came out ~100 times too
    small, beside a ``test/nrmse`` (one channel: the same quantity) that was right."""
    with pytest.warns(UserWarning, match="not in pdesurrogate.models.MODELS"):
        module = NextStepModule(Scale())
    item = _trajectory()
    item["u"] = item["u"] * scale
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", devices=1)
    (metrics,) = trainer.test(module, DataLoader([item], batch_size=1), verbose=False)
    want = (0.25 + 0.25 + 0.15625) / STEPS
    assert metrics["test/rel_l2"] == pytest.approx(want, rel=1e-6)
    assert metrics["test/nrmse"] == pytest.approx(want, rel=1e-6)
