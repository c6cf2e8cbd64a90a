"""``trainer.predict`` under ``16-true`` refuses a batch float16 cannot hold, as validation and
test do, naming the precision (and for a steady map the half and its channels). Before, only
evaluation batches were checked: Lightning casts each batch to float16 before any hook runs,
so a field of mean 1e5 (a pressure in Pa) came back from ``trainer.predict`` as inf or NaN."""

import warnings

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from tests.training.test_half_true_evaluation import next_step_map
from tests.training.test_steady_half_true import steady_map


def _predict(module, samples: list[dict]) -> torch.Tensor:
    """``trainer.predict`` under 16-true of ``module`` on one batch of ``samples``."""
    trainer = pl.Trainer(precision="16-true", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's tips on workers and loggers
        out = trainer.predict(module, DataLoader(samples, batch_size=len(samples)))
    return out[0]


def test_a_rollout_beyond_float16_is_refused_under_16_true():
    # within float16's range the rollout comes back whole and finite
    within = _predict(*next_step_map(1e3))
    assert within.shape == (2, 3, 1, 16) and bool(torch.isfinite(within).all())
    with pytest.raises(ValueError, match=r"^predict: this batch's states are not finite in "
                                         r"float16.*16-true.*32-true"):
        _predict(*next_step_map(1e5))  # before: a (2, 3, 1, 16) rollout of NaN


@pytest.mark.parametrize("a_mean, u_mean, named", [(1e3, 1e5, r"target channel\(s\) \['u'\]"),
                                                   (1e5, 1e3, r"input channel\(s\) \['a'\]")],
                         ids=["target", "input"])
def test_a_steady_half_beyond_float16_is_refused_naming_its_channel(a_mean, u_mean, named):
    within = _predict(*steady_map(1e3, 1e3))
    assert within.shape == (2, 1, 16) and bool(torch.isfinite(within).all())
    # before: targets of inf (the target's) or NaN (the input's)
    with pytest.raises(ValueError, match=rf"^predict, {named}: .*not finite in float16.*"
                                         r"32-true"):
        _predict(*steady_map(a_mean, u_mean))
