"""The seed a checkpoint and an export record is the one ``seed_everything`` set for that fit:
Lightning leaves ``PL_GLOBAL_SEED`` set after a fit, and a second fit in the same process that
was not seeded recorded the first one's seed."""

import json
import os
from pathlib import Path

import pytest
import torch
from lightning.fabric.utilities.seed import reset_seed
from lightning.pytorch import Trainer, seed_everything

from pdesurrogate.cli import main
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.run_record import SEED_ENV, claim_fit_seed
from pdesurrogate.training import FieldDataModule, NextStepModule

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")


@pytest.fixture(autouse=True)
def no_seed(monkeypatch):
    """Each test starts without a seed in the environment, and leaves none behind."""
    monkeypatch.delenv(SEED_ENV, raising=False)


def _fit(data, tmp_path: Path, name: str) -> tuple[NextStepModule, dict, dict]:
    """A one-epoch fit: the module, its checkpoint's record and its export's provenance."""
    module = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1))
    trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                      devices=1, num_sanity_val_steps=0)
    trainer.fit(module, FieldDataModule(str(data), batch_size=4))
    ckpt = tmp_path / f"{name}.ckpt"
    trainer.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=True)["pdesurrogate"]
    out = export_surrogate(ckpt, tmp_path / name)
    prov = json.loads((out / "config.json").read_text())["provenance"]
    return module, saved, prov


def test_a_second_unseeded_fit_records_no_seed(advection_file, tmp_path):
    seed_everything(7)
    first, saved, prov = _fit(advection_file, tmp_path, "first")
    assert first.seed_everything == 7 and saved["seed_everything"] == 7
    assert prov["seed_everything"] == 7
    second, saved, prov = _fit(advection_file, tmp_path, "second")  # no seed_everything
    assert second.seed_everything is None
    assert saved["seed_everything"] is None and prov["seed_everything"] is None
    seed_everything(7)  # the same seed again is this fit's seed
    third, saved, prov = _fit(advection_file, tmp_path, "third")
    assert third.seed_everything == 7 and prov["seed_everything"] == 7


def test_a_seed_lightning_did_not_set_for_this_fit_is_not_recorded(advection_file, tmp_path,
                                                                    monkeypatch):
    """A PL_GLOBAL_SEED inherited from the shell, and a seed_everything followed by a
    torch.manual_seed of another seed, are no seed of this fit."""
    monkeypatch.setenv(SEED_ENV, "5")
    torch.manual_seed(6)
    module, _, _ = _fit(advection_file, tmp_path, "inherited")
    assert module.seed_everything is None
    seed_everything(8)
    torch.manual_seed(9)
    module, _, _ = _fit(advection_file, tmp_path, "reseeded")
    assert module.seed_everything is None


def test_a_taken_seed_reads_as_the_same_integer():
    """Taking the seed leaves what Lightning reads from the variable as it was: its reseeding
    (DDP's, at the start of every fit) seeds with the same integer."""
    seed_everything(1234)
    assert claim_fit_seed() == 1234
    assert claim_fit_seed() is None  # taken: not a second fit's
    assert int(os.environ[SEED_ENV]) == 1234
    torch.manual_seed(0)
    reset_seed()
    assert torch.initial_seed() == 1234
    assert claim_fit_seed() == 1234  # Lightning seeded anew: the fit that follows takes it


def test_cli_fits_in_one_process_record_their_own_seed(burgers_file, tmp_path, capsys):
    """LightningCLI seeds before it builds the module: a run with seed_everything: 5 records
    5; the next run in the same process with seed_everything: false records none."""
    data = str(burgers_file(32, 10, 3))
    common = ["--config", CONFIG, "--data.init_args.path", data,
              "--data.init_args.batch_size", "4",
              "--model.init_args.model.init_args.hidden_channels", "8",
              "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
              "--trainer.enable_progress_bar", "false", "--trainer.num_sanity_val_steps", "0",
              "--trainer.max_epochs", "1"]
    seeds = []
    for run, seed in (("a", "5"), ("b", "false")):
        root = tmp_path / run
        assert main(["fit", *common, "--seed_everything", seed,
                     "--trainer.default_root_dir", str(root)]) == 0, capsys.readouterr().err
        ckpt = root / "csv" / "version_0" / "checkpoints" / "last.ckpt"
        seeds.append(torch.load(ckpt, weights_only=True)["pdesurrogate"]["seed_everything"])
    assert seeds == [5, None]
