"""The TensorBoard event file of a finished online run holds every value the run logged, the
final validation's included, the moment the trainer rank's ``run_trainer`` returns: its end
closes the writer (``OpenTensorBoardLogger.close``), which writes out what tensorboardX's writer
thread still queues. A flush alone does not wait for that thread, and Python's exit, which
closes the writer too, may never come in time (a rank killed in MPI_Finalize, a job past its
time limit)."""

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

# the MPI job runner of the rank-settings tests (and, through it, test_online's helpers)
_spec = importlib.util.spec_from_file_location(
    "online_rank_settings_tests",
    Path(__file__).resolve().parents[1] / "test_online_rank_settings.py")
ranks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ranks)
helpers = ranks.helpers

# each rank runs the online command; the trainer rank records, as run_trainer returns (before
# the exit's atexit close), the (tag, step) pairs on disk in its event files. Its writer thread
# is made slow to write the validation's values, as on a loaded machine, so that a flush before
# that thread has them cannot pass for a close
SCRIPT = """
import json, struct, sys, time
from pathlib import Path

import tensorboardX.event_file_writer as event_file_writer
from tensorboardX.proto import event_pb2

import pdesurrogate.online.rank as rank
from pdesurrogate.cli import main

write_event = event_file_writer.EventsWriter.write_event


def slow_write_event(self, event):
    if any(v.tag.startswith("val/") for v in event.summary.value):
        time.sleep(0.3)
    write_event(self, event)


event_file_writer.EventsWriter.write_event = slow_write_event


def on_disk(folder):
    pairs = []
    for path in Path(folder).glob("events.out.tfevents.*"):
        data, i = path.read_bytes(), 0
        # TFRecord framing: length, its CRC, the record, its CRC; a record cut short is not
        # on disk yet
        while i + 12 <= len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            if i + 12 + n > len(data):
                break
            event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
            pairs += [[v.tag, event.step] for v in event.summary.value]
            i += 12 + n + 4
    return pairs


run_trainer = rank.run_trainer


def recording_run_trainer(cfg, *args):
    rc = run_trainer(cfg, *args)
    out = Path(cfg.out)
    (out / "tensorboard_at_return.json").write_text(
        json.dumps(on_disk(out / "tensorboard" / "version_0")))
    return rc


rank.run_trainer = recording_run_trainer
sys.exit(main(["online", *sys.argv[1:]]))
"""


@ranks.pytestmark  # skipped without an mpiexec next to python
@pytest.mark.slow  # 8-14 s: an MPI job of a solver rank and a trainer rank
def test_every_logged_value_is_in_the_event_file_when_the_trainer_returns(tmp_path):
    script = tmp_path / "record_tensorboard.py"
    script.write_text(SCRIPT)
    cfg = helpers.write_config(tmp_path, simulations=6)
    out = tmp_path / "r"
    rc, log = ranks.mpi_job(2, [sys.executable, str(script), "--config", str(cfg), "--out",
                                str(out), "--trainer.log_every_n_steps", "1"], tmp_path,
                         timeout=240)
    assert rc == 0, log
    assert helpers.summary(out)["status"] == "finished", log
    on_disk = {(tag, step) for tag, step in
               json.loads((out / "tensorboard_at_return.json").read_text())}
    with open(out / "csv" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    logged = {(name, int(row["step"])) for row in rows for name, value in row.items()
              if value and name != "step"}
    # the final validation (validation.every_n_steps 1000: the only one), at the last step
    last = max(step for _, step in logged)
    assert ("val/rel_l2", last) in logged, sorted(logged)
    assert any(name.startswith("train/") for name, _ in logged), sorted(logged)
    missing = logged - on_disk
    assert not missing, f"logged but not in the event file: {sorted(missing)}"
