"""``pdesurrogate fit`` / ``test`` as the README walks through them: the line at the end of a fit
that says where its run folder and checkpoint are; ``test`` with the config.yaml the fit saved
and the progress bar turned off; a contradiction in the Trainer's settings as a one-line error.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")
QUIET = ["--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu"]


@pytest.fixture
def data(tmp_path) -> str:
    """10 Burgers trajectories of 3 frames on 32 points."""
    path = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), path, samples=10,
                     times=np.linspace(0, 1, 3), seed=0, workers=1)
    return str(path)


def tiny(data: str, root: Path) -> list[str]:
    return ["--data.init_args.path", data, "--data.init_args.batch_size", "4",
            "--model.init_args.model.init_args.hidden_channels", "8",
            "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
            "--trainer.default_root_dir", str(root), *QUIET]


def test_fit_prints_its_run_folder_and_checkpoint_and_test_takes_bars_off(tmp_path, data,
                                                                            capsys):
    """The README: "the fit prints its folder". Then ``test`` with the config.yaml it saved,
    which lists the progress bar fit added, and ``--trainer.enable_progress_bar false`` (for a
    log file): bars off wins, instead of Lightning's MisconfigurationException traceback."""
    root = tmp_path / "runs"
    assert main(["fit", "--config", CONFIG, *tiny(data, root)]) == 0
    run = root / "csv" / "version_0"
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.exists() and (run / "config.yaml").exists()
    lines = capsys.readouterr().err.splitlines()
    assert f"fit: run folder {run}; checkpoint {ckpt}" in lines, lines

    saved = str(run / "config.yaml")
    assert "RichProgressBar" in Path(saved).read_text()  # what made Lightning refuse
    # a fit resumed with the saved config (which lists DeferredSignals) adds no second one
    rc = main(["fit", "--config", saved, "--ckpt_path", str(ckpt), "--trainer.max_epochs", "2",
               "--trainer.enable_progress_bar", "false"])
    assert rc == 0, capsys.readouterr().err
    resumed = yaml.safe_load((root / "csv" / "version_1" / "config.yaml").read_text())
    assert [c["class_path"] for c in resumed["trainer"]["callbacks"]].count(
        "pdesurrogate.training.deferred_signals.DeferredSignals") == 1, resumed["trainer"]
    capsys.readouterr()
    for bars_off in (["--trainer.enable_progress_bar", "false"],
                     ["--trainer.enable_progress_bar=false"]):
        rc = main(["test", "--config", saved, "--ckpt_path", str(ckpt),
                   "--trainer.default_root_dir", str(tmp_path / "test"), *bars_off])
        err = capsys.readouterr().err
        assert rc == 0, err
        assert "MisconfigurationException" not in err, err


def test_fit_without_checkpoints_says_so(tmp_path, data, capsys):
    root = tmp_path / "runs"
    assert main(["fit", "--config", CONFIG, *tiny(data, root), "--trainer.enable_checkpointing",
                 "false", "--trainer.enable_progress_bar", "false"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert (f"fit: run folder {root / 'csv' / 'version_0'}; no checkpoint written "
            "(--trainer.enable_checkpointing false)") in lines, lines


def test_contradicting_trainer_settings_are_one_line(tmp_path, data, capsys):
    """Lightning's MisconfigurationException (here: a ModelCheckpoint callback the config asks
    for, with checkpointing off) is printed as one error line, as the other user errors are,
    not as a traceback."""
    cfg = yaml.safe_load(Path(CONFIG).read_text())
    cfg["trainer"]["callbacks"] = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint"}]
    config = tmp_path / "with_checkpoint.yaml"
    config.write_text(yaml.safe_dump(cfg))
    rc = main(["fit", "--config", str(config), *tiny(data, tmp_path / "runs"),
               "--trainer.enable_checkpointing", "false", "--trainer.enable_progress_bar",
               "false"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "pdesurrogate fit: error: MisconfigurationException: Trainer was configured with " \
           "`enable_checkpointing=False` but found `ModelCheckpoint` in callbacks list." in err, err
    # not the exception's traceback, which ends in its full name
    assert "lightning.fabric.utilities.exceptions.MisconfigurationException" not in err, err


def test_callback_keys_on_a_saved_config_reach_the_users_last_callback(tmp_path, data, capsys):
    """A config.yaml that fit saved, given again with ``--trainer.callbacks.patience 5``:
    jsonargparse gives KEY to the list's last callback, which is still the user's EarlyStopping
    (the callbacks fit adds, progress bar, DeferredSignals, StopCheckpoint, LearningRateLog,
    CurvesPlot and FiniteWeights, go first).
    Before, fit appended them, and the key hit DeferredSignals: "Option 'patience' is not
    accepted"."""
    cfg = yaml.safe_load(Path(CONFIG).read_text())
    cfg["trainer"]["callbacks"] = [{"class_path": "lightning.pytorch.callbacks.EarlyStopping",
                                    "init_args": {"monitor": "val/rel_l2", "patience": 3}}]
    config = tmp_path / "early_stopping.yaml"
    config.write_text(yaml.safe_dump(cfg))
    root = tmp_path / "runs"
    assert main(["fit", "--config", str(config), *tiny(data, root)]) == 0
    saved = root / "csv" / "version_0" / "config.yaml"
    rc = main(["fit", "--config", str(saved), "--trainer.callbacks.patience", "5"])
    assert rc == 0, capsys.readouterr().err
    callbacks = yaml.safe_load((root / "csv" / "version_1" / "config.yaml").read_text())[
        "trainer"]["callbacks"]
    assert [c["class_path"].rsplit(".", 1)[1] for c in callbacks] == [
        "RichProgressBar", "DeferredSignals", "StopCheckpoint", "LearningRateLog", "CurvesPlot",
        "FiniteWeights", "EarlyStopping"], callbacks
    assert callbacks[-1]["init_args"]["patience"] == 5


def test_the_default_checkpoint_writer_writes_last_ckpt_every_epoch(tmp_path):
    """Each epoch of a fit leaves last.ckpt for a killed or requeued fit to resume from. With
    save_top_k=0 (tried, to drop the second copy Lightning keeps) Lightning wrote it only when
    the fit ended, and the Slurm requeue tests found no checkpoint mid-run."""
    from lightning.pytorch import Callback, Trainer
    from lightning.pytorch.demos.boring_classes import BoringModel

    from pdesurrogate.cli import default_checkpoint

    last, seen = tmp_path / "ck" / "last.ckpt", []

    class Look(Callback):
        def on_train_epoch_start(self, trainer, module):
            seen.append(last.exists())

    checkpoint = default_checkpoint()
    checkpoint.dirpath = str(last.parent)
    Trainer(max_epochs=3, limit_train_batches=2, limit_val_batches=1, logger=False,
            enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
            callbacks=[checkpoint, Look()]).fit(BoringModel())
    assert seen == [False, True, True]


@pytest.mark.parametrize("init_args, replaces", [
    ({}, False), ({"monitor": "val/rel_l2"}, False), ({"save_last": True}, True),
    ({"monitor": "val/rel_l2", "save_last": True}, False),
    ({"save_last": True, "save_top_k": 0}, False), ({"save_last": "link"}, False),
    ({"save_last": True, "every_n_epochs": 2}, False)])
def test_a_configs_own_model_checkpoint_leaves_last_ckpt_of_every_epoch(tmp_path, data, capsys,
                                                                        init_args, replaces):
    """A config's own ModelCheckpoint: fit's writer still writes last.ckpt, a file holding the
    newest epoch, unless theirs does exactly that (save_last true, no monitor, every epoch):
    with a monitor Lightning rewrites last.ckpt only in epochs that improved it, with
    save_top_k 0 never, with 'link' it is a link the Slurm scripts skip. Two writers without
    a monitor made Lightning refuse the fit (equal state keys). A fit resumes from it."""
    root = tmp_path / "runs"
    own = tmp_path / "own.yaml"
    own.write_text(yaml.safe_dump({"trainer": {"callbacks": [{
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        "init_args": init_args}]}}))
    args = ["fit", "--config", CONFIG, "--config", str(own), *tiny(data, root),
            "--trainer.enable_progress_bar", "false"]
    assert main([*args, "--trainer.max_epochs", "3"]) == 0, capsys.readouterr().err
    folder = root / "csv" / "version_0" / "checkpoints"
    files = sorted(p.name for p in folder.iterdir())
    last = folder / "last.ckpt"
    assert last.is_file() and not last.is_symlink(), files
    assert torch.load(last, weights_only=True)["epoch"] == 2
    expect_v1 = init_args.get("save_last") is not None and not replaces
    assert ("last-v1.ckpt" in files) == expect_v1, files
    assert not [f for f in files if "-v1" in f and f != "last-v1.ckpt"], files
    ours = [f for f in files if f.startswith("epoch=2-") and f.endswith("-last.ckpt")]
    assert bool(ours) == (not replaces), files
    # resumed from the config.yaml the fit saved (it lists fit's writer where it added one)
    saved = str(root / "csv" / "version_0" / "config.yaml")
    rc = main(["fit", "--config", saved, "--ckpt_path", str(last), "--trainer.max_epochs", "4"])
    assert rc == 0, capsys.readouterr().err
    again = sorted(p.name for p in (root / "csv" / "version_1" / "checkpoints").iterdir())
    assert ("last-v1.ckpt" in again) == expect_v1, again
    assert torch.load(root / "csv" / "version_1" / "checkpoints" / "last.ckpt",
                      weights_only=True)["epoch"] == 3


def test_fast_dev_run_names_no_run_folder(tmp_path, data, capsys):
    """Lightning's fast_dev_run logs nothing (yet writes ``checkpoints/last.ckpt`` at the end,
    save_last's rule); fit's last line said ``fit: run folder None; checkpoint ...``."""
    root = tmp_path / "runs"
    assert main(["fit", "--config", CONFIG, *tiny(data, root), "--trainer.fast_dev_run",
                 "true", "--trainer.enable_progress_bar", "false"]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("fit:")]
    ckpt = root / "checkpoints" / "last.ckpt"
    assert ckpt.exists()
    assert lines == [f"fit: no run folder (--trainer.fast_dev_run logs nothing); checkpoint "
                     f"{ckpt}"], lines
