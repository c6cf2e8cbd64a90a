"""An online run's normalisation statistics record, as the parameters' training range, the box
the scheduler draws every simulation's parameters from (the config's ``parameters``, else the
solver's ranges), not the few statistics trajectories' values: a surrogate exported from the
run warns outside that box and only there."""

import importlib.util
from pathlib import Path

import pytest
import torch

from pdesurrogate.online import _parameter_box, _parse
from pdesurrogate.online.trainer_rank import STATS_SEED_OFFSET, held_out_sets, trainer_stats
from pdesurrogate.streaming import draw_parameters

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def test_the_trainer_ranks_statistics_have_the_parameter_box_as_their_range(tmp_path):
    """As ``run_trainer`` makes them: three statistics trajectories draw beta well inside the
    box [0.1, 2.5], and the range is the box."""
    parser, cfg, _ = _parse(["--config", str(helpers.write_config(tmp_path)),
                             "--parameters", "{beta: [0.1, 2.5]}", "--stats_trajectories", "3",
                             "--validation.trajectories", "2"])
    solver = parser.instantiate(cfg).solver
    box = _parameter_box(cfg, solver)
    val_u, val_p, stats = held_out_sets(cfg, solver, box, ["beta"])
    assert val_u.shape[:2] == (2, cfg.n_steps + 1) and val_p.shape == (2, 1)
    assert stats.param_names == ["beta"] and stats.param_range == {"beta": (0.1, 2.5)}
    # the statistics trajectories' own values span less than the box: their min and max
    # would make a range too narrow, and a surrogate warn inside the box
    drawn = draw_parameters(box, 3, "random", cfg.seed + STATS_SEED_OFFSET)[:, 0]
    assert 0.1 < drawn.min() < drawn.max() < 2.5
    assert stats.param_mean[0] == torch.tensor(drawn, dtype=torch.float32).mean().item()


def test_trainer_stats_takes_the_box_in_the_order_of_the_names():
    u, p = torch.randn(2, 3, 1, 8), torch.tensor([[0.5, 3.0], [0.7, 4.0]])
    stats = trainer_stats(u, p, ["nu", "beta"], {"beta": (1.0, 5.0), "nu": (0.1, 0.9)})
    assert stats.param_min == [0.1, 1.0] and stats.param_max == [0.9, 5.0]
    assert trainer_stats(u, p, ["nu", "beta"]).param_range == {}  # no box: unknown


def test_trainer_stats_are_per_channel_over_trajectories_times_and_grid():
    u = torch.randn(2, 3, 2, 4, 5, dtype=torch.float64)  # (n, T, C, y, x): a 2-D grid
    u[:, :, 1] += 10.0
    stats = trainer_stats(u, torch.tensor([[0.5], [0.7]]), ["nu"], {"nu": (0.1, 0.9)})
    assert stats.spatial_dims == 2
    for c in range(2):
        assert stats.mean[c] == pytest.approx(u[:, :, c].mean().item(), rel=1e-12)
        assert stats.std[c] == pytest.approx(u[:, :, c].std().item(), rel=1e-12)
