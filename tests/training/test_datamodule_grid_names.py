"""Every datamodule records its file's spatial axes' names in order (``data_info["grid_names"]``)
and a fit's export carries them (config.json's ``grid_names``), as an online run records its
solver's; and the two models that cannot take a 3-D file say so (ScOT: 2-D only; CAPE: 1-D or
2-D). Tiny files and models, CPU, seconds."""

import json

import lightning as L
import numpy as np
import pytest
import torch

from pdesurrogate.datasets import DatasetWriter
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO, CAPEModule, CAPEWrapper, ScOT
from pdesurrogate.online.trainer_rank import stream_data_info
from pdesurrogate.predict import predict_file
from pdesurrogate.solvers import NavierStokes2D
from pdesurrogate.training import (
    All2AllDataModule,
    All2AllModule,
    FieldDataModule,
    NextStepModule,
    SteadyDataModule,
)


def _write(path, names, shape=(8, 6), times=(0.0, 0.1, 0.2, 0.3), channels=("u",), n=4):
    rng = np.random.default_rng(0)
    grid = tuple(np.arange(m) / m for m in shape)
    u = rng.standard_normal((n, len(times), len(channels), *shape)).astype(np.float32)
    with DatasetWriter(path, "heat2d", grid, names, times, list(channels), [], n) as w:
        w.write(0, u)
    return str(path)


def _trainer(**kw) -> L.Trainer:
    return L.Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     accelerator="cpu", num_sanity_val_steps=0, **kw)


def test_a_fit_on_an_xy_file_exports_its_axis_names(tmp_path):
    """A FieldDataModule on an (x, y) file (The Well's, PDEBench's order) records ["x", "y"];
    the fit's export writes them, and predict then refuses the (y, x) file of the same
    PDE (before, the export had no grid_names and predict had nothing to check)."""
    xy = _write(tmp_path / "xy.nc", ("x", "y"))
    dm = FieldDataModule(xy, batch_size=2, fractions=(0.5, 0.25, 0.25))
    torch.manual_seed(0)
    module = NextStepModule(FNO(1, 1, [2, 2], 4, 1))
    _trainer().fit(module, datamodule=dm)
    assert dm.data_info["grid_names"] == ["x", "y"]
    out = export_surrogate(module, tmp_path / "model")
    assert json.loads((out / "config.json").read_text())["grid_names"] == ["x", "y"]
    yx = _write(tmp_path / "yx.nc", ("y", "x"), shape=(6, 8))
    with pytest.raises(ValueError, match=r"yx\.nc': its spatial axes are \(y, x\) but the "
                                         r"model \(fno\) was trained on axes \(x, y\)"):
        predict_file(str(out), yx, str(tmp_path / "p.nc"), progress=False)


def test_all2all_and_steady_datamodules_record_the_axis_names(tmp_path):
    dm = All2AllDataModule(_write(tmp_path / "yx.nc", ("y", "x")), batch_size=2,
                           fractions=(0.5, 0.25, 0.25))
    dm.setup("fit")
    assert dm.data_info["grid_names"] == ["y", "x"]
    steady = _write(tmp_path / "steady.nc", ("x", "y"), times=(0.0,), channels=("a", "u"))
    sdm = SteadyDataModule(steady, inputs=["a"], targets=["u"], batch_size=2,
                           fractions=(0.5, 0.25, 0.25))
    sdm.setup("fit")
    assert sdm.data_info["grid_names"] == ["x", "y"]


def test_an_online_run_records_its_solvers_axis_names():
    """An online run's data_info (what its export records) names its solver's axes, those a
    file the solver generates has."""
    solver = NavierStokes2D(n=8)
    info = stream_data_info(solver, ["nu"], 0.05, {"kind": "online"})
    assert info["grid_names"] == list(solver.grid_names) == ["y", "x"]
    assert info["grid_shape"] == [8, 8] and info["dt"] == 0.05


def test_scot_on_a_3d_file_is_refused_as_a_2d_only_model(tmp_path):
    """ScOT has no setting for its number of axes: the refusal said to configure its
    'spatial axes'; now it says ScOT is 2-D only and points to an FNO with three n_modes."""
    data = _write(tmp_path / "cube.nc", ("x", "y", "z"), shape=(4, 4, 4))
    module = All2AllModule(ScOT(1, 1, embed_dim=8, depths=[1, 1], num_heads=[1, 1],
                                skip_blocks=[0], window_size=2, patch_size=2))
    dm = All2AllDataModule(data, batch_size=2, fractions=(0.5, 0.25, 0.25))
    trainer = _trainer()
    with pytest.raises(ValueError) as e:
        trainer.fit(module, datamodule=dm)
    msg = str(e.value)
    assert msg.startswith(f"{data!r} holds states on a 3-D grid (4, 4, 4), but the model "
                          "(ScOT) is 2-D only"), msg
    assert "3-D fields are not supported" in msg and "FNO with three n_modes" in msg
    assert "spatial axes" not in msg
    assert trainer.global_step == 0


def test_a_3d_cape_is_refused_naming_cape_and_the_fno():
    with pytest.raises(ValueError) as e:
        CAPEModule(dim=3, channels=1, n_params=1)
    msg = str(e.value)
    assert msg.startswith("CAPEModule: dim must be 1 or 2"), msg
    assert "3-D fields are not supported" in msg and "got 3" in msg
    assert "FNO with three n_modes" in msg
    # a 3-D base beside a 2-D CAPE: the wrapper says CAPE is what cannot be 3-D
    base = torch.nn.Conv3d(2, 1, 1)  # a 3-D model of the contract, as a 3-D FNO is
    base.dim, base.in_channels, base.out_channels = 3, 2, 1
    with pytest.raises(ValueError, match=r"^CAPEWrapper: its CAPE is 1-D or 2-D \(3-D fields "
                                         r"are not supported\), but base works in 3-D; for a "
                                         r"3-D grid use an FNO with three n_modes"):
        CAPEWrapper(base, CAPEModule(dim=2, channels=1, n_params=1))
