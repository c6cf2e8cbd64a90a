"""``pdesurrogate predict`` on a file with a NaN or inf: the one-line error names the file and
the trajectory counted in the file (not in the batch), whatever --batch-size."""

import h5py
import numpy as np
import pytest
import torch

from pdesurrogate.cli import main
from pdesurrogate.datasets import ChannelStats, DatasetWriter
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule

NX, N = 16, 4


@pytest.fixture
def model(tmp_path):
    """An untrained 1-D FNO exported for burgers1d, dt = 0.5."""
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), residual=True)
    m.set_normalization(ChannelStats(mean=[0.0], std=[1.0], spatial_dims=1, param_names=["nu"],
                                     param_mean=[0.1], param_std=[0.02]))
    m.data_info = {"pde": "burgers1d", "grid_shape": [NX], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.5}
    return str(export_surrogate(m, tmp_path / "model"))


def _file(path, where: tuple, value: float, key: str = "u") -> str:
    """N smooth trajectories at t = 0, 0.5, 1, with ``value`` at ``where`` of ``key``."""
    x = np.arange(NX) / NX
    u = np.sin(2 * np.pi * x)[None, None, None] * np.ones((N, 3, 1, 1), np.float32)
    with DatasetWriter(path, "burgers1d", (x,), ("x",), np.array([0.0, 0.5, 1.0]), ["u"],
                       ["nu"], N) as w:
        w.write(0, u.astype(np.float32), {"nu": np.full(N, 0.1)})
    with h5py.File(path, "r+") as f:
        f[key][where] = value
    return str(path)


@pytest.mark.parametrize("key, where, value, says", [
    ("u", (2, 0, 0, 5), np.inf, "the initial state (time index 0) of trajectory 2 is inf in "
                                "channel 'u' at grid index (5,)"),
    ("nu", (3,), np.nan, "parameter 'nu' of trajectory 3 is nan"),
    ("u", (3, 2, 0, 1), np.nan, "truth is not finite (NaN or inf) at trajectory 3"),
])
def test_the_error_names_the_file_and_the_files_trajectory(tmp_path, model, capsys, key, where,
                                                           value, says):
    path = _file(tmp_path / "in.nc", where, value, key)
    rc = main(["predict", "--model", model, "--input", path, "--out", str(tmp_path / "p.nc"),
               "--batch-size", "2"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"error: ValueError: {path!r}: {says}" in err, err
    assert not (tmp_path / "p.nc").exists()
