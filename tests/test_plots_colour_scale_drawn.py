"""rollout_figure's colour scale is that of the values it draws. A 2-D or 3-D panel draws the
last frame (in 3-D its middle z slice), but the scale was taken over every frame and the whole
volume: a decaying field, or a 3-D peak off the drawn slice, set a range that left the drawn
image one flat colour."""

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pdesurrogate.plots as plots  # noqa: E402


def _field_panels(monkeypatch, tmp_path, pred, truth, **kw):
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    plots.rollout_figure(pred, truth, np.arange(pred.shape[1]) * 0.5, None,
                         tmp_path / "p.png", **kw)
    titled = [ax for ax in kept[0].axes if ax.images and ax.get_title()]
    return titled[:2]  # prediction, truth


def test_a_3d_peak_off_the_middle_slice_does_not_set_the_scale(tmp_path, monkeypatch):
    """(x, y, z) = 5 x 4 x 6 nodes: values in [1, 2] on the middle z slice (index 3), 100
    elsewhere; the slice's panels span its own values, on a sequential map."""
    rng = np.random.default_rng(0)
    truth = np.full((1, 2, 1, 5, 4, 6), 100.0)
    truth[..., 3] = rng.uniform(1.0, 2.0, (1, 2, 1, 5, 4))
    pred = truth * 1.01
    drawn = np.concatenate([pred[0, -1, 0, ..., 3].ravel(), truth[0, -1, 0, ..., 3].ravel()])
    for ax in _field_panels(monkeypatch, tmp_path, pred, truth, grid_names=("x", "y", "z")):
        assert ax.get_title().endswith("z = node 3 of 6"), ax.get_title()
        assert ax.images[0].get_clim() == (drawn.min(), drawn.max())


def test_a_decaying_2d_field_is_drawn_on_its_last_frames_scale(tmp_path, monkeypatch):
    """A field that changes sign decays by e**-10 over the rollout: its last frame gets a
    diverging scale of its own largest magnitude (about 7e-5), not the first frame's (~1)."""
    rng = np.random.default_rng(1)
    shape = rng.standard_normal((6, 8))
    truth = np.stack([np.exp(-10.0 * s) * shape for s in (0.0, 0.5, 1.0)])[None, :, None]
    pred = truth + 1e-6 * rng.standard_normal(truth.shape)
    m = max(np.abs(pred[0, -1, 0]).max(), np.abs(truth[0, -1, 0]).max())
    for ax in _field_panels(monkeypatch, tmp_path, pred, truth):
        assert ax.images[0].get_clim() == (-m, m)
        assert ax.images[0].get_cmap().name == "RdBu_r"
