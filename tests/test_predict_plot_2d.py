"""``predict --plot`` on a 2-D file with two channels on a non-square grid: the PNG draws both
channels (before: channel 0 alone), over the file's own coordinates with the domain's shape
(before: a unit square labelled 'fraction of domain'), and its panels hold the rollout and the
truth as the files store them, rows along y and columns along x (not transposed)."""

import matplotlib
import numpy as np
import xarray

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pdesurrogate.datasets import ChannelStats, DatasetWriter  # noqa: E402
from pdesurrogate.export import export_surrogate  # noqa: E402
from pdesurrogate.models import FNO  # noqa: E402
from pdesurrogate.predict import predict_file  # noqa: E402
from pdesurrogate.training import NextStepModule  # noqa: E402

NY, NX, STEPS = 6, 10, 2
Y, X = np.arange(NY) / NY, 2 * np.arange(NX) / NX  # [0, 1) x [0, 2)


def test_plot_of_a_two_channel_non_square_rollout(tmp_path, monkeypatch):
    net = NextStepModule(FNO(2, 2, [2, 2], 4, 1))
    net.set_normalization(ChannelStats(mean=[0.0, 3.0], std=[1.0, 1.0], spatial_dims=2))
    net.data_info = {"pde": "toy2d", "grid_shape": [NY, NX], "channel_names": ["p", "q"],
                     "param_names": [], "k": 1, "dt": 0.5}
    model_dir = str(export_surrogate(net, tmp_path / "m"))
    t = np.arange(STEPS + 1) * 0.5
    arg = np.pi * X[None, None, :] - t[:, None, None]
    u = np.stack([np.sin(arg) * (1 + Y[None, :, None]), 3 + np.cos(arg) + 0 * Y[:, None]],
                 axis=1)[None].astype(np.float32)  # (1, T, 2, NY, NX)
    data = tmp_path / "d.nc"
    with DatasetWriter(data, "toy2d", (Y, X), ("y", "x"), t, ["p", "q"], [], 1) as w:
        w.write(0, u)
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    predict_file(model_dir, str(data), str(tmp_path / "p.nc"), plot=str(tmp_path / "p.png"),
                 progress=False)
    fig = kept[0]
    panels = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert [ax.get_title().split(",")[0] for ax in panels] == [
        f"{w} of {c}" for c in ("p", "q") for w in ("prediction", "truth", "|error|")]
    rolled = xarray.open_dataset(tmp_path / "p.nc")
    assert rolled.u.dims[-2:] == ("y", "x")
    for row in range(2):
        pred_img, truth_img = (np.asarray(ax.images[0].get_array())
                               for ax in panels[3 * row:3 * row + 2])
        np.testing.assert_array_equal(pred_img, rolled.u.values[0, -1, row])
        np.testing.assert_array_equal(truth_img, u[0, -1, row])
    rolled.close()
    for ax in panels:
        np.testing.assert_allclose(ax.images[0].get_extent(),
                                   [-0.1, 1.9, -1 / 12, 1 - 1 / 12], rtol=1e-12)
        assert ax.get_aspect() == 1.0 and (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
