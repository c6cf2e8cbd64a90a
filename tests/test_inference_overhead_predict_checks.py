"""The checks that ``Surrogate.predict`` / ``rollout`` make before their first step cost what
they must and no more: whether the model takes a lead time (``inspect.signature`` of its
``forward``, a quarter of those checks' time when asked on every call) is looked up once per
forward function, and looked up again for another one."""

import inspect

import torch

from pdesurrogate import surrogate as surrogate_module
from pdesurrogate.datasets import ChannelStats
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule

STATS = ChannelStats(mean=[0.5], std=[2.0], spatial_dims=1, param_names=["nu"],
                     param_mean=[0.1], param_std=[0.02])


def _surrogate(tmp_path):
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), residual=True)
    m.set_normalization(STATS)
    m.data_info = {"pde": "toy", "grid_shape": [16], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.1}
    return load(export_surrogate(m, tmp_path / "sur"))


def test_forward_signature_is_read_once_for_many_calls(tmp_path, monkeypatch):
    sur = _surrogate(tmp_path)
    calls, signature = [], inspect.signature

    def counting(f, *args, **kwargs):
        calls.append(f)
        return signature(f, *args, **kwargs)

    monkeypatch.setattr(surrogate_module.inspect, "signature", counting)
    u = torch.randn(2, 1, 16)
    first = sur.predict(u, {"nu": 0.1})
    for _ in range(5):
        torch.testing.assert_close(sur.predict(u, {"nu": 0.1}), first, rtol=0, atol=0)
        sur.rollout(u, {"nu": 0.1}, steps=2)
    assert len(calls) <= 1, f"inspect.signature called {len(calls)} times for 11 calls"


def test_another_forward_is_looked_up_again(tmp_path):
    sur = _surrogate(tmp_path)
    assert sur.takes_lead_time is False
    model = sur.model
    model.forward = lambda u, params=None, lead_time=None: torch.zeros_like(u)
    assert sur.takes_lead_time is True
    del model.forward  # the class's forward again
    assert sur.takes_lead_time is False
