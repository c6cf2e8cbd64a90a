"""rollout_figure for a user whose problem is 2-D (or 3-D): every channel of the state gets
a row (before, only channel 0 was drawn and nothing said there were others), a non-square
domain is drawn to its shape over its own coordinates (before, a 16x32 grid on [0,1) x [0,2)
was squeezed into a unit square with stretched pixels), and a 3-D state draws a slice (before,
imshow raised TypeError 'Invalid shape')."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pdesurrogate.plots as plots  # noqa: E402


def _draw(monkeypatch, tmp_path, pred, truth, times, rel_l2=None, **kw):
    """Run rollout_figure and keep the figure it would close, to read its artists."""
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    plots.rollout_figure(pred, truth, times, rel_l2, tmp_path / "p.png", **kw)
    assert (tmp_path / "p.png").stat().st_size > 0
    return kept[0]


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images and ax.get_title()]


@pytest.mark.parametrize("grid", [(12,), (6, 8)])
def test_every_channel_gets_a_row_of_its_own(tmp_path, monkeypatch, grid):
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((2, 3, 2, *grid))
    truth[:, :, 1] = 5.0 + truth[:, :, 1] ** 2  # a one-signed second channel on its own scale
    pred = truth + 0.1
    fig = _draw(monkeypatch, tmp_path, pred, truth, np.arange(3) * 0.1, np.full(3, 0.1),
                sample=1, channel_names=("p", "q"))
    titles = [ax.get_title() for ax in _image_axes(fig)]
    assert titles == [f"{w} of {c}, sample 1" + (", t = 0.2" if len(grid) == 2 else "")
                      for c in ("p", "q") for w in ("prediction", "truth", "|error|")], titles
    q_pred, q_truth = (np.asarray(ax.images[0].get_array()) for ax in _image_axes(fig)[3:5])
    frame = (slice(None),) if len(grid) == 1 else (-1,)
    np.testing.assert_array_equal(q_pred, pred[1, :, 1][frame])
    np.testing.assert_array_equal(q_truth, truth[1, :, 1][frame])
    # each row on its own colour scale: q's is sequential over q's values
    assert _image_axes(fig)[3].images[0].get_clim()[0] >= 5.0
    assert _image_axes(fig)[3].images[0].get_cmap().name != "RdBu_r"
    # one error-vs-time panel, saying it is over all channels
    curves = [ax for ax in fig.axes if ax.lines]
    assert len(curves) == 1 and "all channels" in curves[0].get_ylabel()


def test_more_channels_than_rows_say_so(tmp_path, monkeypatch):
    assert plots.MAX_CHANNEL_ROWS == 8
    monkeypatch.setattr(plots, "MAX_CHANNEL_ROWS", 2)  # 8 rows of panels take seconds to draw
    u = np.random.default_rng(1).standard_normal((1, 2, 3, 4, 5))
    fig = _draw(monkeypatch, tmp_path, u, u, np.arange(2.0), title="well",
                channel_names=("a", "b", "c"))
    assert [ax.get_title().split(",")[0] for ax in _image_axes(fig)][::3] == [
        "prediction of a", "prediction of b"]
    assert fig._suptitle.get_text() == "well (2 of 3 channels shown)"
    # one channel asked for: the figure shows what was asked, no note
    fig = _draw(monkeypatch, tmp_path, u, u, np.arange(2.0), title="well", channel=2)
    assert len(_image_axes(fig)) == 3 and fig._suptitle.get_text() == "well"


def test_a_non_square_domain_is_drawn_to_its_shape_over_its_coordinates(tmp_path,
                                                                         monkeypatch):
    """16 nodes j/16 on [0, 1) in y, 32 nodes 2 i/32 on [0, 2) in x: each pixel centred on
    its node, the image twice as wide as high, the axes named without 'fraction'."""
    y, x = np.arange(16) / 16, 2 * np.arange(32) / 32
    truth = np.sin(2 * np.pi * x)[None, None, None, None, :] * (1 + y)[:, None]
    truth = np.broadcast_to(truth, (1, 2, 1, 16, 32)).copy()
    fig = _draw(monkeypatch, tmp_path, truth * 0.9, truth, np.arange(2.0), grid=(y, x))
    for ax in _image_axes(fig):
        np.testing.assert_allclose(ax.images[0].get_extent(),
                                   [-1 / 32, 2 - 1 / 32, -1 / 32, 1 - 1 / 32])
        assert ax.get_aspect() == 1.0
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    # the truth panel is the last frame with x along the image's columns
    np.testing.assert_array_equal(np.asarray(_image_axes(fig)[1].images[0].get_array()),
                                  truth[0, -1, 0])


def test_a_very_long_domain_is_not_drawn_to_scale(tmp_path, monkeypatch):
    """A 1 x 20 domain drawn to scale would be a line: auto aspect, over the coordinates."""
    u = np.random.default_rng(2).standard_normal((1, 2, 1, 4, 6))
    fig = _draw(monkeypatch, tmp_path, u, u, np.arange(2.0),
                grid=(np.arange(4) / 4, 20 * np.arange(6) / 6))
    assert _image_axes(fig)[0].get_aspect() == "auto"


def test_1d_space_time_images_span_the_coordinates(tmp_path, monkeypatch):
    x = 1.0 + np.arange(8) / 8
    u = np.random.default_rng(3).standard_normal((1, 3, 1, 8))
    fig = _draw(monkeypatch, tmp_path, u, u, np.arange(3) * 0.1, grid=(x,))
    ext = _image_axes(fig)[0].images[0].get_extent()
    np.testing.assert_allclose(ext, [1 - 1 / 16, 2 - 1 / 16, -0.05, 0.25])


def test_a_3d_state_is_drawn_as_its_middle_slice(tmp_path, monkeypatch):
    z = np.array([0.0, 0.5, 1.0, 1.5])
    u = np.random.default_rng(4).standard_normal((1, 2, 1, 4, 5, 6))
    fig = _draw(monkeypatch, tmp_path, u, u * 1.1, np.arange(2.0),
                grid=(z, np.arange(5.0), np.arange(6.0)))
    axes = _image_axes(fig)
    assert all(ax.get_title().endswith("t = 1, z = 1") for ax in axes), \
        [ax.get_title() for ax in axes]
    np.testing.assert_array_equal(np.asarray(axes[1].images[0].get_array()), u[0, -1, 0, 2] * 1.1)


def test_a_grid_that_does_not_fit_the_state_is_refused(tmp_path):
    u = np.zeros((1, 2, 1, 4, 6))
    with pytest.raises(ValueError, match=r"lengths \[4, 6\], got shapes \[\(4,\), \(5,\)\]"):
        plots.rollout_figure(u, u, np.arange(2.0), None, tmp_path / "p.png",
                             grid=(np.arange(4.0), np.arange(5.0)))
    assert not (tmp_path / "p.png").exists()
