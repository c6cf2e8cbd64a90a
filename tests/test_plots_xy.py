"""rollout_figure of a 2-D state whose axes are (x, y), as PDEBench's and The Well's files
store them: x is drawn across and y upwards, as for ours (y, x). Before, the grid's last axis
was always horizontal, so such a file's x ran up the panel and y across."""

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pdesurrogate.plots as plots  # noqa: E402


def test_an_x_y_state_is_drawn_with_x_across(tmp_path, monkeypatch):
    """32 nodes 2 i/32 on [0, 2) in x, first; 16 nodes j/16 on [0, 1) in y: the image is the
    last frame transposed, twice as wide as high, x labelling the horizontal axis."""
    x, y = 2 * np.arange(32) / 32, np.arange(16) / 16
    truth = np.sin(np.pi * x)[:, None] * (1 + y)[None, :]  # (x, y)
    truth = np.broadcast_to(truth, (1, 2, 1, 32, 16)).copy()
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    plots.rollout_figure(truth * 0.9, truth, np.arange(2.0), None, tmp_path / "p.png",
                         grid_names=("x", "y"), grid=(x, y))
    panels = [ax for ax in kept[0].axes if ax.images and ax.get_title()]
    assert len(panels) == 3
    for ax in panels:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
        np.testing.assert_allclose(ax.images[0].get_extent(),
                                   [-1 / 32, 2 - 1 / 32, -1 / 32, 1 - 1 / 32])
    np.testing.assert_array_equal(np.asarray(panels[1].images[0].get_array()),
                                  truth[0, -1, 0].T)
    np.testing.assert_allclose(np.asarray(panels[2].images[0].get_array()),
                               0.1 * np.abs(truth[0, -1, 0].T))


def test_a_y_x_state_keeps_its_axes(tmp_path, monkeypatch):
    """Ours (y, x) stays as stored (3-D slices: tests/test_plots_3d_slice.py)."""
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    u = np.random.default_rng(0).standard_normal((1, 2, 1, 4, 6))
    plots.rollout_figure(u, u, np.arange(2.0), None, tmp_path / "a.png", grid_names=("y", "x"))
    a = [ax for ax in kept[0].axes if ax.images and ax.get_title()][1]
    np.testing.assert_array_equal(np.asarray(a.images[0].get_array()), u[0, -1, 0])
    assert a.get_xlabel().startswith("x ") and a.get_ylabel().startswith("y ")
