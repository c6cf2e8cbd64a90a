"""ChannelStats records each parameter's training range (``param_min``, ``param_max``):
compute_stats takes it from the trajectories it uses (the training split), it travels through
to_dict / from_dict, a dict written before it (no such keys) loads with the range unknown, and
a range that cannot be one (wrong length, NaN, min > max, one side only) is refused naming
the key."""

import json

import numpy as np
import pytest

from pdesurrogate.datasets import ChannelStats, DatasetWriter, compute_stats

NU = np.array([0.031, 0.007, 0.052, 0.019, 0.24, 0.011])  # trajectory 4 held out below
BETA = np.array([1.5, -2.0, 0.25, 3.0, 0.5, -0.75])


@pytest.fixture
def six_trajectories(tmp_path):
    rng = np.random.default_rng(3)
    u = rng.normal(size=(6, 2, 1, 4)).astype(np.float32)
    path = tmp_path / "six.nc"
    with DatasetWriter(path, "toy", [np.arange(4.0)], ("x",), np.arange(2.0), ["c"],
                       ["nu", "beta"], 6) as w:
        w.write(0, u, {"nu": NU, "beta": BETA})
    return path


def test_compute_stats_records_the_range_of_the_trajectories_it_uses(six_trajectories):
    train = [0, 1, 2, 3, 5]
    st = compute_stats(six_trajectories, indices=train)
    assert st.param_names == ["nu", "beta"]
    assert st.param_min == [NU[train].min(), BETA[train].min()]
    assert st.param_max == [NU[train].max(), BETA[train].max()]
    assert st.param_range == {"nu": (0.007, 0.052), "beta": (-2.0, 3.0)}
    # all six: the held-out nu = 0.24 widens the range
    assert compute_stats(six_trajectories).param_range["nu"] == (0.007, 0.24)
    again = ChannelStats.from_dict(json.loads(json.dumps(st.to_dict())))
    assert again == st and again.param_range == st.param_range


def test_a_dict_without_the_range_loads_with_the_range_unknown(six_trajectories):
    d = compute_stats(six_trajectories).to_dict()
    old = {k: v for k, v in d.items() if k not in ("param_min", "param_max")}
    st = ChannelStats.from_dict(old)
    assert st.param_min == st.param_max == [] and st.param_range == {}
    assert st.to_dict() == {**old, "param_min": [], "param_max": []}


@pytest.mark.parametrize("bad, says", [
    ({"param_min": [0.1], "param_max": [0.2]},
     r"param_min must have one value per parameter \['nu', 'beta'\] \(2\) or be empty"),
    ({"param_min": [0.1, float("nan")], "param_max": [0.2, 1.0]},
     r"param_min must hold finite numbers, got \[0\.1, nan\]"),
    ({"param_min": [0.1, 2.0], "param_max": [0.2, 1.0]},
     r"param_min must be <= param_max for each parameter, got 2\.0 > 1\.0 for 'beta'"),
    ({"param_min": [0.1, 0.2]}, r"param_max is empty but param_min is not"),
])
def test_a_range_that_is_not_one_is_refused_naming_the_key(bad, says):
    with pytest.raises(ValueError, match=says):
        ChannelStats(mean=[0.0], std=[1.0], param_names=["nu", "beta"], param_mean=[0.0, 0.0],
                     param_std=[1.0, 1.0], **bad)


def test_a_parameter_held_constant_has_a_range_of_one_value(tmp_path):
    """min == max (one trajectory, or a file with a fixed parameter) is a range, not refused."""
    path = tmp_path / "fixed.nc"
    with DatasetWriter(path, "toy", [np.arange(4.0)], ("x",), np.arange(2.0), ["c"],
                       ["nu"], 2) as w:
        w.write(0, np.ones((2, 2, 1, 4), np.float32), {"nu": np.array([0.01, 0.01])})
    st = compute_stats(path)
    assert st.param_range == {"nu": (0.01, 0.01)}
    assert ChannelStats.from_dict(st.to_dict()).param_range == {"nu": (0.01, 0.01)}
