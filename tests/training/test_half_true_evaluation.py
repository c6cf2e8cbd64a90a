"""``16-true`` evaluation of a field beyond float16's range is refused, naming the precision.

Lightning casts each evaluation batch to float16 before the module's hooks see it, so a field
of mean 1e5 (a pressure in Pa) is inf in the data itself and test/val rel_l2 came out NaN.
"""

import warnings

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.models import UNet
from pdesurrogate.training import NextStepModule


def next_step_map(mean: float) -> tuple[NextStepModule, list[dict]]:
    """A 1-D next-step map (16 points) normalised around ``mean``, and two trajectories of 3
    frames of a field scattered around it."""
    torch.manual_seed(0)
    m = NextStepModule(UNet(1, 1, 1, hidden_channels=4, n_levels=2), scheduler="none")
    m.set_normalization(ChannelStats(mean=[mean], std=[10.0], spatial_dims=1, param_names=[],
                                     param_mean=[], param_std=[]))
    u = mean + 10 * torch.randn(2, 3, 1, 16)
    return m, [{"u": u[i], "params": torch.zeros(0)} for i in range(2)]


def _run(mean: float, precision: str) -> list[dict]:
    m, samples = next_step_map(mean)
    data = DataLoader(samples, batch_size=2)
    trainer = pl.Trainer(precision=precision, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's tips on workers and loggers
        return trainer.test(m, data, verbose=False)


def test_field_above_float16_range_is_refused_under_16_true():
    with pytest.raises(ValueError, match="not finite in float16.*16-true.*32-true"):
        _run(1e5, "16-true")


def test_field_within_float16_range_still_evaluates_under_16_true():
    """Mean 1000 fits float16: the metric is finite (and near the float32 one's scale)."""
    half, full = _run(1e3, "16-true")[0], _run(1e3, "32-true")[0]
    assert torch.isfinite(torch.tensor(half["test/rel_l2"]))
    assert abs(half["test/rel_l2"] - full["test/rel_l2"]) < 0.05 * full["test/rel_l2"] + 1e-3
