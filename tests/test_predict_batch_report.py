"""``pdesurrogate predict`` reports the batch it rolled out, not the cap: fewer trajectories
than the (given or default) batch size are rolled out all at once, and the line says so; no
batch's rollout is kept after the next one is made."""

import gc
import weakref

import numpy as np
import pytest
import torch

import pdesurrogate.predict as predict
from pdesurrogate.cli import main
from pdesurrogate.datasets import ChannelStats, DatasetWriter
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule

NX, SAMPLES = 16, 5


@pytest.fixture
def files(tmp_path):
    """An exported (untrained) 1-D FNO of dt 0.2 and a file of SAMPLES trajectories for it."""
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), residual=True)
    m.set_normalization(ChannelStats(mean=[0.0], std=[1.0], spatial_dims=1,
                                     param_names=["nu"], param_mean=[0.1], param_std=[0.02]))
    m.data_info = {"pde": "burgers1d", "grid_shape": [NX], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.2}
    model = str(export_surrogate(m, tmp_path / "model"))
    x, times = np.arange(NX) / NX, np.array([0.0, 0.2, 0.4])
    u = np.random.default_rng(0).standard_normal((SAMPLES, 3, 1, NX)).astype(np.float32)
    data = tmp_path / "d.nc"
    with DatasetWriter(data, "burgers1d", (x,), ("x",), times, ["u"], ["nu"], SAMPLES) as w:
        w.write(0, u, {"nu": np.full(SAMPLES, 0.1)})
    return model, str(data)


def test_the_printed_batch_is_the_one_rolled_out(files, tmp_path, monkeypatch, capsys):
    """Before, 5 trajectories printed "rolled out 64 at a time" (the default's cap), and
    --batch-size 100 "100 at a time"; a batch smaller than the file still prints its size."""
    model, data = files
    rolled = []
    monkeypatch.setattr(predict.Surrogate, "iterate", lambda self, u0, *a, _r=predict.Surrogate
                        .iterate, **k: rolled.append(len(u0)) or _r(self, u0, *a, **k))
    for i, (extra, batch, batches) in enumerate((
            ([], SAMPLES, [SAMPLES]),  # the default (16 points: 64)
            (["--batch-size", "100"], SAMPLES, [SAMPLES]),
            (["--samples", "3"], 3, [3]),
            (["--batch-size", "2"], 2, [2, 2, 1]))):
        rolled.clear()
        n = 3 if "--samples" in extra else SAMPLES
        assert main(["predict", "--model", model, "--input", data, "--out",
                     str(tmp_path / f"p{i}.nc"), *extra]) == 0
        err = " ".join(capsys.readouterr().err.split())
        assert f"{n} trajectories x 2 steps, rolled out {batch} at a time" in err, (extra, err)
        assert rolled == batches, (extra, rolled)


def test_no_batch_rollout_outlives_its_batch(files, tmp_path, monkeypatch):
    """The plot's first trajectory is a copy: when the third batch is written, the first
    batch's rollout is freed. Before, the plot kept a view of it, and with it the whole
    batch's rollout (up to a quarter of BATCH_MEMORY) for the rest of the run."""
    model, data = files
    outputs, alive = [], []

    def write(self, start, u, *a, _w=predict.DatasetWriter.write, **k):
        gc.collect()
        alive.append([ref() is not None for ref in outputs])
        outputs.append(weakref.ref(u))
        return _w(self, start, u, *a, **k)

    monkeypatch.setattr(predict.DatasetWriter, "write", write)
    assert main(["predict", "--model", model, "--input", data, "--out",
                 str(tmp_path / "p.nc"), "--plot", str(tmp_path / "p.png"),
                 "--batch-size", "2"]) == 0
    # when a batch is written, no earlier batch's rollout is referenced (before: the first)
    assert alive == [[], [False], [False, False]], alive
