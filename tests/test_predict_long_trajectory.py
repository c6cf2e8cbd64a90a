"""``predict`` on a trajectory longer than its working memory (:data:`predict.BATCH_MEMORY`,
lowered here to a few frames: a 3-D trajectory of The Well is several GB): the rollout is
written, read back as truth and compared part by part, so the memory numpy takes stays within a
few frames, with and without ``--plot`` (which reads only the frame it draws), while the
rollout file and every error are bit for bit those of the rollout taken whole. Before, the
batch's whole rollout and truth were held, several copies of the trajectory. The model is a
tiny exported FNO whose rollout is replaced by a damped one (finite over any horizon); its
states come one at a time as from ``Surrogate.iterate``. CPU, a few seconds."""

import tracemalloc

import h5py
import numpy as np
import pytest

import pdesurrogate.plots as plots
import pdesurrogate.predict as predict
from pdesurrogate.datasets import ChannelStats, DatasetWriter
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule

NY, NX, C, STEPS = 48, 64, 2, 200
FRAME = C * NY * NX * 4  # bytes of one trajectory's frame, float32: 24 KiB
# the memory a frame-by-frame rollout may take: the part being written, its truth and the
# reader's copies, the state, the errors' float64 temporaries (a frame at a time) and what
# opening the files takes whatever their length (about 0.5 MB); the trajectory is 201 frames
FRAMES_BOUND = 64


@pytest.fixture
def files(tmp_path, monkeypatch):
    net = NextStepModule(FNO(C, C, [2, 2], 4, 1))
    net.set_normalization(ChannelStats(mean=[0.0, 1.0], std=[1.0, 1.0], spatial_dims=2))
    net.data_info = {"pde": "toy2d", "grid_shape": [NY, NX], "channel_names": ["p", "q"],
                     "param_names": [], "k": 1, "dt": 0.1}
    model_dir = str(export_surrogate(net, tmp_path / "m"))
    rng = np.random.default_rng(0)
    u = rng.standard_normal((2, STEPS + 1, C, NY, NX)).astype(np.float32)
    data = tmp_path / "d.nc"
    with DatasetWriter(data, "toy2d", (np.arange(NY) / NY, np.arange(NX) / NX), ("y", "x"),
                       np.arange(STEPS + 1) * 0.1, ["p", "q"], [], 2) as w:
        w.write(0, u)

    def damped(self, u0, params=None, steps=1, lead_time=None, **kw):
        state = np.array(u0, dtype=np.float32)
        for _ in range(steps):
            state = (0.99 * np.roll(state, 1, axis=-1)).astype(np.float32)
            yield state

    monkeypatch.setattr(predict.Surrogate, "iterate", damped)
    return model_dir, str(data)


def _run(files, out, plot=None):
    model_dir, data = files
    return predict.predict_file(model_dir, data, str(out), batch_size=1, plot=plot,
                                progress=False)


@pytest.mark.parametrize("with_plot", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_a_long_trajectory_takes_a_few_frames_and_the_same_results(files, tmp_path,
                                                                     monkeypatch, with_plot):
    whole = _run(files, tmp_path / "whole.nc")  # BATCH_MEMORY holds all 201 frames
    assert predict.frames_per_part(1, STEPS + 1, FRAME, True) == STEPS + 1
    monkeypatch.setattr(predict, "BATCH_MEMORY", 4 * FRAME)
    assert predict.frames_per_part(1, STEPS + 1, FRAME, True) == 1
    peaks = []
    real_figure = plots.rollout_figure

    def figure(*args, **kwargs):
        peaks.append(tracemalloc.get_traced_memory()[1])  # the rollout's and the plot's reads
        return real_figure(*args, **kwargs)

    monkeypatch.setattr(plots, "rollout_figure", figure)
    # loaded before the count starts: the model's loading peaks at 4 MB here, the same for
    # any data
    loaded = load(files[0])
    monkeypatch.setattr(predict, "load", lambda *args, **kwargs: loaded)
    plot = str(tmp_path / "p.png") if with_plot else None
    tracemalloc.start()
    try:
        parts = _run(files, tmp_path / "parts.nc", plot)
        peak = peaks[0] if with_plot else tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < FRAMES_BOUND * FRAME, f"peak {peak / FRAME:.1f} frames"
    assert len(peaks) == int(with_plot)
    for name, values in whole.metrics.items():
        np.testing.assert_array_equal(parts.metrics[name], values, err_msg=name)
    np.testing.assert_array_equal(parts.rel_l2, whole.rel_l2)
    with h5py.File(tmp_path / "whole.nc") as a, h5py.File(tmp_path / "parts.nc") as b:
        np.testing.assert_array_equal(b["u"][()], a["u"][()])
        np.testing.assert_array_equal(b["sim_id"][()], a["sim_id"][()])
        for key in a.attrs:
            if key.endswith("_vs_truth"):
                np.testing.assert_array_equal(b.attrs[key], a.attrs[key], err_msg=key)
