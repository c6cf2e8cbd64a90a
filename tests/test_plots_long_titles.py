"""rollout_figure with a long channel name: each panel's title is wrapped (at most three
lines, the name shortened with an ellipsis beyond) so that it stays clear of its neighbours',
and the colour bar's label keeps the whole name where it fits beside the bar. Before, a
60-character name's titles ran into each other across the row."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pdesurrogate.plots as plots  # noqa: E402

LONG = "turbulent_kinetic_energy_dissipation_rate_at_the_outer_walls"  # 60 characters


def _figure(tmp_path, monkeypatch, names):
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((1, 3, 2, 6, 6))
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    plots.rollout_figure(truth * 1.1, truth, np.arange(3.0), np.full(3, 0.1),
                         tmp_path / "p.png", channel_names=names, title="run")
    fig = kept[0]
    fig.canvas.draw()
    return fig, fig.canvas.get_renderer()


@pytest.mark.parametrize("name", [LONG, "x" * 400])
def test_long_channel_names_keep_titles_apart(tmp_path, monkeypatch, name):
    fig, renderer = _figure(tmp_path, monkeypatch, (name, "p"))
    for row in (0, 1):
        panels = [ax for ax in fig.axes if ax.images and ax.get_subplotspec()
                  and ax.get_subplotspec().rowspan.start == row]
        assert len(panels) == 3
        titles = [ax.title.get_window_extent(renderer) for ax in panels]
        boxes = [ax.get_window_extent(renderer) for ax in panels]
        pitch = (boxes[1].x0 + boxes[1].x1) / 2 - (boxes[0].x0 + boxes[0].x1) / 2
        for left, right in zip(titles, titles[1:], strict=False):
            assert left.x1 < right.x0, ([t.extents for t in titles], [b.extents for b in boxes])
        assert all(t.width <= pitch for t in titles), ([t.width for t in titles], pitch)
        assert all(0 <= t.x0 and t.x1 <= fig.bbox.x1 for t in titles)
    first = [ax for ax in fig.axes if ax.get_title().startswith("prediction of")]
    title = first[0].get_title()
    assert title.count("\n") <= 2, title
    if name == LONG:  # three lines hold it whole; the bar's label, shortened, still ends it
        assert name in title.replace("\n", ""), title
        bar = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"][0].get_ylabel()
        assert "…" in bar and bar.endswith("outer_walls"), bar
    else:
        assert "…" in title and title.endswith("sample 0, t = 2"), title
    # the short name's panels: titles on one line, the whole name beside the bars
    short = [ax for ax in fig.axes if ax.get_title().startswith("|error| of p")]
    assert short[0].get_title() == "|error| of p, sample 0, t = 2"
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert labels[3:] == ["p", "p", "|prediction - truth| of p"], labels


@pytest.mark.parametrize("name", ["density", LONG])
def test_titles_clear_the_x_labels_of_the_row_above(tmp_path, monkeypatch, name):
    """Two rows of an (x, y, z) state's x-y slices, drawn square: the layout leaves each
    title, one line or wrapped, room below the row above."""
    rng = np.random.default_rng(1)
    truth = rng.standard_normal((1, 3, 2, 8, 6, 4))
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    plots.rollout_figure(truth * 1.1, truth, np.arange(3.0), np.full(3, 0.1),
                         tmp_path / "p.png", title="run", channel_names=(name, "momentum"),
                         grid_names=("x", "y", "z"),
                         grid=(np.arange(8) / 8, np.arange(6) / 6, np.arange(4) / 4))
    fig = kept[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    titles = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
    labels = [ax.xaxis.label.get_window_extent(renderer) for ax in fig.axes if ax.get_xlabel()]
    assert len(titles) == 7 and len(labels) == 7
    assert not [(t.extents, b.extents) for t in titles for b in labels if t.overlaps(b)]
