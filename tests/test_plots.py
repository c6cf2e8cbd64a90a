"""pdesurrogate.plots.rollout_figure: what its 2-D panels say about their axes."""

import numpy as np
import pytest


@pytest.mark.parametrize("names,x_label,y_label", [
    (None, "x (fraction of domain)", "y (fraction of domain)"),  # ours: (y, x)
    (("x", "y"), "y (fraction of domain)", "x (fraction of domain)"),  # PDEBench: rows are x
])
def test_2d_panels_name_the_grid_axes(tmp_path, monkeypatch, names, x_label, y_label):
    """The last grid axis is drawn horizontally and labelled with its name, over the unit
    extent (fractions of the domain), as 1-D plots are."""
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
