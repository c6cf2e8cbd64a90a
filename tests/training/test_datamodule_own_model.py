"""A model of the user's own code that follows the models' contract (integer ``dim``,
``in_channels``, ``out_channels``, ``n_params``) is checked against the data before the first
batch, as this package's models are: a file it cannot take is one error naming the file and
what the model takes. Before, only built-in models were checked, and an own model's mismatch
surfaced as a shape error inside its first training step."""

import warnings

import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn

from pdesurrogate.training import FieldDataModule, NextStepModule

from .test_datamodule import _write


class PointNet(nn.Module):
    """An own model following the contract: each grid point's channels and the parameters
    mixed by one linear map. ``u``: (B, in_channels, *grid) with ``dim`` grid axes."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, dim: int = 1,
                 n_params: int = 1):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.dim, self.n_params = dim, n_params
        self.mix = nn.Linear(in_channels + n_params, out_channels)

    def forward(self, u, params=None):
        x = u.movedim(1, -1)
        if self.n_params:
            p = params.reshape(params.shape[0], *([1] * (u.ndim - 2)), self.n_params)
            x = torch.cat([x, p.expand(*x.shape[:-1], self.n_params)], dim=-1)
        return self.mix(x).movedim(-1, 1)


class HiddenDim(nn.Module):
    """An own model with a ``dim`` that is its hidden width, and none of the contract's other
    attributes: nothing it says describes its input, so it is not checked."""

    def __init__(self, dim: int = 16):
        super().__init__()
        self.dim = dim
        self.net = nn.Sequential(nn.Linear(2, dim), nn.Tanh(), nn.Linear(dim, 1))

    def forward(self, u, params=None):
        p = params[:, None, :].expand(-1, u.shape[-1], -1)
        return self.net(torch.cat([u.movedim(1, -1), p], dim=-1)).movedim(-1, 1)


def _fit(model, path):
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's few-workers and few-batches advice
        trainer.fit(NextStepModule(model), datamodule=FieldDataModule(str(path), batch_size=2))
    return trainer


@pytest.mark.parametrize("model, takes", [
    (PointNet(in_channels=2), r"takes 2 channel\(s\) on a 1-D grid with 1 parameter\(s\)"),
    (PointNet(dim=2), r"takes 1 channel\(s\) on a 2-D grid with 1 parameter\(s\)"),
    (PointNet(n_params=2), r"takes 1 channel\(s\) on a 1-D grid with 2 parameter\(s\)"),
])
def test_an_own_model_that_cannot_take_the_file_is_named_before_training(tmp_path, model,
                                                                         takes):
    path = _write(tmp_path / "toy.nc", 10, [0.0, 0.1, 0.2])
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    with pytest.raises(ValueError, match=r"toy\.nc' holds 1 channel\(s\) \['u'\] on a 1-D grid "
                                         r"\(8,\) with 1 parameter\(s\) \['c'\], but the model "
                                         rf"\(PointNet\) {takes}: configure the model"):
        trainer.fit(NextStepModule(model), datamodule=FieldDataModule(str(path), batch_size=2))
    assert trainer.global_step == 0


def test_an_own_model_that_fits_the_file_trains(tmp_path):
    path = _write(tmp_path / "toy.nc", 10, [0.0, 0.1, 0.2])
    assert _fit(PointNet(), path).global_step == 1


def test_an_own_parameter_blind_model_is_warned_as_a_built_in_one(tmp_path):
    path = _write(tmp_path / "toy.nc", 10, [0.0, 0.1, 0.2])
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    with pytest.warns(UserWarning, match=r"has parameters \['c'\]; the model \(PointNet\) "
                                         r"takes none \(n_params=0\): they are ignored"):
        trainer.fit(NextStepModule(PointNet(n_params=0)),
                    datamodule=FieldDataModule(str(path), batch_size=2))
    assert trainer.global_step == 1


def test_a_model_without_the_contract_is_not_checked(tmp_path):
    """HiddenDim's dim (16) is no grid's: it trains on the 1-D file."""
    path = _write(tmp_path / "toy.nc", 10, [0.0, 0.1, 0.2])
    assert _fit(HiddenDim(), path).global_step == 1
