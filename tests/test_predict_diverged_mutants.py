"""Mutants of predict's check of a rollout's states that tests/test_compare_diverged.py and
tests/test_predict_float16.py let live: the trajectory named is the first that diverged, not
its batch's first, a rollout that diverges at step 1 is not told to roll out 0 steps, and
the stopped rollout's clean-up runs before the error reaches the caller (a CAPE model's last
output is dropped). A model of the test's own that turns a state inf where its parameter is
positive."""

import numpy as np
import pytest
import torch
from torch import nn

from pdesurrogate.datasets import ChannelStats, DatasetWriter
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import qualified_name
from pdesurrogate.predict import RolloutDiverged, predict_file
from pdesurrogate.training import NextStepModule

NX = 8


class InfWherePositive(nn.Module):
    """The state unchanged, or inf everywhere for a sample whose (normalised) parameter is
    positive; keeps its last output in ``cape_output``, as CAPE does, each instance listed in
    :data:`BUILT`."""

    def __init__(self):
        super().__init__()
        BUILT.append(self)
        self.cape_output = None
        self.in_channels, self.out_channels, self.n_params, self.dim = 1, 1, 1, 1
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, u, params=None):
        self.cape_output = torch.where(params[:, :1, None] > 0, torch.inf, u * self.scale)
        return self.cape_output


BUILT: list[InfWherePositive] = []


MODELS = {qualified_name(InfWherePositive): InfWherePositive}


def test_the_first_trajectory_that_diverged_is_named_not_its_batchs_first(tmp_path):
    m = NextStepModule(InfWherePositive(), residual=False)
    m.set_normalization(ChannelStats(mean=[0.0], std=[1.0], spatial_dims=1, param_names=["nu"],
                                     param_mean=[0.0], param_std=[1.0]))
    m.data_info = {"pde": "toy", "grid_shape": [NX], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.1}
    export = export_surrogate(m, tmp_path / "inf")
    data = tmp_path / "in.nc"
    with DatasetWriter(data, "toy", (np.arange(NX) / NX,), ("x",), np.array([0.0]), ["u"],
                       ["nu"], 3) as w:
        w.write(0, np.ones((3, 1, 1, NX), np.float32), {"nu": np.array([-1.0, -1.0, 1.0])})
    out = tmp_path / "out.nc"
    BUILT.clear()
    with pytest.raises(RolloutDiverged) as e:
        predict_file(str(export), str(data), str(out), steps=2, batch_size=3, models=MODELS,
                     progress=False)
    assert (e.value.step, e.value.trajectory) == (1, 2)
    assert "from model step 1 on, first at trajectory 2 (counted from 0)" in str(e.value)
    assert "at most 0 step" not in str(e.value)
    assert not out.exists()
    assert BUILT and all(m.cape_output is None for m in BUILT)
