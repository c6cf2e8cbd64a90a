"""Files written by older pdesurrogate versions (tests/fixtures/compat/, see its README) still
load with the current code, or are refused with an error that says what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from safetensors.torch import load_file

import pdesurrogate
from pdesurrogate.cli import main
from pdesurrogate.models import CAPEModule

OLD = Path(__file__).parent / "fixtures" / "compat" / "0f8a5e0"


@pytest.mark.parametrize("name", ["fno", "cape"])
def test_an_old_export_predicts_what_the_old_code_predicted(name, tmp_path):
    """The same rollout up to float32 rounding: an old export builds the model it was saved
    from (CAPE's padding_mode, which the export predates, as it was then: zeros)."""
    out = tmp_path / "pred.nc"
    rc = main(["predict", "--model", str(OLD / f"exp_{name}"), "--input", str(OLD / "burgers.nc"),
               "--out", str(out)])
    assert rc == 0
    with xr.open_dataset(OLD / f"pred_{name}.nc") as old, xr.open_dataset(out) as new:
        assert set(old.data_vars) <= set(new.data_vars)
        for var in old.data_vars:
            # float tolerance: the same thread count gives the same bits (checked with the
            # CLI), but the tests run one thread, which sums in another order (1 ulp seen)
            np.testing.assert_allclose(new[var].values, old[var].values, rtol=1e-6,
                                       atol=1e-6, err_msg=var)


def _old_run(tmp_path: Path) -> tuple[Path, Path]:
    """The old CAPE fit's config.yaml, its paths moved under ``tmp_path``, and its last.ckpt."""
    shutil.copy(OLD / "burgers.nc", tmp_path / "burgers.nc")
    text = (OLD / "cape_config.yaml").read_text().replace("/tmp/compat/0f8a5e0", str(tmp_path))
    config = tmp_path / "config.yaml"
    config.write_text(text)
    return config, OLD / "cape_last.ckpt"


def test_an_old_cape_checkpoint_is_tested_with_the_flag_the_refusal_names(tmp_path, capsys):
    """The old fit's own config.yaml lacks padding_mode, so it now builds today's default
    (circular) around weights trained with zeros: refused, naming the flag that builds the
    checkpoint's model and why the saved config does not (it is the saved config); with the
    flag, test runs."""
    config, ckpt = _old_run(tmp_path)
    args = ["test", "--config", str(config), "--ckpt_path", str(ckpt),
            "--trainer.enable_progress_bar", "false"]
    assert main(args) == 2
    err = capsys.readouterr().err
    flag = "--model.init_args.model.init_args.cape.init_args.padding_mode zeros"
    assert f"(under model.init_args.model: {flag})" in err, err
    assert "added after an older pdesurrogate wrote the checkpoint" in err, err
    assert "the config that fit saved" not in err, err
    assert main([*args, *flag.split()]) == 0, capsys.readouterr().err


def test_an_old_checkpoint_exports_as_the_old_code_exported_it(tmp_path):
    """pdesurrogate export of the old last.ckpt: the same weights as the old export, and it
    loads as the model that was trained (CAPE padding with zeros, as before the argument)."""
    out = tmp_path / "exp"
    assert main(["export", str(OLD / "cape_last.ckpt"), str(out)]) == 0
    old = load_file(OLD / "exp_cape" / "model.safetensors")
    new = load_file(out / "model.safetensors")
    assert old.keys() == new.keys() and all(old[k].equal(new[k]) for k in old)
    cape = [m for m in pdesurrogate.load(out).model.modules() if isinstance(m, CAPEModule)]
    assert [m.padding_mode for m in cape] == ["zeros"]


def test_an_old_exports_version_2_fingerprint_still_recognises_its_training_file(tmp_path,
                                                                                 capsys):
    """An export of 29d9f96 records its training file's fingerprint in version 2; predict on
    that file recomputes it in that version and reports the held-out split apart."""
    old = OLD.parent / "29d9f96"
    config = (old / "exp_fno" / "config.json").read_text()
    assert '"sha256:v2:' in config
    rc = main(["predict", "--model", str(old / "exp_fno"), "--input", str(old / "burgers.nc"),
               "--out", str(tmp_path / "pred.nc")])
    said = capsys.readouterr()
    out = " ".join((said.out + said.err).split())
    assert rc == 0
    assert "is the file the model was trained on (same content fingerprint)" in out, out
    assert "held-out test split alone (1 trajectory)" in out, out
