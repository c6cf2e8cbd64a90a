"""rollout_errors and TrajectoryMeans' maxima at their edges (cases a mutation audit found no
test held): a NaN in the truth, a rollout with no step, a NaN in an earlier batch, the maxima
of one epoch not carried into the next, and a TrajectoryMeans holding only maxima."""

import math

import numpy as np
import pytest
import torch

from pdesurrogate.metrics import NAMES
from pdesurrogate.training.evaluation import TrajectoryMeans
from pdesurrogate.training.rollout_errors import rollout_errors


class _Module:
    """What TrajectoryMeans.log needs of a LightningModule on one process."""
    _trainer = None
    device = torch.device("cpu")

    def __init__(self):
        self.logged = {}

    def log(self, key, value, **kw):
        self.logged[key] = value


def test_a_nan_in_the_truth_makes_that_trajectory_nan_not_an_error():
    # 32 points: every Fourier band of the frmse metrics holds a mode (on 8 points the mid and
    # high bands are empty, so NaN for every trajectory)
    truth = torch.ones(2, 2, 1, 32, dtype=torch.float64)
    pred = truth + 0.5  # every error of trajectory 0: constant 0.5
    truth[1, 1, 0, 2] = float("nan")
    errs = rollout_errors(pred, truth)
    assert sorted(errs) == sorted(NAMES)
    for name in NAMES:
        assert math.isnan(errs[name][1]), name
        assert math.isfinite(errs[name][0]), name
    assert errs["rmse"][0] == pytest.approx(0.5) and errs["max_error"][0] == pytest.approx(0.5)


def test_a_rollout_without_a_step_is_refused():
    u = torch.zeros(2, 1, 1, 8)
    with pytest.raises(ValueError, match=r"S >= 1 steps.*\(2, 1, 1, 8\)"):
        rollout_errors(u, u)


def test_a_nan_in_an_earlier_batch_stays_in_the_maximum():
    means = TrajectoryMeans()
    means.add("test/max_error", torch.tensor([float("nan"), 1.0]), reduce="max")
    means.add("test/max_error", torch.tensor([2.0]), reduce="max")
    out = means.log(_Module())
    assert math.isnan(out["test/max_error"])


def test_maxima_alone_are_logged_and_start_over_each_epoch():
    means, module = TrajectoryMeans(), _Module()
    means.add("test/max_error", torch.tensor([5.0, 3.0]), reduce="max")
    assert means.log(module) == {"test/max_error": 5.0} == module.logged
    means.add("test/max_error", torch.tensor([np.float64(1.0)]), reduce="max")
    assert means.log(module) == {"test/max_error": 1.0}  # not the last epoch's 5
    assert means.log(module) == {}


def test_an_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match=r"reduce must be one of \('mean', 'max'\), got 'min'"):
        TrajectoryMeans().add("test/x", torch.zeros(2), reduce="min")
