"""A module that trains on rollouts of several steps (``rollout_steps`` > 1) is refused before
the MPI job starts: a stream hands pairs of consecutive states. Before, the trainer rank's first
training step failed inside the job ("needs windows of 9 frames, the batch has 2"), after the
solvers had started (tiny Burgers run: 12.6 s in, exit status 1; now 6.6 s, status 2)."""

import importlib.util
from pathlib import Path

import pytest

from pdesurrogate.online import UsageError, _parse, _preflight

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def _run_preflight(tmp_path, *args):
    parser, ns, _ = _parse(["--config", str(helpers.write_config(tmp_path)), *args])
    return _preflight(parser, ns)


def test_rollout_training_is_refused(tmp_path):
    with pytest.raises(UsageError, match=r"^online config: model\.init_args\.rollout_steps "
                                         r"\(2\): an online run streams pairs of consecutive "
                                         r"states"):
        _run_preflight(tmp_path, "--model.init_args.rollout_steps", "2")


def test_one_step_training_is_taken(tmp_path):
    assert _run_preflight(tmp_path, "--model.init_args.rollout_steps", "1") == []
