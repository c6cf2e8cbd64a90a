"""A Surrogate denormalises a float16/bfloat16 model output in float32.

A half-precision output (a model run under autocast, or one that casts its output) scaled by
the statistics in its own dtype overflows: a pressure of mean 1e5 Pa is inf in float16 (max
65504) and rounded to steps of 512 in bfloat16. The sibling bug in training was eb90348.
"""

import pytest
import torch
from torch import nn

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.surrogate import Surrogate

MEAN, STD = 1.0e5, 10.0


class HalfOutput(nn.Module):
    """Returns its (normalised) input times a weight, in ``dtype``."""

    in_channels = 1
    n_params = 0
    dim = 1

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(0.9))
        self.dtype = dtype

    def forward(self, x, params=None):
        return (self.w * x).to(self.dtype)


def _surrogate(dtype, residual):
    stats = ChannelStats(mean=[MEAN], std=[STD], spatial_dims=1, param_names=[],
                         param_mean=[], param_std=[])
    config = {"model": {"class": "HalfOutput", "kwargs": {}}, "pde": "toy", "grid_shape": [8],
              "channel_names": ["p"], "param_names": [], "data_param_names": [], "k": 1,
              "dt": 0.1, "residual": residual, "normalization": stats.to_dict()}
    return Surrogate(HalfOutput(dtype), config)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("residual", [False, True])
def test_half_output_is_denormalised_in_float32(dtype, residual):
    """predict and rollout equal the float32 denormalisation of the model's half output
    (bit for bit), are finite and float32. A non-residual rollout feeds the half output back
    (the normalised state stays in the model's dtype); only the physical state is float32."""
    s = _surrogate(dtype, residual)
    u = MEAN + STD * torch.randn(2, 1, 8, generator=torch.Generator().manual_seed(0))
    z, ref = (u - MEAN) / STD, [u]
    for _ in range(3):
        out = (torch.tensor(0.9) * z).to(dtype)
        z = z + out if residual else out
        ref.append(z.float() * STD + MEAN)
    y = s.predict(u)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    torch.testing.assert_close(y, ref[1], atol=0, rtol=0)
    traj = s.rollout(u, steps=3)
    assert traj.dtype == torch.float32 and torch.isfinite(traj).all()
    torch.testing.assert_close(traj, torch.stack(ref, dim=1), atol=0, rtol=0)
