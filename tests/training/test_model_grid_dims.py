"""A model whose number of spatial axes is fixed says so itself (``grid_dims``, and why in
``grid_dims_reason``), and a file on another grid is refused naming it; no list of model names
beside the models decides it. Tiny file and model, CPU, under a second."""

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn

from pdesurrogate.datasets import DatasetWriter
from pdesurrogate.training import FieldDataModule, NextStepModule


class _LineModel(nn.Module):
    """A pointwise model that declares itself 1-D only, outside the model registry."""

    grid_dims = (1,)
    grid_dims_reason = "its stencil runs along one axis"

    def __init__(self):
        super().__init__()
        self.dim, self.in_channels, self.out_channels, self.n_params = 1, 1, 1, 0
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, u, params=None):
        return self.w * u


def _write_2d(path):
    u = np.random.default_rng(0).standard_normal((4, 3, 1, 8, 6)).astype(np.float32)
    grid = (np.arange(8) / 8, np.arange(6) / 6)
    with DatasetWriter(path, "heat2d", grid, ("x", "y"), (0.0, 0.1, 0.2), ["u"], [], 4) as w:
        w.write(0, u)
    return str(path)


def _one_step_fit(data: str) -> tuple[FieldDataModule, L.Trainer]:
    dm = FieldDataModule(data, batch_size=2, fractions=(0.5, 0.25, 0.25))
    return dm, L.Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu", num_sanity_val_steps=0)


def test_a_model_declaring_its_grid_dims_is_refused_on_another_grid(tmp_path):
    """Before, only names in datamodule's ONLY_2D got this refusal; any other model got the
    generic 'configure the model (its spatial axes)' one, wrong for a model without that
    setting."""
    data = _write_2d(tmp_path / "plane.nc")
    dm, trainer = _one_step_fit(data)
    with pytest.raises(ValueError) as e:
        trainer.fit(NextStepModule(_LineModel()), datamodule=dm)
    msg = str(e.value)
    assert msg.startswith(f"{data!r} holds states on a 2-D grid (8, 6), but the model "
                          "(_LineModel) is 1-D only (its stencil runs along one axis; 2-D "
                          "fields are not supported): train it on a 1-D file"), msg
    assert "FNO with two n_modes" in msg
    assert trainer.global_step == 0


def test_an_fno_on_a_file_of_other_axes_is_told_about_n_modes(tmp_path):
    """A 1-D FNO (one n_modes entry) on a 2-D file: the generic refusal names what an FNO user
    edits, n_modes with one entry per axis, not 'spatial axes'."""
    from pdesurrogate.models import FNO

    data = _write_2d(tmp_path / "plane.nc")
    dm, trainer = _one_step_fit(data)
    with pytest.raises(ValueError) as e:
        trainer.fit(NextStepModule(FNO(1, 1, [4], 8, 2)), datamodule=dm)
    assert "(its in_channels, n_modes, one entry per spatial axis, n_params)" in str(e.value)
