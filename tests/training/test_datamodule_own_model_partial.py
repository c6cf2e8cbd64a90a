"""An own model with only part of the models' contract is not checked against the file: here
``in_channels``, ``out_channels`` and a ``dim`` that is its hidden width, but no ``n_params``
(a mutation audit found a contract without n_params passed every other test). Its dim (16) is
no grid's; it trains on the 1-D file."""

import torch

from .test_datamodule import _write
from .test_datamodule_own_model import HiddenDim, _fit


class HiddenDimWithChannels(HiddenDim):
    """HiddenDim saying its channels, as a model written before the contract might."""

    def __init__(self, dim: int = 16):
        super().__init__(dim)
        self.in_channels, self.out_channels = 1, 1


def test_a_model_without_n_params_is_not_checked(tmp_path):
    path = _write(tmp_path / "toy.nc", 10, [0.0, 0.1, 0.2])
    model = HiddenDimWithChannels()
    assert not hasattr(model, "n_params") and isinstance(model.net[0], torch.nn.Linear)
    assert _fit(model, path).global_step == 1
