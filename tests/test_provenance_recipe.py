"""config.json's ``provenance.recipe``: how an exported model was trained (its LightningModule,
hyper-parameters such as the loss, and the batch size), from a module and from a checkpoint,
checked on load, shown by ``pdesurrogate info``; exports older than it (format revision 3) load
as before, and an older pdesurrogate loads a new export ignoring it with one warning."""

import json
import warnings
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer

from pdesurrogate import export_checks
from pdesurrogate.cli import main
from pdesurrogate.export import export_surrogate
from pdesurrogate.export_checks import FORMAT_REVISION, NewerExportWarning
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule
from tests import test_cli_fit
from tests.test_export import _toy_file

ROOT = Path(__file__).resolve().parents[1]
#: an export written before the recipe (format revision 0)
OLD_EXPORT = ROOT / "tests" / "fixtures" / "compat" / "29d9f96" / "exp_fno"
#: the fixture of 10 Burgers trajectories of 3 frames on 32 points
data = test_cli_fit.data
#: config.json's provenance key under test (the format's name, not the constant: an older
#: pdesurrogate without it must fail these tests, not their import)
RECIPE_KEY = "recipe"
#: the hyper-parameters this file's fit sets, besides the defaults
SET = {"lr": 3e-4, "weight_decay": 0.0, "scheduler": "none", "loss": "rel_h1"}


def _fit(tmp_path) -> tuple[NextStepModule, Path]:
    """A NextStepModule with :data:`SET` fit one step on a toy file with batch size 3, and
    the checkpoint of that fit."""
    torch.manual_seed(0)
    dm = FieldDataModule(str(_toy_file(tmp_path / "toy.nc")), batch_size=3,
                         fractions=(0.5, 0.25, 0.25), seed=1)
    m = NextStepModule(FNO(1, 1, [4], 4, 1, n_params=1), **SET)
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                      num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(m, dm)
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    return m, ckpt


def _rewrite(out: Path, **changes) -> Path:
    path = out / "config.json"
    cfg = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    path.write_text(json.dumps(cfg))
    return out


def newer_export_warnings(folder: Path) -> tuple[object, list[str]]:
    """``load(folder)`` and the messages of the NewerExportWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sur = load(folder)
    return sur, [str(w.message) for w in caught if issubclass(w.category, NewerExportWarning)]


def _recipe_of(out: Path) -> dict:
    return json.loads((out / "config.json").read_text())["provenance"][RECIPE_KEY]


def test_an_export_from_a_module_and_its_checkpoint_record_the_recipe(tmp_path):
    """The module's hyper-parameters as the fit had them (loss rel_h1 among them) but its
    model and init_weights, its class's public path and its datamodule's batch size; from the
    checkpoint of the same fit the same, but the class, which only LightningCLI records."""
    m, ckpt = _fit(tmp_path)
    expected = {k: v for k, v in m.hparams.items() if k not in ("model_spec", "init_weights")}
    assert {k: expected[k] for k in SET} == SET and "residual" in expected
    from_module = _recipe_of(export_surrogate(m, tmp_path / "a"))
    assert from_module == {"module": "pdesurrogate.training.NextStepModule",
                           "hparams": expected, "batch_size": 3, "omitted": []}
    from_ckpt = _recipe_of(export_surrogate(ckpt, tmp_path / "b"))
    assert from_ckpt == {**from_module, "module": None}
    assert load(tmp_path / "b").config["provenance"][RECIPE_KEY] == from_ckpt


def test_a_fit_of_the_cli_exports_its_module_loss_and_batch_size_and_info_shows_them(
        tmp_path, data, capsys):
    """``pdesurrogate fit --model.init_args.loss rel_h1 --data.init_args.batch_size 4`` ->
    ``export`` of last.ckpt: the config's class path, rel_h1, batch size 4; ``info`` prints
    them in its "trained with" row and ``--json`` holds the record."""
    root = tmp_path / "runs"
    assert main(["fit", "--config", test_cli_fit.CONFIG, *test_cli_fit.tiny(data, root),
                 "--model.init_args.loss", "rel_h1", "--model.init_args.lr", "0.002",
                 "--trainer.enable_progress_bar", "false"]) == 0
    out = tmp_path / "model"
    assert main(["export", str(root / "csv" / "version_0" / "checkpoints" / "last.ckpt"),
                 str(out)]) == 0
    recipe = _recipe_of(out)
    assert recipe["module"] == "pdesurrogate.training.NextStepModule"
    assert recipe["batch_size"] == 4 and recipe["omitted"] == []
    assert recipe["hparams"]["loss"] == "rel_h1" and recipe["hparams"]["lr"] == 0.002
    assert recipe["hparams"]["residual"] is True  # the config's, not the default
    assert not {"model", "model_spec", "init_weights"} & set(recipe["hparams"])
    assert not any(k.startswith("_") for k in recipe["hparams"])  # LightningCLI's own keys

    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recipe"] == recipe
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "  trained with   pdesurrogate.training.NextStepModule, batch size 4\n" in text
    assert '                 loss="rel_h1", lr=0.002, weight_decay=0.0001, scheduler="cosine",' \
        in text


def test_an_export_without_a_recipe_loads_and_info_says_not_recorded(tmp_path, capsys):
    """An export older than the recipe (the compatibility fixture, and a new one without it
    at format revision 3) loads without a warning; info's row says it is not recorded and
    --json holds null."""
    m, _ = _fit(tmp_path)
    out = export_surrogate(m, tmp_path / "sur")
    cfg = json.loads((out / "config.json").read_text())
    _rewrite(out, format_revision=3, provenance={
        k: v for k, v in cfg["provenance"].items() if k != RECIPE_KEY})
    for folder in (OLD_EXPORT, out):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sur = load(folder)
        assert RECIPE_KEY not in (sur.config.get("provenance") or {})
        assert main(["info", str(folder), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["recipe"] is None
        assert main(["info", str(folder)]) == 0
        assert "  trained with   not recorded in the export\n" in capsys.readouterr().out


@pytest.mark.parametrize("recipe, match", [
    ("adamw", r"provenance\.recipe must be an object with keys \['module', 'hparams', "
              r"'batch_size', 'omitted'\]"),
    ({"module": None, "hparams": {}, "batch_size": 4},
     r"provenance\.recipe must be an object with keys .*, got \['batch_size', 'hparams', "
     r"'module'\]"),
    ({"module": 3, "hparams": {}, "batch_size": 4, "omitted": []},
     r"provenance\.recipe\.module must be a string or null, got 3"),
    ({"module": None, "hparams": [], "batch_size": 4, "omitted": []},
     r"provenance\.recipe\.hparams must be an object, got \[\]"),
    ({"module": None, "hparams": {"lr": float("nan")}, "batch_size": 4, "omitted": []},
     r"provenance\.recipe\.hparams must be an object of plain JSON values \(finite"),
    ({"module": None, "hparams": {}, "batch_size": "4", "omitted": []},
     r"provenance\.recipe\.batch_size must be an int or null, got '4'"),
    ({"module": None, "hparams": {}, "batch_size": True, "omitted": []},
     r"provenance\.recipe\.batch_size must be an int or null, got True"),
    ({"module": None, "hparams": {}, "batch_size": 0, "omitted": []},
     r"provenance\.recipe\.batch_size must be an int >= 1 or null, got 0"),
    ({"module": None, "hparams": {}, "batch_size": 4, "omitted": [1]},
     r"provenance\.recipe\.omitted must be a list of hyper-parameter names, got \[1\]"),
])
def test_a_malformed_recipe_is_refused_naming_the_key(tmp_path, capsys, recipe, match):
    m, _ = _fit(tmp_path)
    out = export_surrogate(m, tmp_path / "sur")
    prov = json.loads((out / "config.json").read_text())["provenance"]
    _rewrite(out, provenance={**prov, RECIPE_KEY: recipe})
    with pytest.raises(ValueError, match=r"config\.json': " + match):
        load(out)
    assert main(["info", str(out)]) == 2
    assert "provenance.recipe" in capsys.readouterr().err


def test_a_pdesurrogate_before_the_recipe_loads_a_new_export_with_one_warning(tmp_path,
                                                                             monkeypatch):
    """This export read by a pdesurrogate of format revision 3, which knows no recipe: one
    NewerExportWarning naming provenance.recipe, and the surrogate predicts what it predicts
    here."""
    m, _ = _fit(tmp_path)
    out = export_surrogate(m, tmp_path / "sur")
    u, p = torch.randn(2, 1, 16), torch.full((2, 1), 0.07)
    ref = load(out).rollout(u, p, 2)
    monkeypatch.setattr(export_checks, "FORMAT_REVISION", 3)
    monkeypatch.setattr(export_checks, "FIELD_PROVENANCE_KEYS", tuple(
        k for k in export_checks.FIELD_PROVENANCE_KEYS if k != RECIPE_KEY))
    sur, warned = newer_export_warnings(out)
    assert len(warned) == 1 and "ignoring key(s) ['provenance.recipe']" in warned[0], warned
    assert f"format revision {FORMAT_REVISION})" in warned[0]
    torch.testing.assert_close(sur.rollout(u, p, 2), ref, atol=0, rtol=0)


def test_a_key_a_newer_writer_adds_inside_the_recipe_is_ignored_else_refused(tmp_path):
    """``recipe.optimizer`` from a later format revision: one warning naming it, the rest of
    the recipe kept and checked; from this revision: an error naming the recipe."""
    m, _ = _fit(tmp_path)
    out = export_surrogate(m, tmp_path / "sur")
    prov = json.loads((out / "config.json").read_text())["provenance"]
    newer = {**prov, RECIPE_KEY: {**prov[RECIPE_KEY], "optimizer": "adamw"}}
    _rewrite(out, provenance=newer, format_revision=FORMAT_REVISION + 1)
    _, warned = newer_export_warnings(out)
    assert len(warned) == 1 and "['provenance.recipe.optimizer']" in warned[0], warned
    _rewrite(out, provenance={**newer, RECIPE_KEY: {**newer[RECIPE_KEY], "batch_size": -1}})
    with pytest.raises(ValueError, match=r"provenance\.recipe\.batch_size must be an int >= 1"):
        load(out)
    _rewrite(out, provenance=newer, format_revision=FORMAT_REVISION)
    with pytest.raises(ValueError, match=r"provenance\.recipe must be an object with keys"):
        load(out)


def test_hyper_parameters_that_are_no_plain_values_or_local_paths_are_named_not_recorded():
    """A module of the user's own with a tensor, a Path, an absolute path string and a NaN
    among its hyper-parameters: those are named in ``omitted``; LightningCLI's keys are not
    hyper-parameters; its ``_class_path`` is the module's; the keys recorded elsewhere are
    dropped."""
    from pdesurrogate.provenance import recipe_of_module

    class Stand:
        hparams = {"_class_path": "mypkg.MyModule", "_instantiator": "x", "lr": 0.01,
                   "groups": ((0, 1), (2,)), "weights": torch.ones(2), "root": Path("runs"),
                   "data": "/home/me/data.nc", "tag": "runs/a", "gamma": float("nan"),
                   "model_spec": {"class": "fno"}, "init_weights": "/x"}

    recipe = recipe_of_module(Stand(), ("model_spec", "init_weights"))
    assert recipe == {"module": "mypkg.MyModule",
                      "hparams": {"lr": 0.01, "groups": [[0, 1], [2]], "tag": "runs/a"},
                      "batch_size": None, "omitted": ["weights", "root", "data", "gamma"]}
