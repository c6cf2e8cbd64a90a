"""A fit started from ``init_weights`` and resumed later takes its weights from the checkpoint
alone: the export it started from may be gone by then (moved, deleted), through a plain
``Trainer.fit(ckpt_path=...)`` and through ``pdesurrogate fit --config <saved config.yaml>
--ckpt_path <its last.ckpt>``; a fresh fit from a missing path is still one error naming it,
before any batch is trained."""

import shutil

import pytest
import torch
from lightning.pytorch import Callback, Trainer

from pdesurrogate.training import FieldDataModule, NextStepModule

from .test_init_weights import ROOT, AtFirstStep, _fit, _fno, _same, pretrained  # noqa: F401


def test_a_resumed_fit_does_not_need_its_init_weights(pretrained, tmp_path):  # noqa: F811
    """Fit one epoch from an export, remove the export, resume for a second epoch: it starts
    from the checkpoint's weights, trains on, and still records the export it began from."""
    data, _, export = pretrained
    fine = tmp_path / "fine"
    _fit(NextStepModule(_fno(), lr=1e-2, init_weights=str(export)), data, fine)
    mid = torch.load(fine / "last.ckpt", weights_only=True)
    shutil.rmtree(export)
    resumed, at = NextStepModule(_fno(), lr=1e-2, init_weights=str(export)), AtFirstStep()
    trainer = _fit(resumed, data, fine, epochs=2, ckpt_path=fine / "last.ckpt", callbacks=[at])
    assert _same(at.state, {k[len("model."):]: v for k, v in mid["state_dict"].items()
                            if k.startswith("model.")})
    assert trainer.global_step > mid["global_step"]
    assert resumed.data_info["init_weights"] == str(export.resolve())


class Batches(Callback):
    """Counts the training batches begun."""

    def __init__(self):
        self.n = 0

    def on_train_batch_start(self, *args):
        self.n += 1


def test_a_fresh_fit_from_a_missing_path_fails_before_any_batch(tmp_path, advection_file):
    missing = tmp_path / "moved_export"
    batches = Batches()
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, accelerator="cpu", devices=1,
                      logger=False, enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False, callbacks=[batches])
    with pytest.raises(FileNotFoundError, match=rf"init_weights '{missing}' does not exist; "
                                                r"give an export folder"):
        trainer.fit(NextStepModule(_fno(), init_weights=str(missing)),
                    FieldDataModule(str(advection_file), batch_size=4))
    assert batches.n == 0 and trainer.global_step == 0


def test_cli_resume_with_the_saved_config_after_the_export_is_gone(pretrained, tmp_path,  # noqa: F811
                                                                   capsys):
    """``pdesurrogate fit --config config.yaml --ckpt_path .../last.ckpt`` (the saved config
    names the export in init_weights) resumes after the export folder was deleted."""
    from pdesurrogate.cli import main

    data, _, export = pretrained
    tiny = ["--data.init_args.path", data, "--data.init_args.batch_size", "4",
            "--model.init_args.model.init_args.hidden_channels", "8",
            "--model.init_args.model.init_args.n_modes", "[4]",
            "--model.init_args.model.init_args.n_layers", "2",  # the export's model: _fno()
            "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
            "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false"]
    config = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")
    root = tmp_path / "fine"
    assert main(["fit", "--config", config, *tiny, "--model.init_args.init_weights", str(export),
                 "--trainer.default_root_dir", str(root)]) == 0
    ckpt = next(root.rglob("last.ckpt"))
    step = torch.load(ckpt, weights_only=True)["global_step"]
    saved = next(root.rglob("config.yaml"))  # it names the export (test_init_weights checks)
    shutil.rmtree(export)
    capsys.readouterr()
    assert main(["fit", "--config", str(saved), "--ckpt_path", str(ckpt),
                 "--trainer.max_epochs", "2"]) == 0, capsys.readouterr().err
    # the resumed run checkpoints in its own run folder under the same root
    assert max(torch.load(c, weights_only=True)["global_step"]
               for c in root.rglob("last.ckpt")) > step
