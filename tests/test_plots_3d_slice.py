"""rollout_figure of a 3-D state draws the plane a user expects, x-y, at the middle of z: the
axis sliced through is chosen by name (z, or depth/height; else the one neither drawn across
nor upwards beside it), the first axis where no name says. Before, the first axis was always
sliced, so The Well's (x, y, z) files showed a y-z plane at the middle of x."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pdesurrogate.plots as plots  # noqa: E402

# grid_names -> (sliced axis, its name in the title, the drawn plane transposed (x first))
CASES = {
    "The Well (x, y, z)": (("x", "y", "z"), 2, "z", True),
    "ours (z, y, x)": (("z", "y", "x"), 0, "z", False),
    "unnamed": (None, 0, "z", False),
    "names not known": (("a", "b", "c"), 0, "a", False),
    "(lon, lat, level)": (("lon", "lat", "level"), 2, "level", True),
}


def _truth_panel(tmp_path, monkeypatch, u, **kw):
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    plots.rollout_figure(u * 1.1, u, np.arange(2.0), None, tmp_path / "p.png", **kw)
    titled = [ax for ax in kept[0].axes if ax.images and ax.get_title()]
    assert len(titled) == 3
    return titled[1]


@pytest.mark.parametrize("case", list(CASES))
def test_the_middle_of_the_axis_named_z_is_drawn(tmp_path, monkeypatch, case):
    """3 x 4 x 5 nodes, so each axis is told by its length: the truth panel draws the middle
    node of the sliced axis, the other two in their order (x across), and its title says
    which axis and which node."""
    names, k, name, transposed = CASES[case]
    u = np.random.default_rng(0).standard_normal((1, 2, 1, 3, 4, 5))
    ax = _truth_panel(tmp_path, monkeypatch, u, grid_names=names)
    n = u.shape[3 + k]
    plane = u[0, -1, 0].take(n // 2, axis=k)
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()),
                                  plane.T if transposed else plane)
    title = ax.get_title().replace("\n", " ")  # a title too wide for its panel is wrapped
    assert title.endswith(f"t = 1, {name} = node {n // 2} of {n}"), title
    if names is not None and "x" in names:
        assert ax.get_xlabel().startswith("x") and ax.get_ylabel().startswith("y")


def test_the_title_gives_the_slices_coordinate(tmp_path, monkeypatch):
    """(x, y, z) over coordinates: the slice at z's middle node, z = 0.4, its in-plane axes
    spanning x's and y's coordinates."""
    x, y, z = np.arange(3.0), np.arange(4.0) / 2, np.arange(5) / 5
    u = np.random.default_rng(1).standard_normal((1, 2, 1, 3, 4, 5))
    ax = _truth_panel(tmp_path, monkeypatch, u, grid_names=("x", "y", "z"), grid=(x, y, z))
    assert ax.get_title().endswith("z = 0.4"), ax.get_title()
    np.testing.assert_allclose(ax.images[0].get_extent(), [-0.5, 2.5, -0.25, 1.75])
