"""rollout_figure's colour bars of a panel that is one value up to rounding (a prediction off
by a constant, a uniform field) tick short values. Before, the scale spanned the rounding
noise: the |error| bar of an error of 0.1 ticked '0.099999999999990000',
'0.099999999999992512', ... and drew the noise as a pattern."""

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pdesurrogate.plots as plots  # noqa: E402


def test_a_constant_error_and_a_uniform_field_tick_short_labels(tmp_path, monkeypatch):
    """Two channels: a random field predicted 0.1 too high (|error| 0.1 up to rounding), and
    a field of 0.3 written as 0.3 and as 0.1 + 0.2 (one value up to rounding)."""
    rng = np.random.default_rng(0)
    truth = np.empty((1, 2, 2, 6, 6))
    truth[:, :, 0] = rng.standard_normal((1, 2, 6, 6))
    truth[:, :, 1] = np.where(rng.random((1, 2, 6, 6)) < 0.5, 0.3, 0.1 + 0.2)
    pred = truth.copy()
    pred[:, :, 0] += 0.1
    err = np.abs(pred[0, -1, 0] - truth[0, -1, 0])
    assert np.ptp(err) > 0 and np.ptp(truth[0, -1, 1]) > 0  # the noise is there
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    plots.rollout_figure(pred, truth, np.arange(2.0), None, tmp_path / "p.png")
    fig = kept[0]
    fig.canvas.draw()
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 6
    for bar in bars:
        ticks = [t.get_text() for t in bar.get_yticklabels() if t.get_text()]
        assert len(ticks) >= 3 and len(set(ticks)) == len(ticks), ticks
        assert all(len(t) <= 6 for t in ticks), (bar.get_ylabel(), ticks)
        assert not bar.yaxis.get_offset_text().get_text(), ticks
    # the error's scale from 0 to the error, the uniform field's around its value
    error_panel = [ax for ax in fig.axes if ax.get_title().startswith("|error| of channel 0")]
    assert error_panel[0].images[0].get_clim() == (0.0, err.max())
    lo, hi = [ax for ax in fig.axes if ax.get_title().startswith("truth of channel 1")
              ][0].images[0].get_clim()
    assert lo < 0.3 < hi and hi - lo > 0.01
