"""A config with ``loss: rel_h1`` through ``pdesurrogate fit`` (the shipped Darcy config, tiny,
plus a config file that sets the loss), then resume with ``--ckpt_path``, ``export``,
``pdesurrogate.load`` and ``info`` of what it trained."""

import json
from pathlib import Path

import pdesurrogate
from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Darcy2D

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs" / "fit" / "fno_darcy.yaml")
QUIET = ["--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
         "--trainer.enable_progress_bar", "false"]


def test_fit_with_rel_h1_resumes_exports_loads_and_shows(tmp_path, capsys):
    data = tmp_path / "darcy2d.nc"
    generate_dataset(Darcy2D(n=16, tuner="fixed"), data, samples=10, times=[0.0], seed=0,
                     workers=1, progress=False)
    h1 = tmp_path / "h1.yaml"
    h1.write_text("model:\n  init_args:\n    loss: rel_h1\n")
    root = tmp_path / "runs"
    tiny = ["--data.init_args.path", str(data), "--data.init_args.batch_size", "4",
            "--model.init_args.model.init_args.hidden_channels", "4",
            "--model.init_args.model.init_args.n_modes", "[4, 4]",
            "--model.init_args.model.init_args.n_layers", "1",
            "--trainer.num_sanity_val_steps", "0", "--trainer.log_every_n_steps", "1",
            "--trainer.default_root_dir", str(root), *QUIET]
    assert main(["fit", "--config", CONFIG, "--config", str(h1), "--trainer.max_epochs", "1",
                 *tiny]) == 0
    run = root / "csv" / "version_0"
    logged = set((run / "metrics.csv").read_text().splitlines()[0].split(","))
    assert {"train/rel_h1", "val/rel_h1", "val/rel_l2"} <= logged
    assert "train/rel_l2" not in logged
    assert "loss: rel_h1" in (run / "config.yaml").read_text()

    assert main(["fit", "--config", str(run / "config.yaml"), "--ckpt_path",
                 str(run / "checkpoints" / "last.ckpt"), "--trainer.max_epochs", "2"]) == 0
    resumed = root / "csv" / "version_1"
    rows = (resumed / "metrics.csv").read_text().splitlines()
    assert rows[-1].split(",")[0] == "1"  # the second epoch, on the first one's weights

    out = tmp_path / "model"
    assert main(["export", str(resumed / "checkpoints" / "last.ckpt"), str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["kind"] == "steady"
    assert pdesurrogate.load(out).targets == ["u"]
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "val/rel_h1" in shown and "val/rel_l2" in shown
