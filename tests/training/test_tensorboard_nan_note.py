"""tensorboardX's "NaN or Inf found in input tensor." is kept out of what our TensorBoard
loggers print (it named neither value nor step, and came as a stray line above ``pdesurrogate
test``'s table for an fRMSE band with no mode on the grid); the value itself is still written
to the event file, and every other record of that logger still passes. CPU, seconds."""

import logging
import math
import struct

import pytest
from tensorboardX.proto.event_pb2 import Event

from pdesurrogate.training.tensorboard_logger import OpenTensorBoardLogger
from pdesurrogate.training.version_claim import TensorBoardLogger
from tests.test_cli_test_empty_bands import _fit_and_test

NOTE = "NaN or Inf found in input tensor."
X2NUM_LOGGER = "tensorboardX.x2num"


def _scalars(folder) -> dict[str, float]:
    """``{tag: value}`` of every scalar in the event files under ``folder`` (TFRecord framing:
    length, its CRC, the Event proto, its CRC)."""
    found = {}
    for path in folder.rglob("events.out.tfevents.*"):
        data = path.read_bytes()
        at = 0
        while at < len(data):
            (n,) = struct.unpack("<Q", data[at:at + 8])
            event = Event.FromString(data[at + 12:at + 12 + n])
            at += 12 + n + 4
            found.update((v.tag, v.simple_value) for v in event.summary.value)
    return found


@pytest.mark.parametrize("cls", [OpenTensorBoardLogger, TensorBoardLogger])
def test_a_nan_value_is_logged_without_the_note(tmp_path, caplog, cls):
    logger = cls(str(tmp_path), name="tb", default_hp_metric=False)
    with caplog.at_level(logging.WARNING):
        logger.log_metrics({"train/loss": math.nan, "test/rmse": 0.5}, step=0)
        logging.getLogger(X2NUM_LOGGER).warning("another note of tensorboardX")
    logger.experiment.close()  # writes out what the writer thread queues
    messages = [r.getMessage() for r in caplog.records if r.name == X2NUM_LOGGER]
    assert messages == ["another note of tensorboardX"], messages
    scalars = _scalars(tmp_path)
    assert math.isnan(scalars["train/loss"]) and scalars["test/rmse"] == 0.5, scalars
    # a second logger does not add the filter again
    second = cls(str(tmp_path), name="tb2", default_hp_metric=False)
    second.log_metrics({"train/loss": math.nan}, step=0)
    second.experiment.close()
    assert len(logging.getLogger(X2NUM_LOGGER).filters) == 1


def test_pdesurrogate_test_with_an_empty_band_logs_no_note(tmp_path, capsys, caplog):
    """16 points: test/frmse_high is nan (no mode with |k| > 12), explained by our n/a line."""
    with caplog.at_level(logging.WARNING):
        lines = _fit_and_test(tmp_path, 16, capsys)
    assert any("test/frmse_high is n/a" in line for line in lines), lines
    assert NOTE not in caplog.text and not any(NOTE in line for line in lines)
