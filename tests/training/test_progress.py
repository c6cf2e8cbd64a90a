"""The progress bar every training command adds: Lightning's RichProgressBar redrawn
``REFRESH_PER_S`` times a second (not after every batch, Lightning's default of 100 a second,
which cost ``pdesurrogate fit`` 7-14 % of its throughput: benchmarks/training_overhead.py); and
``pdesurrogate fit``'s other default callback, the ``last.ckpt`` writer, and how to turn it off;
``pdesurrogate test``'s error for a checkpoint that does not fit the config."""

from pathlib import Path

import torch
import yaml
from lightning.pytorch.callbacks import RichProgressBar

from pdesurrogate.cli import main
from pdesurrogate.training.progress import CLASS_PATH, REFRESH_PER_S, rich_progress_bar

ROOT = Path(__file__).resolve().parents[2]


def test_rich_progress_bar_refresh_rate():
    bar = rich_progress_bar()
    assert isinstance(bar, RichProgressBar)
    assert bar.refresh_rate == REFRESH_PER_S <= 10


def test_labelled_bar_replaces_the_epoch_label():
    """An endless epoch (``pdesurrogate online``) gets its own label, not ``Epoch 0/-2``: the
    bar's label comes from the method the labelled bar overrides."""
    bar = rich_progress_bar("Online training steps")
    assert isinstance(bar, RichProgressBar) and bar.refresh_rate == REFRESH_PER_S
    base = RichProgressBar._get_train_description  # fails if Lightning renames it
    assert bar._get_train_description(0) == "Online training steps"
    assert type(bar)._get_train_description is not base


def test_fit_adds_the_bar_at_refresh_per_s(tmp_path, burgers_file):
    """``pdesurrogate fit`` with the bar on (the default): the config Lightning saves lists the
    RichProgressBar with ``refresh_rate`` = REFRESH_PER_S, once."""
    data = burgers_file(n_points=32, samples=10, frames=3)
    root = tmp_path / "run"
    rc = main(["fit", "--config", str(ROOT / "configs" / "fit" / "fno_burgers.yaml"),
               "--data.init_args.path", str(data), "--data.init_args.batch_size", "4",
               "--model.init_args.model.init_args.hidden_channels", "8",
               "--trainer.max_steps", "2", "--trainer.limit_val_batches", "0",
               "--trainer.num_sanity_val_steps", "0", "--trainer.accelerator", "cpu",
               "--trainer.default_root_dir", str(root), "--trainer.enable_model_summary",
               "false"])
    assert rc == 0
    (saved,) = root.rglob("config.yaml")
    callbacks = yaml.safe_load(saved.read_text())["trainer"]["callbacks"]
    bars = [c for c in callbacks if "ProgressBar" in c["class_path"]]
    assert bars == [{"class_path": CLASS_PATH, "init_args": {
        **bars[0]["init_args"], "refresh_rate": REFRESH_PER_S}}]


def test_fit_writes_last_ckpt_by_default_and_none_with_checkpointing_off(tmp_path, burgers_file):
    """The default ``ModelCheckpoint(save_last=True)`` writes ``last.ckpt``;
    ``--trainer.enable_checkpointing false`` turns it off too (Lightning refuses a
    ModelCheckpoint callback with checkpointing off) and the run writes no checkpoint."""
    data = burgers_file(n_points=32, samples=10, frames=3)

    def fit(root: Path, *extra: str) -> int:
        return main(["fit", "--config", str(ROOT / "configs" / "fit" / "fno_burgers.yaml"),
                     "--data.init_args.path", str(data), "--data.init_args.batch_size", "4",
                     "--model.init_args.model.init_args.hidden_channels", "8",
                     "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "0",
                     "--trainer.num_sanity_val_steps", "0", "--trainer.accelerator", "cpu",
                     "--trainer.default_root_dir", str(root), "--trainer.enable_model_summary",
                     "false", "--trainer.enable_progress_bar", "false", *extra])

    assert fit(tmp_path / "on") == 0
    assert "last.ckpt" in [p.name for p in (tmp_path / "on").rglob("*.ckpt")]
    assert fit(tmp_path / "off", "--trainer.enable_checkpointing", "false") == 0
    assert list((tmp_path / "off").rglob("*.ckpt")) == []
    assert list((tmp_path / "off").rglob("config.yaml")) != []  # the run was set up and logged


def test_test_names_the_saved_config_when_the_checkpoint_does_not_fit(tmp_path, burgers_file,
                                                                      capsys):
    """A fit with ``--model.*`` overrides, then ``pdesurrogate test`` with the plain config:
    one error that points at the config the fit saved (which then works), not a page of
    state-dict size mismatches. It names the argument from the checkpoint's model spec; a
    checkpoint without one still gets the one-line size mismatch."""
    data = burgers_file(n_points=32, samples=10, frames=3)
    cfg = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")
    quiet = ["--trainer.enable_model_summary", "false", "--trainer.enable_progress_bar", "false",
             "--trainer.accelerator", "cpu"]
    assert main(["fit", "--config", cfg, "--data.init_args.path", str(data),
                 "--data.init_args.batch_size", "4",
                 "--model.init_args.model.init_args.hidden_channels", "8",
                 "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
                 "--trainer.default_root_dir", str(tmp_path), *quiet]) == 0
    (ckpt,) = tmp_path.rglob("last.ckpt")
    capsys.readouterr()
    # default_root_dir: the plain config's runs/fno_burgers is in the checkout
    rc = main(["test", "--config", cfg, "--data.init_args.path", str(data),
               "--ckpt_path", str(ckpt), "--trainer.default_root_dir", str(tmp_path / "plain"),
               *quiet])
    err = capsys.readouterr().err
    saved = ckpt.parent.parent / "config.yaml"
    # Lightning's own hint where Slurm is installed ("The `srun` command is available") aside
    ours = [line for line in err.splitlines() if "lightning/fabric" not in line]
    assert rc == 2 and ("holds a model built with other arguments than the config's "
                        "(init_args.hidden_channels: 8 in the checkpoint, 64 in the config)"
                        in err), err
    assert f"--config {saved}" in err and len(ours) == 2, err
    no_spec = torch.load(ckpt, weights_only=True)
    del no_spec["hyper_parameters"]["model_spec"]
    torch.save(no_spec, ckpt.parent / "no_spec.ckpt")
    rc = main(["test", "--config", cfg, "--data.init_args.path", str(data),
               "--ckpt_path", str(ckpt.parent / "no_spec.ckpt"),
               "--trainer.default_root_dir", str(tmp_path / "plain"), *quiet])
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if "lightning/fabric" not in line]
    assert rc == 2 and "does not fit the model this config builds" in err, err
    assert f"--config {saved}" in err and len(ours) == 2, err
    assert main(["test", "--config", str(saved), "--ckpt_path", str(ckpt)]) == 0


def test_labelled_bar_counts_the_runs_steps(monkeypatch):
    """The online bar shows the run's step out of max_steps, also after a resume (global step
    166 at the start of this leg): total 5000, and the position Lightning draws (batch_idx + 1)
    is the global step, not the batch within this leg."""
    from types import SimpleNamespace

    bar = rich_progress_bar("Online training steps")
    trainer = SimpleNamespace(max_steps=5000, max_epochs=-1, global_step=447,
                              num_training_batches=float("inf"))
    monkeypatch.setattr(type(bar), "trainer", property(lambda self: trainer))
    assert bar.total_train_batches == 5000
    seen = []
    monkeypatch.setattr(RichProgressBar, "on_train_batch_end",
                        lambda self, tr, m, out, b, batch_idx: seen.append(batch_idx + 1))
    bar.on_train_batch_end(trainer, None, None, None, 280)  # the 281st batch of this leg
    assert seen == [447]
    trainer.max_steps = -1
    assert bar.total_train_batches == float("inf")
