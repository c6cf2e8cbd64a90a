"""``pdesurrogate predict`` whose rollout or plot cannot be written whole (a full disk or quota;
here a file size limit, RLIMIT_FSIZE, in a subprocess): one error line naming the file that
failed, status 2, the earlier rollout kept, no temporary left. Before, a rollout past the limit
crashed (segmentation fault, status 139, after "Exception ignored" tracebacks) and a plot past
it was "OSError: [Errno 27] File too large", naming no file.
"""

import os
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from pdesurrogate.datasets import ChannelStats, DatasetWriter
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.predict import predict_file
from pdesurrogate.training import NextStepModule

LIMIT = 48 * 1024  # bytes: the small rollout fits under it, the large one and the plot do not


def _data(path, n: int, nx: int) -> str:
    """``n`` trajectories of 5 frames 0.2 apart on ``nx`` points."""
    x = np.arange(nx) / nx
    u = np.sin(2 * np.pi * x)[None, None, None] * (1 + np.arange(5) * 0.2)[None, :, None, None]
    with DatasetWriter(path, "burgers1d", (x,), ("x",), np.arange(5) * 0.2, ["u"], ["nu"],
                       n) as w:
        w.write(0, np.broadcast_to(u, (n, 5, 1, nx)).astype(np.float32),
                {"nu": np.full(n, 0.1)})
    return str(path)


STATS = ChannelStats(mean=[0.0], std=[1.0], spatial_dims=1, param_names=["nu"],
                     param_mean=[0.1], param_std=[0.02])


@pytest.fixture
def model(tmp_path):
    """An untrained 1-D FNO exported for burgers1d on 64 points, dt = 0.2."""
    torch.manual_seed(0)
    module = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), residual=True)
    module.set_normalization(STATS)
    module.data_info = dict(pde="burgers1d", grid_shape=[64], channel_names=["u"],
                            param_names=["nu"], k=1, dt=0.2)
    return str(export_surrogate(module, tmp_path / "model"))


def _predict_limited(args: list[str], cwd) -> subprocess.CompletedProcess:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))

    return subprocess.run([sys.executable, "-m", "pdesurrogate.cli", "predict", *args],
                          cwd=cwd, preexec_fn=limit, capture_output=True, text=True,
                          timeout=300)


def _error_line(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 2, (run.returncode, run.stderr[-3000:])
    assert "Exception ignored" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines[-1] == "(set PDESURROGATE_DEBUG=1 for the full traceback)", lines
    return lines[-2]


@pytest.mark.slow  # a subprocess run of several seconds: make test's 10 minutes
def test_rollout_past_the_limit_keeps_the_earlier_rollout(model, tmp_path):
    small, large = _data(tmp_path / "small.nc", 3, 64), _data(tmp_path / "large.nc", 64, 64)
    out = tmp_path / "out"
    out.mkdir()
    predict_file(model, small, str(out / "r.nc"), progress=False)
    before = (out / "r.nc").read_bytes()
    run = _predict_limited(["--model", model, "--input", large, "--out", "out/r.nc",
                            "--overwrite"], tmp_path)
    assert _error_line(run) == ("pdesurrogate predict: error: OSError: [Errno 27] File too "
                                "large: 'out/r.nc'")
    assert os.listdir(out) == ["r.nc"] and (out / "r.nc").read_bytes() == before


@pytest.mark.slow  # a subprocess run of several seconds: make test's 10 minutes
def test_plot_past_the_limit_is_named_and_nothing_is_left(model, tmp_path):
    small = _data(tmp_path / "small.nc", 3, 64)
    run = _predict_limited(["--model", model, "--input", small, "--out", "out/r.nc",
                            "--plot", "out/r.png"], tmp_path)
    assert _error_line(run) == ("pdesurrogate predict: error: OSError: [Errno 27] File too "
                                "large: 'out/r.png'")
    assert not (tmp_path / "out").exists()  # the folder predict made goes too
