"""What a user finds in the logs of ``pdesurrogate fit --config configs/fit/fno_burgers.yaml``
(a tiny file, two epochs): the learning rate of each logged step beside the training loss, the
network's arguments in ``hparams.yaml`` (also TensorBoard's HPARAMS), and no placeholder
``hp_metric`` in TensorBoard."""

import csv
import math
import struct
from pathlib import Path

import yaml
from tensorboardX.proto import event_pb2

from pdesurrogate.cli import main

ROOT = Path(__file__).resolve().parents[2]


def tensorboard_tags(folder: Path) -> set[str]:
    """The summary tags of every event file in ``folder`` (TFRecord framing: length, its CRC,
    the record, its CRC)."""
    tags = set()
    for path in folder.glob("events.out.tfevents.*"):
        data, i = path.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4
            tags.update(v.tag for v in event.summary.value)
    return tags


def test_fit_logs_the_rate_each_step_used_and_the_network_arguments(tmp_path, burgers_file):
    data = burgers_file(n_points=32, samples=10, frames=6)
    root = tmp_path / "run"
    rc = main(["fit", "--config", str(ROOT / "configs" / "fit" / "fno_burgers.yaml"),
               "--data.init_args.path", str(data), "--data.init_args.batch_size", "4",
               "--model.init_args.model.init_args.hidden_channels", "6",
               "--model.init_args.model.init_args.n_modes", "[4]",
               "--trainer.max_epochs", "2", "--trainer.log_every_n_steps", "3",
               "--trainer.limit_val_batches", "1", "--trainer.default_root_dir", str(root),
               "--trainer.enable_progress_bar", "false",
               "--trainer.enable_model_summary", "false"])
    assert rc == 0
    run = root / "csv" / "version_0"
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    total = max(int(r["step"]) for r in rows) + 1  # 8 training trajectories x 5 pairs / 4, x 2
    assert total == 20
    logged = [(int(r["step"]), float(r["train/lr"]), r["train/rel_l2"])
              for r in rows if r.get("train/lr")]
    # every row with the training loss has the rate, and no other row
    assert [s for s, _, _ in logged] == [int(r["step"]) for r in rows if r["train/rel_l2"]]
    assert [s for s, _, _ in logged] == [2, 5, 8, 11, 14, 17]
    for step, lr, _ in logged:
        # the cosine schedule of the config (lr 1e-3) at the step that row's loss came from
        assert math.isclose(lr, 0.5e-3 * (1 + math.cos(math.pi * step / total)), rel_tol=1e-6)

    for folder in (run, root / "tensorboard" / "version_0"):
        hparams = yaml.safe_load((folder / "hparams.yaml").read_text())
        assert hparams["model_spec"]["class"] == "fno"
        assert hparams["model_spec"]["init_args"]["hidden_channels"] == 6
        assert hparams["model_spec"]["init_args"]["n_modes"] == [4]
    tags = tensorboard_tags(root / "tensorboard" / "version_0")
    assert "train/lr" in tags and "val/rel_l2" in tags
    assert "hp_metric" not in tags
