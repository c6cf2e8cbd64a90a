"""rollout_figure with four panel columns (prediction, truth, |error|, error vs time) keeps
every title and axis label inside the figure: before, the first column's titles began left of
it ("ediction of density ..."), in 2-D (a tall domain drawn to its shape, or a square one
with a longer channel name) and 3-D alike."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pdesurrogate.plots as plots  # noqa: E402

CASES = {
    "2-D tall domain": ((32, 16), (np.arange(32) / 16, np.arange(16) / 16)),
    "2-D square": ((16, 16), None),
    "3-D": ((4, 6, 8), None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_title_and_label_lies_inside_the_figure(tmp_path, monkeypatch, case):
    shape, grid = CASES[case]
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((2, 5, 2, *shape))
    pred = truth + 0.1 * rng.standard_normal(truth.shape)
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    plots.rollout_figure(pred, truth, np.arange(5) * 0.0125, np.linspace(0.01, 0.1, 5),
                         tmp_path / "p.png", title="run", channel_names=("density", "momentum"),
                         grid=grid)
    fig = kept[0]
    renderer = fig.canvas.get_renderer()
    inside = fig.bbox
    texts = list(fig.texts) + [t for ax in fig.axes
                               for t in (ax.title, ax.xaxis.label, ax.yaxis.label)]
    texts = [t for t in texts if t.get_text()]
    assert sum(t.get_text().startswith("prediction of") for t in texts) == 2
    out = []
    for t in texts:
        box = t.get_window_extent(renderer)
        if box.x0 < inside.x0 or box.x1 > inside.x1 or box.y0 < inside.y0 or box.y1 > inside.y1:
            out.append((t.get_text(), [round(v) for v in box.extents]))
    assert not out, (out, inside.extents)
