"""An exported surrogate of data with a constant channel (std 0) and a constant parameter
(std 0) normalises them as training did: it divides by 1 there, not by 0."""

import torch

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule

# channel "b" was 2.0 everywhere in the training data, and nu 0.1 in every trajectory
STATS = ChannelStats(mean=[0.5, 2.0], std=[2.0, 0.0], spatial_dims=1, param_names=["nu"],
                     param_mean=[0.1], param_std=[0.0])
INFO = {"pde": "toy", "grid_shape": [16], "channel_names": ["a", "b"], "param_names": ["nu"],
        "k": 1, "dt": 0.1}


def test_zero_std_divides_by_one_after_export(tmp_path):
    """``predict`` equals ``denormalize(f(normalize(u), normalize_params(p)))`` written out with
    ChannelStats (whose zero std divides by 1) to float32 round-off, is finite, and equals the
    module's own rollout exactly."""
    torch.manual_seed(0)
    m = NextStepModule(FNO(2, 2, [4], 8, 2, n_params=1), residual=True)
    m.set_normalization(STATS)
    m.data_info = dict(INFO)
    s = load(export_surrogate(m, tmp_path / "sur"))
    u = torch.randn(3, 2, 16)
    u[:, 1] = 2.0 + 0.25 * u[:, 1]  # near the constant, as a new input may be
    p = torch.tensor([[0.1], [0.1], [0.12]])
    got = s.predict(u, p)
    assert bool(torch.isfinite(got).all())
    with torch.no_grad():
        x = STATS.normalize(u)
        assert torch.equal(x[:, 1], u[:, 1] - 2.0)  # the constant channel: divided by 1
        want = STATS.denormalize(m(x, STATS.normalize_params(p)))
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got, m.rollout(u, p, 1)[:, 1], rtol=0, atol=0)
