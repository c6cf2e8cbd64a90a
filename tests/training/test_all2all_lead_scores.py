"""all2all validation scores each direct prediction at its own lead time: with a pointwise
lead-time model ``u * (1 + lead)`` and trajectories whose stored times differ, each
``val/rel_l2_lead_j`` equals ``|u_0 * (1 + t_j - t_0) - u_j| / |u_j|`` per trajectory,
computed directly."""

import pytest
import torch

from pdesurrogate.training import All2AllModule


class Scaled(torch.nn.Module):
    """A pointwise lead-time model: ``u * (1 + lead_time)``."""

    out_channels = 1

    def forward(self, u, params=None, lead_time=None):
        lead = torch.as_tensor(lead_time, dtype=u.dtype).reshape(-1, *(1,) * (u.ndim - 1))
        return u * (1 + lead)


class Logged:
    """Stands in for the module's running means: keeps what each key was given."""

    def __init__(self):
        self.values = {}

    def add(self, key, value, **kw):
        self.values[key] = value


@pytest.mark.parametrize("scale", [1.0, 1e-15])
def test_each_direct_prediction_is_scored_at_its_own_lead_time(scale):
    """Also for fields of norm ~1e-15 (floored at the training loss's 1e-12, their scores
    came out ~1000 times too small), in float64 as the metrics are."""
    m = All2AllModule(Scaled())
    m.data_info = {"dt": 0.1}
    m._means = logged = Logged()
    torch.manual_seed(0)
    b, t = 2, 4
    u = (torch.rand(b, t, 1, 8, dtype=torch.float64) + 0.5) * scale
    times = torch.tensor([[0.0, 0.1, 0.3, 0.6], [1.0, 1.2, 1.5, 1.7]])
    m._evaluate({"u": u, "params": torch.zeros(b, 0), "times": times}, "val")
    for j in range(1, t):
        lead = (times[:, j] - times[:, 0]).reshape(b, 1, 1)
        want = ((u[:, 0] * (1 + lead) - u[:, j]).flatten(1).norm(dim=1)
                / u[:, j].flatten(1).norm(dim=1))
        torch.testing.assert_close(logged.values[f"val/rel_l2_lead_{j}"], want)
