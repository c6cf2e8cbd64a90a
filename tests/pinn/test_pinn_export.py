"""PINN export -> pdesurrogate.load round trips (u at points), from a module, a checkpoint and
the CLI (fit with the shipped config, export, load); the provenance each records (a field
surrogate's keys that apply to a PINN: no training data); and the refusals."""

import json
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from lightning.pytorch import Trainer

import pdesurrogate
from pdesurrogate.cli import main
from pdesurrogate.export import export_surrogate
from pdesurrogate.pinn import SDGD, BallPoints, PINNModule, PINNSurrogate, SineGordon, sample_ball
from pdesurrogate.provenance import RUN_PROVENANCE_KEYS, git_state

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_inherited_seed(monkeypatch):
    """The provenance records a fit's seed_everything seed: a PL_GLOBAL_SEED that an earlier
    test's seed_everything (or the shell) left would be recorded instead of None."""
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)


@pytest.fixture
def module():
    torch.manual_seed(0)
    return PINNModule(SineGordon(5, seed=4), SDGD(2), width=8, depth=2)


def test_round_trip_from_module(module, tmp_path):
    out = export_surrogate(module, tmp_path / "pinn")
    sur = pdesurrogate.load(out)
    assert isinstance(sur, PINNSurrogate) and sur.dim == 5
    x = sample_ball(7, 5)
    torch.testing.assert_close(sur(x), module(x).detach(), rtol=0, atol=0)
    torch.testing.assert_close(sur.exact(x), module.problem.exact(x), rtol=0, atol=0)
    one = sur.predict(x[0].numpy())
    assert isinstance(one, np.ndarray) and one.shape == ()
    np.testing.assert_array_equal(sur.predict(x.numpy()), module(x).detach().numpy())
    cfg = sur.config
    assert cfg["kind"] == "pinn" and cfg["problem"] == {"name": "sine_gordon", "dim": 5, "seed": 4}
    commit, dirty = git_state()
    assert cfg["provenance"].pop("recipe")["module"] == "pdesurrogate.pinn.PINNModule"
    assert cfg["provenance"] == {"checkpoint": None, "epoch": None, "global_step": None,
                                 "seed_everything": None, "git_commit": commit,
                                 "git_dirty": dirty}
    assert cfg["training"]["estimator"] == {"name": "sdgd", "init_args": {"dim_batch": 2}}
    with pytest.raises(ValueError, match=r"points of shape \(N, 5\)"):
        sur(np.zeros((2, 3)))
    with pytest.raises(FileExistsError):
        export_surrogate(module, out)


def test_round_trip_from_checkpoint(module, tmp_path):
    trainer = Trainer(max_steps=2, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0)
    trainer.fit(module, BallPoints(batch_size=8, steps_per_epoch=2))
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    sur = pdesurrogate.load(export_surrogate(ckpt, tmp_path / "a"))
    x = sample_ball(4, 5)
    torch.testing.assert_close(sur(x), module(x).detach(), rtol=0, atol=0)
    # the run it came from: the checkpoint, the counters it was written at, the commit
    raw = torch.load(ckpt, weights_only=True)
    commit, dirty = git_state()
    assert raw["global_step"] == 2
    prov = sur.config["provenance"]
    assert prov.pop("recipe")["module"] is None  # a checkpoint not of LightningCLI's
    assert prov == {
        "checkpoint": str(ckpt), "epoch": raw["epoch"], "global_step": 2,
        "seed_everything": None, "git_commit": commit, "git_dirty": dirty}
    prov = pdesurrogate.load(export_surrogate(module, tmp_path / "b")).config["provenance"]
    assert (prov["epoch"], prov["global_step"]) == (module.current_epoch, 2)
    assert list(prov) == [*RUN_PROVENANCE_KEYS, "recipe"]


def test_provenance_records_the_fits_seed(tmp_path):
    """A fit seeded with ``seed_everything(11)`` records 11, from the module and from its
    checkpoint; the unseeded fit that follows in the same process records none."""
    from lightning.pytorch import seed_everything

    def fit(seeded: bool):
        if seeded:
            seed_everything(11, verbose=False)
        m = PINNModule(SineGordon(dim=3), SDGD(dim_batch=2), width=8, depth=2)
        trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False,
                          limit_val_batches=0)
        trainer.fit(m, BallPoints(batch_size=4, steps_per_epoch=1))
        return m, trainer

    m, trainer = fit(True)
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    for i, src in enumerate((m, ckpt)):
        prov = pdesurrogate.load(export_surrogate(src, tmp_path / f"e{i}")).config["provenance"]
        assert prov["seed_everything"] == 11
    m2, _ = fit(False)
    prov = pdesurrogate.load(export_surrogate(m2, tmp_path / "e2")).config["provenance"]
    assert prov["seed_everything"] is None


def test_loader_checks_provenance_as_for_field_surrogates(module, tmp_path):
    """An export older than provenance loads; a misspelt, foreign (a field surrogate's
    data_source) or mistyped key is refused, as for field surrogates."""
    out = export_surrogate(module, tmp_path / "p")
    cfg_path = out / "config.json"
    good = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({k: v for k, v in good.items() if k != "provenance"}))
    assert "provenance" not in pdesurrogate.load(out).config
    cfg_path.write_text(json.dumps({**good, "provenance": None}))
    assert pdesurrogate.load(out).config["provenance"] is None
    for bad, match in ((dict(good["provenance"], comit="abc"),
                        r"provenance has unknown key\(s\) \['comit'\]"),
                       (dict(good["provenance"], data_source=None),
                        r"provenance has unknown key\(s\) \['data_source'\]"),
                       (dict(good["provenance"], global_step=2.5),
                        r"provenance\.global_step must be an int or null, got 2\.5"),
                       ([1], r"provenance must be null or an object, got list")):
        cfg_path.write_text(json.dumps({**good, "provenance": bad}))
        with pytest.raises(ValueError, match=r"config\.json'?: " + match):
            pdesurrogate.load(out)


def test_refuses_bad_config_and_pickles(module, tmp_path):
    out = export_surrogate(module, tmp_path / "p")
    cfg = json.loads((out / "config.json").read_text())
    bad = dict(cfg, extra=1)
    (out / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['extra'\]"):
        pdesurrogate.load(out)
    bad = dict(cfg, problem={"name": "heat", "dim": 5, "seed": 0})
    (out / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="unknown problem 'heat'"):
        pdesurrogate.load(out)
    (out / "config.json").write_text(json.dumps(cfg))
    with open(out / "model.safetensors", "wb") as f:
        pickle.dump({"net.out.bias": torch.zeros(1)}, f)
    with pytest.raises(ValueError, match="pickle"):
        pdesurrogate.load(out)


def test_cli_fit_with_shipped_config_then_export_and_load(tmp_path):
    """`pdesurrogate fit --config configs/fit/pinn_poisson_1000d.yaml` (shrunk to d = 12 and
    three steps), then `pdesurrogate export` of last.ckpt and `pdesurrogate.load`."""
    cfg = ROOT / "configs" / "fit" / "pinn_poisson_1000d.yaml"
    root = tmp_path / "run"
    rc = main(["fit", "--config", str(cfg), "--trainer.max_steps", "3",
               "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
               "--trainer.limit_val_batches", "1", "--trainer.enable_model_summary", "false",
               "--model.init_args.problem.init_args.dim", "12",
               "--model.init_args.estimator.init_args.dim_batch", "4",
               "--model.init_args.width", "8", "--data.init_args.val_points", "20"])
    assert rc == 0
    ckpts = list(root.rglob("last.ckpt"))
    assert len(ckpts) == 1
    # the logger's hparams.yaml has the specs (not null), as the checkpoint does
    hparams = yaml.safe_load((ckpts[0].parents[1] / "hparams.yaml").read_text())
    assert hparams["problem_spec"] == {"name": "poisson", "dim": 12, "seed": 0}
    assert hparams["estimator_spec"] == {"name": "sdgd", "init_args": {"dim_batch": 4}}
    out = tmp_path / "model"
    assert main(["export", str(ckpts[0]), str(out)]) == 0
    sur = pdesurrogate.load(out)
    assert sur.dim == 12 and sur.config["problem"]["name"] == "poisson"
    assert sur(sample_ball(3, 12)).shape == (3,)


def test_cli_fit_names_a_misspelt_key(tmp_path, capsys):
    cfg = ROOT / "configs" / "fit" / "pinn_poisson_1000d.yaml"
    assert main(["fit", "--config", str(cfg), "--model.init_args.dim_batchh", "3",
                 "--trainer.default_root_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "dim_batchh" in err and "usage" not in err


def test_export_pinn_reads_checkpoints_as_the_general_exporter_does(tmp_path):
    """A file that is not a checkpoint: the same one-line error as ``pdesurrogate export``."""
    from pdesurrogate.pinn.export import export_pinn

    bad = tmp_path / "notes.ckpt"
    bad.write_text("not a checkpoint\n")
    with pytest.raises(ValueError, match=r"notes\.ckpt': not a Lightning checkpoint \(it is a "
                                         r"text file\)"):
        export_pinn(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad, got", [
    (np.full((2, 5), np.nan), "2 of the 2 point"),
    (torch.tensor([[0.1, 0.0, 0.0, 0.0, float("inf")]]), "1 of the 1 point"),
    (np.full((2, 5), 0.1 + 0.1j), "dtype complex128"),
    (torch.zeros(2, 5, dtype=torch.complex64), "dtype torch.complex64"),
    ("abc", "'abc'"),
    (None, "None"),
    ([[0.1] * 5, [0.1] * 4], "ragged"),
    (np.zeros((2, 5), dtype=bool), "dtype bool"),
], ids=["nan", "inf", "complex", "complex-tensor", "str", "none", "ragged", "bool"])
def test_predict_and_exact_refuse_non_real_or_non_finite_points(module, tmp_path, bad, got):
    sur = pdesurrogate.load(export_surrogate(module, tmp_path / "p"))
    for fn in (sur.predict, sur.exact):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no torch warning on the way to the error
            with pytest.raises(ValueError, match="expected real finite numbers") as info:
                fn(bad)
        assert got in str(info.value) and "\n" not in str(info.value)


def test_predict_warns_once_for_points_outside_the_ball_and_returns_float32(module, tmp_path):
    sur = pdesurrogate.load(export_surrogate(module, tmp_path / "p"))
    x = sample_ball(6, 5, torch.Generator().manual_seed(0), torch.float64)
    x[:2] *= 3  # two points outside the unit ball
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        u = sur.predict(x)
        u_np = sur.predict(x.numpy())
        exact = sur.exact(x)
    messages = [str(w.message) for w in caught]
    assert messages == ["2 of the 6 point(s) lie outside the unit ball (|x| > 1); the PINN "
                        "was trained on the ball only"] * 3, messages
    assert all(w.filename == __file__ for w in caught)  # points at the caller's line
    assert u.dtype == exact.dtype == torch.float32 and u_np.dtype == np.float32
    torch.testing.assert_close(u, module(x.float()).detach(), rtol=0, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside the ball, and on the sphere: no warning
        sur.predict(torch.cat([sample_ball(3, 5), torch.eye(5)]))


def test_loading_an_export_imports_neither_lightning_nor_neuralop(module, tmp_path):
    """``pdesurrogate.load`` of a PINN and the torch-only names of ``pdesurrogate.pinn`` leave
    Lightning (seconds to import) and neuralop out; PINNModule and BallPoints still import from
    the package (on first use). In a fresh interpreter, as a user's notebook would be."""
    out = export_surrogate(module, tmp_path / "p")
    x = sample_ball(3, 5)
    np.save(tmp_path / "x.npy", x.numpy())
    script = f"""
import sys
import numpy as np
import pdesurrogate
sur = pdesurrogate.load({str(out)!r})
u = sur.predict(np.load({str(tmp_path / "x.npy")!r}))
from pdesurrogate.pinn import (ESTIMATORS, PROBLEMS, PINNMLP, SDGD, sample_ball, sample_sphere,
                               second_derivatives)
SDGD(2), PROBLEMS["poisson"](4), sample_ball(2, 4)
print(sorted(m for m in ("lightning", "neuralop") if m in sys.modules))
np.save({str(tmp_path / "u.npy")!r}, u)
from pdesurrogate.pinn import BallPoints, PINNModule
import pdesurrogate.pinn as pinn
print(PINNModule.__module__, BallPoints.__module__, pinn.PINNModule is PINNModule,
      "BallPoints" in dir(pinn), "lightning" in sys.modules)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[-2] == "[]", run.stdout
    assert lines[-1] == "pdesurrogate.pinn.module pdesurrogate.pinn.points True True True"
    np.testing.assert_array_equal(np.load(tmp_path / "u.npy"), module(x).detach().numpy())


def test_a_huge_network_in_config_is_refused_before_it_is_built(module, tmp_path):
    """A config.json whose network is far larger than its weights (width 10**6: terabytes) is
    refused by the weights' header, naming model.safetensors; load_pinn reading config.json
    itself refuses one that is not a regular file, as load does."""
    import os

    from pdesurrogate.pinn.export import load_pinn

    out = export_surrogate(module, tmp_path / "pinn")
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["network"]["init_args"]["width"] = 10**6
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"model\.safetensors' does not match the model in "
                                         r"config\.json: .*expected \(1000000"):
        pdesurrogate.load(out)
    cfg_path.unlink()
    os.symlink("/dev/null", cfg_path)
    with pytest.raises(ValueError, match=r"config\.json' is not a regular file \(a device\)"):
        load_pinn(out)


def test_overwrite_replaces_a_pinn_export_only(module, tmp_path):
    """--overwrite replaces a PINN export; a folder holding anything else is refused, kept."""
    out = export_surrogate(module, tmp_path / "pinn")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"it holds 'notes\.txt', not only an export"):
        export_surrogate(module, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    assert export_surrogate(module, out, overwrite=True) == out
    assert isinstance(pdesurrogate.load(out), PINNSurrogate)
