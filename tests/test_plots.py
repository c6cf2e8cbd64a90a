"""pdesurrogate.plots.rollout_figure: what its 2-D panels say about their axes."""

import numpy as np
import pytest


@pytest.mark.parametrize("names,x_label,y_label", [
    (None, "x (fraction of domain)", "y (fraction of domain)"),  # ours: (y, x)
    (("x", "y"), "x (fraction of domain)", "y (fraction of domain)"),  # PDEBench: transposed
])
def test_2d_panels_name_the_grid_axes(tmp_path, monkeypatch, names, x_label, y_label):
    """x is drawn horizontally (ours: the last grid axis; PDEBench's (x, y): the first) and
    each axis labelled with its name, over the unit extent (fractions of the domain), as 1-D
    plots are."""
    import matplotlib.axes

    import pdesurrogate.plots as plots

    seen = []
    original = matplotlib.axes.Axes.set

    def record(self, **kw):
        if "xlabel" in kw:
            seen.append((kw["xlabel"], kw.get("ylabel")))
        return original(self, **kw)

    monkeypatch.setattr(matplotlib.axes.Axes, "set", record)
    u = np.random.default_rng(0).standard_normal((1, 3, 1, 6, 8)).astype(np.float32)
    out = plots.rollout_figure(u, u + 0.1, np.arange(3) * 0.1, np.full(3, 0.1),
                               tmp_path / "p.png", grid_names=names)
    assert (tmp_path / "p.png").stat().st_size > 0 and out.endswith("p.png")
    assert seen[:3] == [(x_label, y_label)] * 3, seen


def _figure(monkeypatch, tmp_path, pred, truth, times, rel_l2=None):
    """Run rollout_figure and keep the figure it would close, to read its artists."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import pdesurrogate.plots as plots

    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    plots.rollout_figure(pred, truth, times, rel_l2, tmp_path / "p.png", sample=1)
    assert (tmp_path / "p.png").stat().st_size > 0
    return kept[0]


@pytest.mark.parametrize("grid", [(8,), (6, 8)])
def test_signed_field_is_centred_on_zero_and_shared(tmp_path, monkeypatch, grid):
    """Prediction and truth share one colour scale, centred on zero for a field that changes
    sign, so white means zero in both panels."""
    rng = np.random.default_rng(1)
    truth = rng.uniform(-0.5, 1.5, (2, 4, 1, *grid))
    pred = truth + rng.uniform(-0.1, 0.1, truth.shape)
    fig = _figure(monkeypatch, tmp_path, pred, truth, np.linspace(0, 0.3, 4))
    images = [ax.images[0] for ax in fig.axes if ax.images]
    (lo_p, hi_p), (lo_t, hi_t) = images[0].get_clim(), images[1].get_clim()
    assert (lo_p, hi_p) == (lo_t, hi_t)
    assert lo_p == -hi_p and hi_p >= max(np.abs(truth[1]).max(), np.abs(pred[1]).max())
    assert images[0].get_cmap().name == "RdBu_r"


def test_one_signed_field_gets_a_sequential_map(tmp_path, monkeypatch):
    """A positive field (a temperature, a density) is not drawn with a diverging map whose
    white sits at an arbitrary value: sequential map over the shared range."""
    truth = np.random.default_rng(2).uniform(1.0, 2.0, (2, 3, 1, 5, 7))
    fig = _figure(monkeypatch, tmp_path, truth * 1.01, truth, np.arange(3.0))
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert images[0].get_cmap().name != "RdBu_r"
    assert images[0].get_clim() == images[1].get_clim()
    assert images[0].get_clim()[0] >= 1.0


def test_panels_say_which_sample_and_colour_bars_say_what(tmp_path, monkeypatch):
    """Each image's title names the sample shown, and each colour bar has a label."""
    truth = np.random.default_rng(3).standard_normal((2, 3, 1, 5, 7))
    fig = _figure(monkeypatch, tmp_path, truth + 0.1, truth, np.arange(3.0), np.full(3, 0.1))
    image_axes = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert len(image_axes) == 3
    assert all("sample 1" in ax.get_title() for ax in image_axes), \
        [ax.get_title() for ax in image_axes]
    colour_bars = [ax for ax in fig.axes if ax not in image_axes and not ax.lines]
    assert len(colour_bars) == 3
    assert all(ax.get_ylabel() for ax in colour_bars), [ax.get_ylabel() for ax in colour_bars]


def test_space_time_rows_are_centred_on_their_times(tmp_path, monkeypatch):
    """In a 1-D space-time image the row of frame k spans t_k -/+ half a frame spacing, so the
    t = 0 row sits on t = 0 on the axis, not above it."""
    truth = np.random.default_rng(4).standard_normal((2, 5, 1, 8))
    times = np.linspace(0.0, 0.4, 5)
    fig = _figure(monkeypatch, tmp_path, truth, truth, times)
    extent = [ax.images[0] for ax in fig.axes if ax.images and ax.get_title()][0].get_extent()
    np.testing.assert_allclose(extent, [0, 1, -0.05, 0.45])


def test_a_diverged_prediction_keeps_the_truths_colour_scale(tmp_path):
    """inf/NaN in the prediction (a rollout that diverged) leave the shared colour scale on the
    finite values, so the truth panel still shows its field."""
    import matplotlib.pyplot as plt

    from pdesurrogate.plots import _field_colours

    truth = np.linspace(-2.0, 1.0, 16).reshape(1, 16)
    pred = truth.copy()
    pred[0, 3], pred[0, 5] = np.inf, np.nan
    assert _field_colours(pred, truth) == {"cmap": "RdBu_r", "vmin": -2.0, "vmax": 2.0}
    assert _field_colours(np.full((1, 4), np.nan), None)["cmap"] == "viridis"
    plt.close("all")


def _colorbar_labels(fig) -> list[str]:
    return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


@pytest.mark.parametrize("grid", [(8,), (6, 8)])
def test_panels_name_the_channel_shown(tmp_path, monkeypatch, grid):
    """The colour bars and titles name the channel drawn (the one asked for, by its name), so
    a two-channel state's plot says which field it is."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import pdesurrogate.plots as plots

    rng = np.random.default_rng(2)
    truth = rng.uniform(0.5, 1.0, (1, 3, 2, *grid))
    truth[:, :, 1] *= -100.0  # a second channel on another scale
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    plots.rollout_figure(truth, truth, np.arange(3) * 0.1, None, tmp_path / "p.png",
                         channel=1, channel_names=("rho", "vx"))
    fig = kept[0]
    assert _colorbar_labels(fig) == ["vx", "vx", "|prediction - truth| of vx"]
    titles = [ax.get_title() for ax in fig.axes[:3]]
    assert all(" of vx," in t for t in titles), titles
    # channel 1's values (about -100..-50), not channel 0's, are on the shared scale
    im = fig.axes[0].images[0]
    assert im.get_clim()[0] < -40
    # and the prediction and truth panels draw channel 1's values themselves
    want = truth[0, :, 1] if len(grid) == 1 else truth[0, -1, 1]
    for ax in fig.axes[:2]:
        np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), want)
    # unnamed: "channel <i>"
    kept.clear()
    plots.rollout_figure(truth, None, np.arange(3) * 0.1, None, tmp_path / "q.png", channel=1)
    assert _colorbar_labels(kept[0]) == ["channel 1"]


def test_channel_out_of_range_and_wrong_names_are_refused(tmp_path):
    import pdesurrogate.plots as plots

    u = np.zeros((1, 2, 2, 8))
    with pytest.raises(ValueError, match=r"channel must be in 0\.\.1 .* got 2"):
        plots.rollout_figure(u, u, np.arange(2), None, tmp_path / "p.png", channel=2)
    with pytest.raises(ValueError, match="channel_names has 1 names for 2 channels"):
        plots.rollout_figure(u, u, np.arange(2), None, tmp_path / "p.png", channel_names=("u",))
    assert not (tmp_path / "p.png").exists()


# a metrics.csv as Lightning's CSVLogger writes it: columns sorted by name, validation on rows
# of its own at the step it followed, the first logged step 0
METRICS_CSV = """epoch,step,train/loss,train/lr,train/rel_l2,val/rel_l2,val/rel_l2_step_1
0,0,0.9,0.001,0.8,,
0,2,0.5,0.0009,0.45,,
0,3,,,,0.6,0.55
1,5,0.3,0.0005,0.25,,
1,7,0.2,0.0001,0.15,,
1,7,,,,0.4,0.35
"""


def test_training_curves_are_drawn_at_the_csvs_steps(tmp_path):
    """curves.png's figure: training loss and relative L2 as lines, validation as markers of
    its own, on a log axis; the learning rate on a panel of its own; every x the CSV's own
    0-based step (step 0 drawn at 0, not 1)."""
    from pdesurrogate.plots import training_curves_figure

    path = tmp_path / "metrics.csv"
    path.write_text(METRICS_CSV)
    fig = training_curves_figure(path, "run")
    losses, lr = fig.axes
    lines = {line.get_label().split()[0]: line for line in losses.lines}
    assert sorted(lines) == ["train/loss", "train/rel_l2", "val/rel_l2"]
    for name, steps, values in (("train/loss", [0, 2, 5, 7], [0.9, 0.5, 0.3, 0.2]),
                                ("train/rel_l2", [0, 2, 5, 7], [0.8, 0.45, 0.25, 0.15]),
                                ("val/rel_l2", [3, 7], [0.6, 0.4])):
        assert list(lines[name].get_xdata()) == steps, name
        assert list(lines[name].get_ydata()) == values, name
    assert lines["val/rel_l2"].get_linestyle() == "None"  # markers, not a line
    assert lines["val/rel_l2"].get_marker() == "o"
    assert lines["train/loss"].get_linestyle() == "-"
    assert losses.get_yscale() == "log"
    assert [list(line.get_xdata()) for line in lr.lines] == [[0, 2, 5, 7]]
    assert list(lr.lines[0].get_ydata()) == [0.001, 0.0009, 0.0005, 0.0001]
    for ax in (losses, lr):
        assert "from 0" in ax.get_xlabel() and ax.get_ylabel()


@pytest.mark.parametrize("text,where", [
    ("epoch,train/loss\n0,0.5\n", "no 'step' column"),
    ("epoch,step,train/loss\n0,0,0.5\n0,1,oops\n", "line 3: train/loss 'oops'"),
    ("epoch,step,train/loss\n0,0,0.5\n0,1\n", "line 3: 3 fields"),
    ("epoch,step,lr-AdamW\n0,0,0.5\n", "holds none of"),
])
def test_a_broken_metrics_csv_is_one_error_naming_the_file(tmp_path, text, where):
    from pdesurrogate.plots import training_curves_figure

    path = tmp_path / "metrics.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=where) as err:
        training_curves_figure(path)
    assert str(path) in str(err.value)
