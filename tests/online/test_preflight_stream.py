"""What a stream can feed, checked before the MPI job starts.

A run whose whole stream (``simulations * n_steps`` training pairs) holds fewer items than one
batch is refused: before, every simulation ran and the run then ended with 0 training steps
and exit status 0 (a tiny Burgers run: 28 s of solving; now 4 s), whatever the buffer: a
trainer rank stops when its stream ends with fewer than ``batch_size`` items left.

A module that trains on rollouts of several steps (``rollout_steps`` > 1) is refused: a
stream hands pairs of consecutive states. Before, the trainer rank's first training step
failed inside the job ("needs windows of 9 frames, the batch has 2"), after the solvers had
started (tiny Burgers run: 12.6 s in, exit status 1; now 6.6 s, status 2)."""

import importlib.util
from pathlib import Path

import pytest

from pdesurrogate.online import UsageError, _parse, _preflight

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def _run_preflight(tmp_path, *args):
    """``_preflight`` of the shared test config (batch_size 16, advection on 32 points)."""
    parser, ns, _ = _parse(["--config", str(helpers.write_config(tmp_path)), *args])
    assert ns.batch_size == 16
    return _preflight(parser, ns)


@pytest.mark.parametrize("kind", ["fifo", "reservoir"])
def test_a_stream_shorter_than_a_batch_is_refused(tmp_path, kind):
    with pytest.raises(UsageError, match=r"^online config: simulations \(2\) x n_steps \(7\) = "
                                         r"14 training pairs in the whole run, fewer than "
                                         r"batch_size \(16\)"):
        _run_preflight(tmp_path, "--simulations", "2", "--n_steps", "7",
                       "--buffer.kind", kind, "--buffer.watermark", "4")


def test_a_stream_of_exactly_one_batch_is_taken(tmp_path):
    assert _run_preflight(tmp_path, "--simulations", "2", "--n_steps", "8",
                          "--buffer.watermark", "4") == []


def test_rollout_training_is_refused(tmp_path):
    with pytest.raises(UsageError, match=r"^online config: model\.init_args\.rollout_steps "
                                         r"\(2\): an online run streams pairs of consecutive "
                                         r"states"):
        _run_preflight(tmp_path, "--model.init_args.rollout_steps", "2")


def test_one_step_training_is_taken(tmp_path):
    assert _run_preflight(tmp_path, "--model.init_args.rollout_steps", "1") == []
