"""An export records how good its model was and what wrote it: config.json's ``metrics`` (the
last validation's ``val/`` values with their epoch and step, each ModelCheckpoint's best score)
and ``versions`` (torch, lightning, neuraloperator), which ``load`` accepts and ``pdesurrogate
info`` shows; a checkpoint without them (older, or saved before any validation) exports without
metrics."""

import csv
import json
import math
import re
from pathlib import Path

import lightning
import neuralop
import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from pdesurrogate.cli import main
from pdesurrogate.export import export_surrogate
from pdesurrogate.fit_metrics import VALIDATION_KEY
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.pinn import SDGD, BallPoints, PINNModule, SineGordon
from pdesurrogate.run_record import CHECKPOINT_KEY
from pdesurrogate.training import FieldDataModule, NextStepModule
from tests import test_cli_fit

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")
VERSIONS = {"torch": torch.__version__, "lightning": lightning.__version__,
            "neuraloperator": neuralop.__version__}
#: the fixture of 10 Burgers trajectories of 3 frames on 32 points
data = test_cli_fit.data


def _trainer(root: Path, **kw) -> Trainer:
    return Trainer(**{"default_root_dir": root, "max_epochs": 2, "logger": False,
                      "enable_progress_bar": False,
                      "enable_model_summary": False, "accelerator": "cpu", "devices": 1,
                      "num_sanity_val_steps": 0, **kw})


def _config(out: Path) -> dict:
    def no_nan(word):
        raise ValueError(f"config.json holds {word}, which is not JSON")

    return json.loads((out / "config.json").read_text(), parse_constant=no_nan)


def test_the_export_holds_the_last_validation_as_metrics_csv_logged_it(tmp_path, data, capsys):
    """``pdesurrogate fit`` (2 epochs, validated each) -> ``export`` of last.ckpt: every
    ``val/`` metric of the last epoch's row of metrics.csv, exactly (both are the float32
    value widened to a float64), with that epoch; versions are the running libraries'."""
    root = tmp_path / "runs"
    assert main(["fit", "--config", CONFIG, "--data.init_args.path", data,
                 "--data.init_args.batch_size", "4",
                 "--model.init_args.model.init_args.hidden_channels", "8",
                 "--trainer.max_epochs", "2", "--trainer.default_root_dir", str(root),
                 "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
                 "--trainer.enable_progress_bar", "false"]) == 0
    run = root / "csv" / "version_0"
    with open(run / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["val/rel_l2"]]
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    logged = {k: float(v) for k, v in rows[-1].items() if k.startswith("val/") and v}
    assert {"val/rel_l2", "val/rel_l2_step_1", "val/rel_l2_step_2"} <= set(logged)

    out = tmp_path / "model"
    assert main(["export", str(run / "checkpoints" / "last.ckpt"), str(out)]) == 0
    cfg = _config(out)
    val = cfg["metrics"]["validation"]
    assert val["values"] == logged
    assert val["epoch"] == 1 and val["global_step"] == cfg["provenance"]["global_step"] == 8
    assert cfg["metrics"]["best"] == []  # the config's ModelCheckpoint monitors nothing
    assert cfg["versions"] == VERSIONS
    assert load(out).config["metrics"] == cfg["metrics"]

    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "metrics        last validation (epoch 1, global step 8):" in text, text
    assert re.search(rf"\n +val/rel_l2 +{re.escape(format(logged['val/rel_l2'], '.6g'))}\n",
                     text), text
    steps = sorted(int(k.rsplit("_", 1)[1]) for k in logged if "_step_" in k)
    first, last = (logged[f"val/rel_l2_step_{i}"] for i in (steps[0], steps[-1]))
    assert (f"val/rel_l2_step_{steps[0]}..{steps[-1]}  {first:.6g} .. {last:.6g} (first .. "
            f"last of {len(steps)} steps)\n") in text, text
    assert (f"torch {torch.__version__}, lightning {lightning.__version__}, neuraloperator "
            f"{neuralop.__version__}") in text, text
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["metrics"] == cfg["metrics"]
    assert {k: info["versions"][k] for k in VERSIONS} == VERSIONS


def test_a_module_and_its_best_checkpoint_record_the_monitored_best(tmp_path, data):
    """Exported from the module itself (as an online run exports): the trainer's last
    ``val/rel_l2``; a ModelCheckpoint monitoring it adds its best score and file, from the
    module's trainer or from the checkpoint it wrote. A module loaded from that checkpoint
    carries the checkpoint's record."""
    torch.manual_seed(0)
    module = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), lr=1e-2)
    best = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/rel_l2", save_top_k=1)
    trainer = _trainer(tmp_path, max_epochs=3, callbacks=[best])
    trainer.fit(module, FieldDataModule(data, batch_size=4))
    last = float(trainer.callback_metrics["val/rel_l2"])

    cfg = _config(export_surrogate(module, tmp_path / "from_module"))
    assert cfg["metrics"]["validation"]["values"]["val/rel_l2"] == last
    assert cfg["metrics"]["validation"]["epoch"] == 2
    want = [{"monitor": "val/rel_l2", "score": float(best.best_model_score),
             "path": best.best_model_path}]
    assert cfg["metrics"]["best"] == want
    assert cfg["versions"] == VERSIONS

    saved = torch.load(best.best_model_path, weights_only=True)
    record = saved[CHECKPOINT_KEY][VALIDATION_KEY]
    assert all(type(v) is float for v in record["values"].values())  # no tensors
    assert record["values"]["val/rel_l2"] == float(best.best_model_score)
    from_ckpt = _config(export_surrogate(best.best_model_path, tmp_path / "from_ckpt"))
    assert from_ckpt["metrics"] == {"validation": record, "best": want}

    reloaded = NextStepModule.load_from_checkpoint(best.best_model_path)
    again = _config(export_surrogate(reloaded, tmp_path / "reloaded"))
    assert again["metrics"] == {"validation": record, "best": []}


def test_without_a_record_the_export_has_no_metrics_and_loads(tmp_path, data, capsys):
    """A checkpoint written before metrics were recorded, and one saved after the sanity check
    alone (no validation of the fit yet), export with ``metrics`` null; info says so."""
    module = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1))
    # validation every 2nd epoch of 1: only the sanity check's 2 batches run
    trainer = _trainer(tmp_path, max_epochs=1, num_sanity_val_steps=2, check_val_every_n_epoch=2)
    trainer.fit(module, FieldDataModule(data, batch_size=4))
    unvalidated = tmp_path / "unvalidated.ckpt"
    trainer.save_checkpoint(unvalidated)
    assert torch.load(unvalidated, weights_only=True)[CHECKPOINT_KEY][VALIDATION_KEY] is None

    trainer.validate(module, FieldDataModule(data, batch_size=4), verbose=False)
    older = tmp_path / "older.ckpt"
    trainer.save_checkpoint(older)
    ckpt = torch.load(older, weights_only=True)
    assert ckpt[CHECKPOINT_KEY].pop(VALIDATION_KEY)["values"]  # validated: then dropped
    torch.save(ckpt, older)

    for ckpt_path in (unvalidated, older):
        out = export_surrogate(ckpt_path, tmp_path / ckpt_path.stem)
        cfg = _config(out)
        assert cfg["metrics"] is None and cfg["versions"] == VERSIONS
        assert load(out).config["metrics"] is None
        capsys.readouterr()
        assert main(["info", str(out)]) == 0
        assert "  metrics        not recorded in the export\n" in capsys.readouterr().out


def test_a_nan_metric_is_written_as_a_string_and_load_checks_the_keys(tmp_path, data):
    """JSON has no NaN: a diverged validation's value is written "nan" (strict JSON), and
    loads; a malformed ``metrics`` or ``versions`` is refused naming the key. An export
    without either (older) loads."""
    module = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1))
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(module, FieldDataModule(data, batch_size=4))
    path = tmp_path / "nan.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    ckpt[CHECKPOINT_KEY][VALIDATION_KEY]["values"]["val/rel_l2"] = math.nan
    torch.save(ckpt, path)
    out = export_surrogate(path, tmp_path / "nan")
    cfg = _config(out)  # refuses a bare NaN
    assert cfg["metrics"]["validation"]["values"]["val/rel_l2"] == "nan"
    assert load(out).config["metrics"]["validation"]["values"]["val/rel_l2"] == "nan"

    good = cfg
    for key, bad, match in (
            ("metrics", {"validation": {"epoch": 0, "global_step": 4,
                                        "values": {"val/rel_l2": "x"}}, "best": []},
             r"metrics\.validation\.values must be an object of numbers"),
            ("metrics", {"validation": None}, r"metrics must be null or an object with keys"),
            ("metrics", {"validation": None, "best": [{"monitor": "val/rel_l2"}]},
             r"metrics\.best\[0\] must be an object"),
            ("versions", {"torch": 2}, r"versions must be null or an object of library names")):
        (out / "config.json").write_text(json.dumps({**good, key: bad}))
        with pytest.raises(ValueError, match=match):
            load(out)
    older = {k: v for k, v in good.items() if k not in ("metrics", "versions")}
    (out / "config.json").write_text(json.dumps(older))
    assert "metrics" not in load(out).config


def test_a_pinn_export_records_its_validation(tmp_path):
    """The PINN module keeps the same record: its last ``val/rel_l2``, and the versions."""
    module = PINNModule(SineGordon(3, seed=4), SDGD(2), width=8, depth=2)
    trainer = _trainer(tmp_path, max_epochs=2)
    trainer.fit(module, BallPoints(batch_size=8, steps_per_epoch=2, val_points=16))
    ckpt = tmp_path / "pinn.ckpt"
    trainer.save_checkpoint(ckpt)
    last = float(trainer.callback_metrics["val/rel_l2"])
    for source, name in ((module, "from_module"), (str(ckpt), "from_ckpt")):
        cfg = _config(export_surrogate(source, tmp_path / name))
        assert cfg["metrics"]["validation"] == {"epoch": 1, "global_step": 4,
                                                "values": {"val/rel_l2": last}}
        assert cfg["versions"] == VERSIONS
        assert load(tmp_path / name).config["metrics"] == cfg["metrics"]
