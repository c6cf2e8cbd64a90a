"""A PINN export's ``provenance.recipe``: the PINNModule's settings that its ``network``,
``problem`` and ``training`` do not hold (learning rate, schedule, boundary weight, the SDGD
draws' seed, ...) and the points per batch, from the module and its checkpoint; an older
pdesurrogate loads it ignoring the recipe with one warning."""

import json

import pytest
import torch
from lightning.pytorch import Trainer

import pdesurrogate
from pdesurrogate import export_checks
from pdesurrogate.cli import main
from pdesurrogate.export import export_surrogate
from pdesurrogate.pinn import SDGD, BallPoints, PINNModule, SineGordon
from pdesurrogate.pinn import export as pinn_export
from pdesurrogate.provenance import RUN_PROVENANCE_KEYS
from tests.test_provenance_recipe import newer_export_warnings

#: the settings the recipe holds, set off their defaults
SETTINGS = {"boundary_weight": 1.0, "lr": 2e-3, "scheduler": "none", "seed": 5,
            "full_chunk": 64, "fit_output_bias": False}


@pytest.fixture
def fitted(tmp_path):
    """A PINNModule fit two steps on batches of 8 points, and its checkpoint."""
    torch.manual_seed(0)
    m = PINNModule(SineGordon(3, seed=1), SDGD(2), width=8, depth=2, **SETTINGS)
    trainer = Trainer(max_steps=2, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0, accelerator="cpu")
    trainer.fit(m, BallPoints(batch_size=8, steps_per_epoch=2))
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    return m, ckpt


def test_a_pinn_export_records_its_settings_and_batch_size(fitted, tmp_path, capsys):
    """From the module: its class, :data:`SETTINGS` (and nothing the network, problem or
    training keys hold) and 8 points a batch; from the checkpoint the same settings, neither
    class nor batch size (a checkpoint outside LightningCLI records neither). info shows it."""
    m, ckpt = fitted
    out = export_surrogate(m, tmp_path / "a")
    recipe = pdesurrogate.load(out).config["provenance"]["recipe"]
    assert recipe == {"module": "pdesurrogate.pinn.PINNModule", "hparams": SETTINGS,
                      "batch_size": 8, "omitted": []}
    from_ckpt = pdesurrogate.load(export_surrogate(ckpt, tmp_path / "b")).config
    assert from_ckpt["provenance"]["recipe"] == {**recipe, "module": None, "batch_size": None}
    assert from_ckpt["training"]["estimator"] == {"name": "sdgd", "init_args": {"dim_batch": 2}}

    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recipe"] == recipe
    assert main(["info", str(out)]) == 0
    assert "  trained with  pdesurrogate.pinn.PINNModule, batch size 8\n" \
        "                lr=0.002, scheduler=\"none\", boundary_weight=1.0, seed=5," \
        in capsys.readouterr().out


def test_a_pinn_reader_before_the_recipe_loads_it_with_one_warning(fitted, tmp_path,
                                                                   monkeypatch):
    m, _ = fitted
    out = export_surrogate(m, tmp_path / "a")
    monkeypatch.setattr(export_checks, "FORMAT_REVISION", 3)
    monkeypatch.setattr(pinn_export, "PINN_PROVENANCE_KEYS", tuple(RUN_PROVENANCE_KEYS))
    sur, warned = newer_export_warnings(out)  # pdesurrogate.load: a PINN's by its kind
    assert len(warned) == 1 and "ignoring key(s) ['provenance.recipe']" in warned[0], warned
    x = torch.zeros(2, 3)
    torch.testing.assert_close(sur(x), m(x).detach(), rtol=0, atol=0)


def test_a_malformed_pinn_recipe_is_refused_naming_the_key(fitted, tmp_path):
    m, _ = fitted
    out = export_surrogate(m, tmp_path / "a")
    path = out / "config.json"
    cfg = json.loads(path.read_text())
    cfg["provenance"]["recipe"]["hparams"] = ["lr"]
    path.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"config\.json': provenance\.recipe\.hparams must be "
                                         r"an object, got \['lr'\]"):
        pdesurrogate.load(out)
