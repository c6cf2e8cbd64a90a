"""``stats_trajectories: 1``: the parameters' normalisation std is measured over one parameter
set, which has no spread. Before, nothing was said before the job, and the trainer rank's log
had torch's ``std(): degrees of freedom is <= 0`` (the std was NaN, silently replaced by 1).
Now the preflight warns, naming the setting, the parameters and what to set, and the trainer
ranks' statistics hold 0 (no spread, divided by 1) without torch's warning."""

import importlib.util
import warnings
from pathlib import Path

import pytest
import torch

from pdesurrogate.online import _parse, _preflight
from pdesurrogate.online.trainer_rank import trainer_stats

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def preflight_warnings(tmp_path, *args) -> list[str]:
    """The preflight's warnings on the shared test config (an advection solver, whose beta is
    drawn from a box) with ``args``."""
    parser, cfg, _ = _parse(["--config", str(helpers.write_config(tmp_path)), *args])
    return _preflight(parser, cfg)


def test_one_statistics_trajectory_is_a_warning_saying_what_to_set(tmp_path):
    found = [w for w in preflight_warnings(tmp_path, "--stats_trajectories", "1")
             if "stats_trajectories" in w]
    assert len(found) == 1, found
    assert "one trajectory has one set, with no spread" in found[0]
    assert "(beta)" in found[0] and "Set stats_trajectories: 2 or more" in found[0]


def test_two_statistics_trajectories_or_a_fixed_parameter_are_no_warning(tmp_path):
    assert not [w for w in preflight_warnings(tmp_path, "--stats_trajectories", "2")
                if "stats_trajectories" in w]
    assert not [w for w in preflight_warnings(tmp_path, "--stats_trajectories", "1",
                                              "--parameters", "{beta: [0.5, 0.5]}")
                if "stats_trajectories" in w]


def test_one_trajectorys_parameter_std_is_zero_without_torchs_warning():
    u = torch.randn(1, 3, 1, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = trainer_stats(u, torch.tensor([[0.7]]), ["beta"])
    assert stats.param_std == [0.0] and stats.param_mean == [pytest.approx(0.7)]
    two = trainer_stats(torch.randn(2, 3, 1, 8), torch.tensor([[0.5], [0.7]]), ["beta"])
    assert abs(two.param_std[0] - torch.tensor([0.5, 0.7]).std().item()) < 1e-7
