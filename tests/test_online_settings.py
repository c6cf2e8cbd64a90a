"""``pdesurrogate online``'s checks of its settings, before any MPI job starts (no job runs
here): trainer settings that a stream cannot honour are refused naming the key (min_steps made
a run that never ended, overfit_batches one that quietly stopped after a few simulations), an
abbreviated option is an error, and a ``buffer.max_mb`` that holds fewer training items than
``buffer.watermark`` (or none) is said before the run, with the numbers."""

import argparse
import contextlib
import importlib.util
import time
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


def items_that_fit(max_bytes: int, state_shape: tuple[int, ...], kind: str = "fifo",
                   buf=None) -> int:
    """How many training items (pairs of the solver ranks' float32 states) the trainer's
    buffer (``buf``, or a new one of ``kind``) actually takes under ``max_bytes``."""
    from pdesurrogate.streaming import make_buffer

    if buf is None:
        buf = make_buffer(kind, capacity=10_000, watermark=1, max_bytes=max_bytes)
    n = 0
    while True:
        if not buf.put(training_item(state_shape, n), timeout=0):
            return n
        n += 1


def training_item(state_shape: tuple[int, ...], sim_id: int):
    """A pair of float32 states, as the solver ranks send them."""
    from pdesurrogate.streaming import Pair, Sample

    a, b = (Sample(np.zeros(state_shape, np.float32), t, {"beta": 0.5}, sim_id, k)
            for k, t in ((0, 0.0), (1, 0.05)))
    return Pair(a, b)


def serves_a_batch_when_full(kind: str, max_bytes: int, batch: int,
                             state_shape: tuple[int, ...]) -> bool:
    """Whether the trainer's buffer of ``kind``, filled to ``max_bytes`` with a producer
    waiting for room (what the solver ranks do), serves a training batch of ``batch`` items,
    or fails in ``wait_ready`` as it would in the middle of the run."""
    import threading

    from pdesurrogate.streaming import BufferClosed, make_buffer

    buf = make_buffer(kind, capacity=10_000, watermark=1, max_bytes=max_bytes)
    items_that_fit(max_bytes, state_shape, buf=buf)

    def produce():
        with contextlib.suppress(BufferClosed):
            buf.put(training_item(state_shape, -1), timeout=30)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        deadline = time.monotonic() + 10
        while not buf._waiting_puts and time.monotonic() < deadline:  # the producer waits
            time.sleep(0.01)
        try:
            return buf.wait_ready(batch, timeout=10)
        except ValueError:
            return False
    finally:
        buf.close()
        producer.join()


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


@pytest.mark.parametrize("kind", ["fifo", "firo", "reservoir"])
def test_a_byte_bound_below_one_batch_is_refused_where_draws_remove(tmp_path, kind):
    """buffer.max_mb holding fewer items than batch_size: a buffer whose draws remove items
    (fifo, firo) can never serve a batch, and failed only in the middle of the run (the
    trainer's wait_ready); the preflight refuses it, naming both keys, the item's size, how
    many items fit (as the buffer counts them) and the max_mb that holds a batch, which then
    passes. A reservoir serves a batch from fewer items (with repetition), and is not
    refused."""
    from pdesurrogate.online import UsageError, _parse, _preflight

    cfg = helpers.write_config(tmp_path)  # advection1d, 32 points, 1 channel; batch_size 16
    fits = items_that_fit(3000, (1, 32), kind)
    parser, ns, _ = _parse(["--config", str(cfg), "--buffer.max_mb", "0.003",
                            "--buffer.kind", kind, "--buffer.watermark", "1"])
    batch = ns.batch_size
    assert 1 < fits < batch
    if serves_a_batch_when_full(kind, 3000, batch, (1, 32)):
        assert kind == "reservoir"
        assert _preflight(parser, ns) == []
        return
    with pytest.raises(UsageError) as e:
        _preflight(parser, ns)
    msg = str(e.value)
    item = 2 * 32 * 4  # a pair of float32 states of 32 values
    assert msg.startswith(f"online config: buffer.max_mb (0.003 MB) holds {fits} training items "
                          f"of {item:,} bytes "), msg
    assert f"fewer than batch_size ({batch})" in msg, msg
    needed = msg.split("raise buffer.max_mb to at least ")[1].split()[0]
    assert int(float(needed) * 1e6) >= batch * item
    # the value it names holds a batch, as the buffer counts it, and the preflight takes it
    assert items_that_fit(int(float(needed) * 1e6), (1, 32), kind) >= batch
    parser, ns, _ = _parse(["--config", str(cfg), "--buffer.max_mb", needed,
                            "--buffer.kind", kind, "--buffer.watermark", "1"])
    assert _preflight(parser, ns) == []


@pytest.mark.parametrize("kind", ["fifo", "firo", "reservoir"])
def test_a_capacity_below_one_batch_is_refused_where_draws_remove(tmp_path, kind):
    """buffer.capacity below batch_size: a fifo or firo buffer full at capacity can never
    serve a batch (the trainer's wait_ready fails mid-run), so the preflight refuses it naming
    both keys; a reservoir serves batches with repetition and passes."""
    from pdesurrogate.online import UsageError, _parse, _preflight

    cfg = helpers.write_config(tmp_path)  # batch_size 16
    parser, ns, _ = _parse(["--config", str(cfg), "--buffer.capacity", "8",
                            "--buffer.kind", kind, "--buffer.watermark", "1"])
    if kind == "reservoir":
        assert _preflight(parser, ns) == []
        return
    with pytest.raises(UsageError, match=r"buffer\.capacity \(8\) is below batch_size \(16\)"):
        _preflight(parser, ns)
