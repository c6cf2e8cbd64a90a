"""rollout_figure's 2-D panels for a file whose spatial axes have names of its own: each axis
labelled with its own name, the last axis drawn across unless the names say which is x (x in
any case, PDEBench's x-coordinate, or a longitude). Before, only a first axis named exactly
"x" was put across: a (lon, lat), (X, Y) or (longitude, latitude) field ran its x up the
panel. A grid_names of the wrong length was silently replaced by (y, x)."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pdesurrogate.plots as plots  # noqa: E402

# 16 nodes i/16 on [0, 1) along the state's first axis, 32 nodes 2 j/32 on [0, 2) along its
# second: an image with the first axis across is half as wide as high
FIRST, SECOND = np.arange(16) / 16, 2 * np.arange(32) / 32
FIRST_EDGES, SECOND_EDGES = [-1 / 32, 1 - 1 / 32], [-1 / 32, 2 - 1 / 32]


def _panels(tmp_path, monkeypatch, names, field, grid=(FIRST, SECOND)):
    """The prediction, truth and |error| panels of the 2-D state ``field`` (16, 32)."""
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    u = np.broadcast_to(field, (1, 2, 1, *field.shape)).copy()
    plots.rollout_figure(u * 0.5, u, np.arange(2.0), None, tmp_path / "p.png",
                         grid_names=names, grid=grid)
    panels = [ax for ax in kept[0].axes if ax.images and ax.get_title()]
    assert len(panels) == 3
    return panels


@pytest.mark.parametrize("names,first_across", [
    (("y", "x"), False),  # ours
    (("x", "y"), True),  # PDEBench's and The Well's
    (("dim_0", "dim_1"), False),  # a file with unnamed dimensions: as stored
    (("lat", "lon"), False),
    (("lon", "lat"), True),
    (("longitude", "latitude"), True),
    (("X", "Y"), True),
    (("x-coordinate", "y-coordinate"), True),  # as PDEBench's HDF5 files name their coordinates
    (("r", "theta"), False),  # no x among them: as stored
])
def test_each_axis_is_labelled_with_its_name_and_x_runs_across(tmp_path, monkeypatch, names,
                                                                first_across):
    field = np.add.outer(np.sin(np.pi * FIRST), SECOND ** 2)  # (16, 32), no symmetry
    panels = _panels(tmp_path, monkeypatch, names, field)
    across, up = (names[0], names[1]) if first_across else (names[1], names[0])
    extent = [*FIRST_EDGES, *SECOND_EDGES] if first_across else [*SECOND_EDGES, *FIRST_EDGES]
    shown = field.T if first_across else field
    for ax, scale in zip(panels, (0.5, 1.0, 0.5), strict=True):
        assert (ax.get_xlabel(), ax.get_ylabel()) == (across, up), names
        np.testing.assert_allclose(ax.images[0].get_extent(), extent)
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), scale * shown)


def test_grid_names_of_the_wrong_length_are_refused(tmp_path):
    u = np.zeros((1, 2, 1, 16, 32))
    with pytest.raises(ValueError, match=r"grid_names must name the state's 2 spatial axes"):
        plots.rollout_figure(u, u, np.arange(2.0), None, tmp_path / "p.png",
                             grid_names=("x", "y", "z"))
    assert not (tmp_path / "p.png").exists()
