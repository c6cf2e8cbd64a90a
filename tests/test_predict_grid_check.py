"""The grid check that ``Surrogate.predict`` / ``rollout`` / ``iterate`` and ``predict_file``
(``pdesurrogate predict``) share (:meth:`pdesurrogate.surrogate.Surrogate.check_grid`): an FNO runs
on any grid, in both, with the same numbers; a U-Net is refused on a grid other than its
training grid, in both, with the same words, unless ``any_grid=True`` (tiny models, CPU,
seconds)."""

import numpy as np
import pytest
import torch

from pdesurrogate.datasets import ChannelStats, DatasetWriter, open_dataset
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO, UNet
from pdesurrogate.predict import predict_file
from pdesurrogate.surrogate import Surrogate
from pdesurrogate.training import NextStepModule

TRAIN, OTHER, N = 16, 32, 2
STATS = ChannelStats(mean=[0.0], std=[1.0], spatial_dims=1, param_names=["nu"],
                     param_mean=[0.1], param_std=[0.02])


def _export(tmp_path, net, name):
    torch.manual_seed(0)
    m = NextStepModule(net, residual=True)
    m.set_normalization(STATS)
    m.data_info = {"pde": "burgers1d", "grid_shape": [TRAIN], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.2}
    return str(export_surrogate(m, tmp_path / name))


def _write(path, nx):
    """N trajectories ``sin(2 pi x + i) (1 + t)`` on ``nx`` points, 3 times 0.2 apart."""
    x = np.arange(nx) / nx
    times = np.arange(3) * 0.2
    u = np.stack([np.sin(2 * np.pi * x + i)[None, None] * (1 + times)[:, None, None]
                  for i in range(N)]).astype(np.float32)
    with DatasetWriter(path, "burgers1d", (x,), ("x",), times, ["u"], ["nu"], N) as w:
        w.write(0, u, {"nu": np.array([0.08, 0.12])})
    return str(path)


@pytest.fixture
def fno(tmp_path):
    torch.manual_seed(0)
    return _export(tmp_path, FNO(1, 1, [4], 8, 2, n_params=1), "fno")


@pytest.fixture
def unet(tmp_path):
    torch.manual_seed(0)
    return _export(tmp_path, UNet(1, 1, 1, hidden_channels=4, n_levels=2, n_params=1), "unet")


def test_an_fno_rolls_out_on_another_grid_in_both_with_the_same_numbers(fno, tmp_path):
    """predict_file refused a file on another grid for an FNO, which Surrogate.rollout took
    silently; now both take it, the file's rollout is the array API's to the bit and the
    report's note says the FNO ran zero-shot."""
    data = _write(tmp_path / "fine.nc", OTHER)
    rep = predict_file(fno, data, str(tmp_path / "p.nc"), progress=False)
    assert f"grid ({OTHER},), not the training grid ({TRAIN},)" in rep.note
    assert "zero-shot" in rep.note
    with open_dataset(tmp_path / "p.nc") as out, open_dataset(data) as d:
        u0 = np.asarray(d.u[:, 0], dtype=np.float32)
        nu = np.asarray(d.params["nu"], dtype=np.float32)
        ref = load(fno).rollout(u0, {"nu": nu}, steps=rep.steps)
        np.testing.assert_array_equal(np.asarray(out.u[:]), ref)


def test_a_unet_is_refused_on_another_grid_in_both_with_the_same_words(unet, tmp_path):
    """Surrogate.predict ran a U-Net on any grid silently (a U-Net computes another function
    there); now it is refused as predict_file refuses the file, both messages naming the
    input's grid, the training grid and the model, and any_grid=True runs it."""
    sur = load(unet)
    assert isinstance(sur, Surrogate)
    u = np.sin(2 * np.pi * np.arange(OTHER) / OTHER)[None, None].astype(np.float32)
    same = f"grid ({OTHER},) is not the model's training grid ({TRAIN},) (unet)"
    for call in (lambda **k: sur.predict(u, 0.1, **k),
                 lambda **k: sur.rollout(u, 0.1, steps=2, **k),
                 lambda **k: list(sur.iterate(u, 0.1, steps=2, **k))):
        with pytest.raises(ValueError) as py_err:
            call()
        assert same in str(py_err.value) and "any_grid=True" in str(py_err.value)
        call(any_grid=True)  # the opt-out
    assert sur.predict(u[..., ::2], 0.1).shape == (1, 1, TRAIN)  # the training grid: no check

    data = _write(tmp_path / "fine.nc", OTHER)
    with pytest.raises(ValueError) as cli_err:
        predict_file(unet, data, str(tmp_path / "p.nc"), progress=False)
    assert same in str(cli_err.value) and "fine.nc" in str(cli_err.value)
    rep = predict_file(unet, data, str(tmp_path / "p.nc"), progress=False, any_grid=True)
    assert "any_grid" in rep.note


def test_a_file_with_another_number_of_axes_is_refused_for_an_fno_too(fno, tmp_path):
    """An FNO runs on any 1-D grid, not on a 2-D file: predict_file names the axes."""
    x = np.arange(TRAIN) / TRAIN
    with DatasetWriter(tmp_path / "2d.nc", "burgers1d", (x, x), ("y", "x"), [0.0, 0.2], ["u"],
                       ["nu"], N) as w:
        w.write(0, np.zeros((N, 2, 1, TRAIN, TRAIN), np.float32), {"nu": np.full(N, 0.1)})
    with pytest.raises(ValueError, match=r"2d\.nc'?: grid \(16, 16\) has 2 spatial axes; the "
                                         r"model \(fno\) was trained on the 1-D grid \(16,\)"):
        predict_file(fno, str(tmp_path / "2d.nc"), str(tmp_path / "p.nc"), progress=False)
    assert not (tmp_path / "p.nc").exists()
