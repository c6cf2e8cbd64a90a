"""``16-true`` evaluation of a steady map refuses a batch float16 cannot hold, naming the half
(``input`` or ``target``) and its channels; before, SteadyModule's batches went unchecked and
test/rel_l2 came out NaN (Lightning casts each batch to float16 before any hook runs)."""

import warnings

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.models import UNet
from pdesurrogate.training import SteadyModule


def steady_map(a_mean: float, u_mean: float) -> tuple[SteadyModule, list[dict]]:
    """A steady map ``a -> u`` (1-D, 16 points) normalised around the given means, and two
    samples of channels scattered around them."""
    torch.manual_seed(0)
    m = SteadyModule(UNet(1, 1, 1, hidden_channels=4, n_levels=2), scheduler="none")
    m.data_info = {"channel_names": ["a", "u"], "inputs": ["a"], "targets": ["u"]}
    m.set_normalization(ChannelStats(mean=[a_mean, u_mean], std=[10.0, 10.0], spatial_dims=1,
                                     param_names=[], param_mean=[], param_std=[]))
    a, u = a_mean + 10 * torch.randn(2, 1, 16), u_mean + 10 * torch.randn(2, 1, 16)
    return m, [{"input": a[i], "target": u[i], "params": torch.zeros(0)} for i in range(2)]


def _test(a_mean: float, u_mean: float) -> dict:
    """``trainer.test`` under 16-true of :func:`steady_map`."""
    m, samples = steady_map(a_mean, u_mean)
    data = DataLoader(samples, batch_size=2)
    trainer = pl.Trainer(precision="16-true", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's tips on workers and loggers
        return trainer.test(m, data, verbose=False)[0]


@pytest.mark.parametrize("a_mean, u_mean, named", [(1e3, 1e5, r"target channel\(s\) \['u'\]"),
                                                   (1e5, 1e3, r"input channel\(s\) \['a'\]")],
                         ids=["target", "input"])
def test_a_half_beyond_float16_is_refused_naming_its_channel(a_mean, u_mean, named):
    # within float16's range on both halves the same map still evaluates to a finite error
    assert torch.isfinite(torch.tensor(_test(1e3, 1e3)["test/rel_l2"]))
    with pytest.raises(ValueError, match=rf"^test, {named}: .*not finite in float16.*32-true"):
        _test(a_mean, u_mean)
