"""online.png (``stream_figure``): every panel says what its y axis is, and the counts start
at 0, so a few per cent of noise on samples/s does not look like a collapse."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from pdesurrogate.online.summary import stream_figure  # noqa: E402


def test_panels_name_their_y_axes_and_counts_start_at_zero():
    # a stream at 418-442 samples/s: the old panel's axis ran from ~418, not 0
    hist = [{"step": 20 * (k + 1), "stream/samples_per_s": 430.0 + 12 * (-1) ** k,
             "stream/buffer_fill": min(1.0, 0.3 * (k + 1)), "trainer/idle_fraction": 0.04,
             "stream/seen_mean": 1.0 + 0.1 * k, "stream/seen_max": 7.0 + k}
            for k in range(10)]
    fig = stream_figure(hist, "online run demo")
    try:
        speed, fill, seen = fig.axes[:3]
        assert [ax.get_ylabel() for ax in (speed, fill, seen)] == [
            "samples/s", "fraction (0 to 1)", "draws per stored item"]
        assert speed.get_ylim()[0] == 0 and seen.get_ylim()[0] == 0
        assert fill.get_ylim() == (0, 1.05)
        assert fig._suptitle is not None and fig._suptitle.get_text() == "online run demo"
        # the data are drawn as given
        assert list(speed.lines[0].get_ydata()) == [h["stream/samples_per_s"] for h in hist]
    finally:
        plt.close(fig)
