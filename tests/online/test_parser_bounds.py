"""``pdesurrogate online``'s settings at their bounds (no MPI job runs here): every integer
setting that ``_check_settings`` bounds takes its bound and refuses one below it, naming key,
bound and value; ``validation.trajectories`` may equal ``trainers``; a ``stall_timeout`` of 0 is
refused; a bare ``--resume`` followed by another option means ``--resume true``."""

import importlib.util
from pathlib import Path

import pytest

from pdesurrogate.online import UsageError, _parse
from pdesurrogate.online.parser import _check_settings

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def settings(tmp_path, *args):
    """The settings of the shared test config (1 trainer, 4 validation trajectories) with
    ``args``, parsed as a rank parses them (without Lightning)."""
    cfg = helpers.write_config(tmp_path)
    return _parse(["--config", str(cfg), *args], lightning=False)[1]


@pytest.mark.parametrize(("key", "low"), [
    ("trainers", 1), ("solvers", 1), ("simulations", 1), ("n_steps", 1), ("batch_size", 1),
    ("validation.trajectories", 1), ("validation.every_n_steps", 1), ("stats_trajectories", 1),
    ("checkpoint_every_n_steps", 0), ("max_retries", 0), ("credits", 1), ("pack_kb", 0)])
def test_every_integer_setting_takes_its_bound_and_refuses_one_below(tmp_path, key, low):
    _check_settings(settings(tmp_path, f"--{key}", str(low)))
    with pytest.raises(UsageError, match=rf"^online config: {key} must be an integer >= {low}, "
                                         rf"got {low - 1}$"):
        _check_settings(settings(tmp_path, f"--{key}", str(low - 1)))


def test_as_many_validation_trajectories_as_trainers_is_enough(tmp_path):
    _check_settings(settings(tmp_path, "--trainers", "2", "--validation.trajectories", "2"))
    with pytest.raises(UsageError, match=r"validation.trajectories \(2\) must be at least "
                                         r"trainers \(3\)"):
        _check_settings(settings(tmp_path, "--trainers", "3", "--validation.trajectories", "2"))


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_stall_timeout_of_zero_or_less_is_refused(tmp_path, value):
    with pytest.raises(UsageError, match=r"stall_timeout must be a number of seconds > 0 .*, got "
                                         rf"{float(value)}$"):
        _check_settings(settings(tmp_path, "--stall_timeout", value))


def test_a_bare_resume_before_another_option_means_true(tmp_path):
    cfg = helpers.write_config(tmp_path)
    _, ns, argv = _parse(["--config", str(cfg), "--resume", "--simulations", "61"],
                         lightning=False)
    assert ns.resume is True and ns.simulations == 61
    # what the ranks parse again
    assert argv == ["--config", str(cfg), "--resume", "true", "--simulations", "61"]
