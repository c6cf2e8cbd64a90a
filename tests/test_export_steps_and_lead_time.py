"""A loaded Surrogate at the bounds of ``rollout`` and ``lead_time``: a rollout of 0 steps is the
initial state alone, exactly, and a negative lead time is refused by the Surrogate itself,
before its model runs (scOT checks lead times only in numbers and CPU tensors: on a GPU the
Surrogate's check is the only one)."""

import numpy as np
import pytest
import torch

from pdesurrogate import load
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO, ScOT
from pdesurrogate.training import All2AllModule, NextStepModule


def test_a_rollout_of_zero_steps_is_the_initial_state(tmp_path):
    m = NextStepModule(FNO(1, 1, n_modes=[4], hidden_channels=4, n_layers=1, n_params=0))
    m.data_info = {"pde": "toy", "grid_shape": [8], "channel_names": ["u"], "param_names": [],
                   "k": 1, "dt": 0.1}
    sur = load(export_surrogate(m, tmp_path / "fno"))
    u0 = np.random.default_rng(0).standard_normal((2, 1, 8)).astype(np.float32)
    np.testing.assert_array_equal(sur.rollout(u0, steps=0), u0[:, None])


@pytest.fixture(scope="module")
def scot_surrogate(tmp_path_factory):
    """A loaded tiny scOT surrogate (8x8 grid, 1 channel, dt 0.1), exported once."""
    torch.manual_seed(0)
    model = ScOT(1, 1, embed_dim=8, depths=[1, 1], num_heads=[2, 2], skip_blocks=[0],
                 window_size=4, patch_size=2)
    module = All2AllModule(model)
    module.data_info = {"pde": "toy", "grid_shape": [8, 8], "channel_names": ["u"],
                        "param_names": [], "k": 1, "dt": 0.1}
    return load(export_surrogate(module, tmp_path_factory.mktemp("scot") / "model"))


@pytest.mark.parametrize("lead_time", [-0.1, [0.1, -0.1]])
def test_the_surrogate_refuses_a_negative_lead_time_before_its_model_runs(scot_surrogate,
                                                                           lead_time):
    sur, calls = scot_surrogate, []
    hook = sur.model.register_forward_pre_hook(lambda module, args: calls.append(args))
    try:
        u = torch.randn(2, 1, 8, 8)
        for run in (lambda: sur.predict(u, lead_time=lead_time),
                    lambda: sur.rollout(u, steps=2, lead_time=lead_time)):
            with pytest.raises(ValueError,
                               match=r"^lead_time must be finite and >= 0, got -0\.1"):
                run()
        assert calls == []
        sur.predict(u, lead_time=0.0)  # the hook does see a model call
        assert len(calls) == 1
    finally:
        hook.remove()
