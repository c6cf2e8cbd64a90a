"""compute_stats' parameter statistics come from the selected trajectories only (the training
split), the mean and the std alike."""

import math

import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, compute_stats, open_dataset


@pytest.fixture
def four_trajectories(tmp_path):
    """nu = 1, 2, 3, 100 (the last far off, as a held-out test trajectory may be); u = nu."""
    nu = np.array([1.0, 2.0, 3.0, 100.0])
    u = np.broadcast_to(nu[:, None, None, None], (4, 2, 1, 3)).astype(np.float32).copy()
    path = tmp_path / "split.nc"
    with DatasetWriter(path, "toy", [np.arange(3.0)], ("x",), np.arange(2.0), ["c"], ["nu"],
                       4) as w:
        w.write(0, u, {"nu": nu})
    return path


def _stats(path, indices, as_view):
    if not as_view:
        return compute_stats(path, indices=indices)
    with open_dataset(path) as data:  # the datamodule passes its open view
        return compute_stats(data, indices=indices)


@pytest.mark.parametrize("as_view", [False, True])
def test_param_stats_of_the_selected_trajectories(four_trajectories, as_view):
    """Trajectories 0, 1, 2: nu has mean 2 and population std sqrt(2/3), and so has the
    channel. Over all four trajectories the std would be ~42.4."""
    st = _stats(four_trajectories, [0, 1, 2], as_view)
    assert st.param_names == ["nu"]
    assert st.param_mean == [2.0]
    assert st.param_std == pytest.approx([math.sqrt(2 / 3)], rel=1e-14)
    assert st.mean == pytest.approx([2.0], rel=1e-14)
    assert st.std == pytest.approx([math.sqrt(2 / 3)], rel=1e-14)
    # the complementary selection: the one far-off trajectory alone has std 0
    last = _stats(four_trajectories, [3], as_view)
    assert last.param_mean == [100.0] and last.param_std == [0.0]
