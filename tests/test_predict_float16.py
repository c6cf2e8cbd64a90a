"""``predict`` with a model that computes in float16 (weights of its own class built as float16,
the one way such an export loads: fits in 16-true and float16 weights of our models are refused):
its rollout is written in float32, so physical states past float16's 65504 are kept as they
are; a model output that leaves float16's range (inf) is one error naming the model step and
float16, and no file is written."""

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from pdesurrogate.datasets import ChannelStats, DatasetWriter
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import qualified_name
from pdesurrogate.predict import predict_file
from pdesurrogate.training import NextStepModule

GAIN, STD, NX = 100.0, 1000.0, 16
HALF_MAX = float(np.finfo(np.float16).max)  # 65504


class HalfGain(nn.Module):
    """Multiplies its (normalised) state by a float16 weight ``gain``, in float16."""

    def __init__(self, gain: float = GAIN):
        super().__init__()
        self.gain = gain
        self.in_channels, self.out_channels, self.n_params, self.dim = 1, 1, 0, 1
        self.g = nn.Parameter(torch.tensor(gain, dtype=torch.float16))

    def forward(self, u, params=None):
        return u.half() * self.g


MODELS = {qualified_name(HalfGain): HalfGain}


@pytest.fixture
def half_export(tmp_path):
    """The export (states normalised by std 1000) and a file of two trajectories of ones, with
    the truth at t = 0 only."""
    m = NextStepModule(HalfGain(), residual=False)
    m.set_normalization(ChannelStats(mean=[0.0], std=[STD], spatial_dims=1, param_names=[],
                                     param_mean=[], param_std=[]))
    m.data_info = {"pde": "toy", "grid_shape": [NX], "channel_names": ["u"], "param_names": [],
                   "k": 1, "dt": 0.1}
    export = export_surrogate(m, tmp_path / "half")
    data = tmp_path / "in.nc"
    with DatasetWriter(data, "toy", (np.arange(NX) / NX,), ("x",), np.array([0.0]), ["u"], [],
                       2) as w:
        w.write(0, np.ones((2, 1, 1, NX), np.float32), {})
    return str(export), str(data)


def test_states_past_float16s_range_are_written_in_float32(half_export, tmp_path):
    """Three steps: the normalised state stays in float16's range (1e-3 * 100**3 = 1000), the
    physical one (times std 1000: 1e6) is past it, written as computed, in float32."""
    export, data = half_export
    out = tmp_path / "out.nc"
    predict_file(export, data, str(out), steps=3, models=MODELS, progress=False)
    with h5py.File(out, "r") as f:
        u = np.asarray(f["u"])
    z = np.float16(1 / STD)
    for _ in range(3):  # the model's float16 steps
        z = z * np.float16(GAIN)
    assert u.dtype == np.float32 and u[0, 3, 0, 0] == np.float32(z) * np.float32(STD)
    assert u[0, 3, 0, 0] > HALF_MAX


def test_a_state_leaving_float16s_range_is_named_at_its_step(half_export, tmp_path):
    """The first step whose normalised state is past 65504 (inf in float16) is named, with
    float16 as the likely cause; nothing is written."""
    export, data = half_export
    want = next(k for k in range(1, 20) if GAIN**k / STD > HALF_MAX)
    out = tmp_path / "out.nc"
    with pytest.raises(ValueError, match=rf"not finite \(NaN or inf\) from model step {want} on"
                                         r".*weights are float16, whose largest value is 65504"):
        predict_file(export, data, str(out), steps=want + 1, models=MODELS, progress=False)
    assert not out.exists()
