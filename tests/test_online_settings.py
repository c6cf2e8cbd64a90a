"""``pdesurrogate online``'s checks of its settings, before any MPI job starts (no job runs
here): trainer settings that a stream cannot honour are refused naming the key (min_steps made
a run that never ended, overfit_batches one that quietly stopped after a few simulations), an
abbreviated option is an error, and a ``buffer.max_mb`` that holds fewer training items than
``buffer.watermark`` (or none) is said before the run, with the numbers."""

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("online_test_helpers",
                                               Path(__file__).with_name("test_online.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


@pytest.mark.parametrize(("key", "value", "why"), [
    ("min_steps", "100", "an online run cannot promise a minimum"),
    ("min_epochs", "2", "an online run has one endless epoch"),
    ("overfit_batches", "7", "a stream has neither"),
    ("limit_test_batches", "3", "an online run never tests"),
    ("limit_predict_batches", "0.5", "an online run never predicts"),
])
def test_trainer_settings_a_stream_cannot_honour_are_refused_naming_the_key(tmp_path, key,
                                                                          value, why):
    """On the command line or in the config file: a usage error naming the key, its value and
    why, from the checks that run before any job (min_steps=100 made Lightning train on past
    the stream's end forever; overfit_batches=7 ended a 60-simulation run after 7 steps,
    saying "finished"). The checks are called here, not the command: on a failure of this test
    the command would start that job."""
    from pdesurrogate.online import UsageError, _check, _parse

    cfg = helpers.write_config(tmp_path)
    _, ns, _ = _parse(["--config", str(cfg), f"--trainer.{key}", value])
    with pytest.raises(UsageError) as err:
        _check(ns)
    msg = str(err.value)
    assert msg.startswith(f"online config: trainer.{key} ("), msg
    assert why in msg and msg.endswith("; remove it"), msg
    extra = tmp_path / "extra.yaml"
    extra.write_text(f"trainer:\n  {key}: {value}\n")
    _, ns, _ = _parse(["--config", str(cfg), "--config", str(extra)])
    with pytest.raises(UsageError, match=f"trainer\\.{key} "):
        _check(ns)


def test_lightnings_defaults_of_the_refused_keys_pass_and_help_leaves_them_out(tmp_path,
                                                                             capsys):
    """A config that spells out Lightning's defaults (as a dumped fit config does) is fine;
    --help does not offer the refused keys."""
    from pdesurrogate.cli import main
    from pdesurrogate.online import TRAINER_REFUSED, _check, _parse

    extra = tmp_path / "defaults.yaml"
    extra.write_text("trainer: {min_steps: null, min_epochs: null, overfit_batches: 0.0, "
                     "limit_test_batches: null, limit_predict_batches: null}\n")
    _, cfg, _ = _parse(["--config", str(helpers.write_config(tmp_path)), "--config", str(extra)])
    _check(cfg)
    with pytest.raises(SystemExit):
        main(["online", "--help"])
    text = capsys.readouterr().out
    assert "--trainer.max_steps" in text
    assert not [k for k in TRAINER_REFUSED if f"--trainer.{k}" in text], text


@pytest.mark.parametrize("args", [["--sim", "7"], ["--trainer.min_step", "3"],
                                  ["--buffer.water", "3"]])
def test_an_abbreviated_option_is_an_error(tmp_path, args):
    """`--sim 7` was taken for --simulations, and `--trainer.min_step` for the min_steps that
    the check above refuses."""
    from pdesurrogate.online import _parse

    with pytest.raises(argparse.ArgumentError, match=f"unrecognized arguments: {args[0]} "):
        _parse(["--config", str(helpers.write_config(tmp_path)), *args])


def items_that_fit(max_bytes: int, state_shape: tuple[int, ...]) -> int:
    """How many training items (pairs of the solver ranks' float32 states) the trainer's
    buffer actually takes under ``max_bytes``."""
    from pdesurrogate.streaming import Pair, Sample, make_buffer

    buf = make_buffer("fifo", capacity=10_000, watermark=1, max_bytes=max_bytes)
    n = 0
    while True:
        a, b = (Sample(np.zeros(state_shape, np.float32), t, {"beta": 0.5}, n, k)
                for k, t in ((0, 0.0), (1, 0.05)))
        if not buf.put(Pair(a, b), timeout=0):
            return n
        n += 1


@pytest.mark.parametrize("watermark", [30, 5])
def test_a_byte_bound_below_the_watermark_is_a_warning_with_the_numbers(tmp_path, watermark):
    """buffer.max_mb holding fewer items than buffer.watermark: the run works (the buffer
    lowers its watermark), but training starts below it; the preflight says so, naming both
    keys and how many items the bound holds, as the buffer counts them."""
    from pdesurrogate.online import _parse, _preflight

    cfg = helpers.write_config(tmp_path)  # advection1d, 32 points, 1 channel
    fits = items_that_fit(3000, (1, 32))
    assert 1 < fits < 30
    parser, ns, _ = _parse(["--config", str(cfg), "--buffer.max_mb", "0.003",
                            "--buffer.watermark", str(watermark)])
    warnings = _preflight(parser, ns)
    if watermark <= fits:
        assert warnings == []
        return
    (w,) = warnings
    assert w.startswith(f"buffer.max_mb (0.003 MB) holds {fits} training items of "), w
    assert f"fewer than buffer.watermark ({watermark})" in w, w


def test_a_byte_bound_below_one_item_is_refused(tmp_path):
    """It failed inside the MPI job, when the buffer refused the first simulation."""
    from pdesurrogate.online import UsageError, _parse, _preflight

    with pytest.raises(ValueError, match="exceeds the buffer's max_bytes"):
        items_that_fit(200, (1, 32))
    parser, ns, _ = _parse(["--config", str(helpers.write_config(tmp_path)),
                            "--buffer.max_mb", "0.0002"])
    with pytest.raises(UsageError, match=r"online config: buffer\.max_mb \(0\.0002 MB\) holds no "
                                         r"training items"):
        _preflight(parser, ns)
