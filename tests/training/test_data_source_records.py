"""check_source on the records it did not know: a file's fingerprint of the first version
(checkpoints written before version 2) and an online run's stream."""

import json
import os
import shutil

import h5py
import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer

from pdesurrogate.datasets import open_dataset
from pdesurrogate.datasets.fingerprint import fingerprint
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule
from pdesurrogate.training.data_source import source_differences

STREAM = {"kind": "online",
          "solver": {"class_path": "pdesurrogate.solvers.Advection1D",
                     "init_args": {"n_points": 32}},
          "parameters": {"beta": [0.2, 1.0]}, "sampling": "halton", "seed": 0,
          "simulations": 24, "max_retries": 2, "n_steps": 6, "dt": 0.05,
          "validation": {"trajectories": 4, "seed": 1_000_003},
          "statistics": {"trajectories": 4, "seed": 2_000_003}}


def _trainer(**kw) -> Trainer:
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", devices=1, **kw)


def _module() -> NextStepModule:
    return NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1))


def _dm(path) -> FieldDataModule:
    return FieldDataModule(str(path), batch_size=4, fractions=(0.6, 0.2, 0.2), seed=3)


@pytest.fixture
def fitted(advection_file, tmp_path):
    trainer = _trainer(max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(_module(), _dm(advection_file))
    ckpt = tmp_path / "fit.ckpt"
    trainer.save_checkpoint(ckpt)
    return advection_file, ckpt


def _with_source(ckpt, tmp_path, name: str, **source):
    raw = torch.load(ckpt, weights_only=True)
    info = raw["pdesurrogate"]["data_info"]
    info["source"] = source.pop("whole", None) or {**info["source"], **source}
    path = tmp_path / name
    torch.save(raw, path)
    return path


def test_a_version_1_fingerprint_still_matches_its_unchanged_file(fitted, tmp_path):
    """A checkpoint written before fingerprint version 2 records a version-1 string: test on
    the same (unchanged) file runs; on a file changed where version 1 looks, it is refused."""
    data, ckpt = fitted
    with open_dataset(data) as d:
        old_fp = fingerprint(d, version=1)
    old = _with_source(ckpt, tmp_path, "old.ckpt", fingerprint=old_fp)
    (res,) = _trainer().test(_module(), _dm(data), ckpt_path=old, verbose=False)
    assert np.isfinite(res["test/rel_l2"])
    edited = tmp_path / "edited.nc"
    shutil.copy(data, edited)
    with h5py.File(edited, "r+") as f:  # the first trajectory edited in place
        f["u"][0, 0, 0, 0] += 1.0
    with pytest.raises(ValueError, match=rf"this test reads other data.*data fingerprint "
                                         rf"{old_fp} of '{os.path.abspath(data)}' "
                                         rf"\(checkpoint\) vs sha256:v3:\S+ of '{edited}'"):
        _trainer().test(_module(), _dm(edited), ckpt_path=old, verbose=False)


def test_an_online_checkpoint_tests_on_a_file_and_keeps_its_stream(fitted, tmp_path):
    """An online run's checkpoint (its source a stream) tested on a generated file: no file
    split could repeat its training trajectories, so nothing is refused, and the module still
    records the stream (no file path mixed into it)."""
    data, ckpt = fitted
    online = _with_source(ckpt, tmp_path, "online.ckpt", whole=STREAM)
    module = _module()
    (res,) = _trainer().test(module, _dm(data), ckpt_path=online, verbose=False)
    assert np.isfinite(res["test/rel_l2"])
    assert module.data_info["source"] == STREAM


def test_stream_records_compare_by_their_settings():
    def info(source):
        return {"k": 1, "source": source}

    file = {"path": "a.nc", "fingerprint": "sha256:v2:" + "0" * 64, "n_trajectories": 10,
            "fractions": [0.6, 0.2, 0.2], "seed": 3, "max_train_trajectories": None}
    assert source_differences(info(STREAM), info(dict(STREAM)), "fit") == []
    assert source_differences(info(STREAM), info({**STREAM, "simulations": 25}), "fit") == [
        "data stream's simulations 24 (checkpoint) vs 25 (now)"]
    assert source_differences(info(STREAM), info(file), "test") == []
    assert source_differences(info(file), info(STREAM), "fit") == [
        "data file 'a.nc' (checkpoint) vs an online stream (now)"]


def test_an_online_checkpoint_fine_tuned_on_a_file_records_the_file(fitted, tmp_path):
    """A fit resumed from an online run's checkpoint on a file records the file as the
    source of this run, with the stream kept under ``fine_tuned_from``; its export names the
    file, the data the weights were last fit on."""
    data, ckpt = fitted
    online = _with_source(ckpt, tmp_path, "online.ckpt", whole=STREAM)
    module, dm = _module(), _dm(data)
    _trainer(max_epochs=2, num_sanity_val_steps=0).fit(module, dm, ckpt_path=online)
    assert module.data_info["source"] == dm.data_info["source"]
    assert module.data_info["fine_tuned_from"] == [STREAM]
    out = export_surrogate(module, tmp_path / "export")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["provenance"]["data_source"]["path"] == os.path.abspath(data)


def test_an_export_of_a_fine_tuned_checkpoint_names_what_it_was_fit_on_before(fitted, tmp_path):
    """``pdesurrogate export`` of the fine-tuned fit's checkpoint writes the stream under
    provenance.fine_tuned_from (the file stays data_source), and load gives it back; a
    mistyped entry is refused naming the key and index."""
    from pdesurrogate.cli import main
    from pdesurrogate.loading import load

    data, ckpt = fitted
    online = _with_source(ckpt, tmp_path, "online.ckpt", whole=STREAM)
    module, dm = _module(), _dm(data)
    trainer = _trainer(max_epochs=2, num_sanity_val_steps=0)
    trainer.fit(module, dm, ckpt_path=online)
    tuned = tmp_path / "tuned.ckpt"
    trainer.save_checkpoint(tuned)
    out = tmp_path / "export"
    assert main(["export", str(tuned), str(out)]) == 0
    prov = load(out).config["provenance"]
    assert prov["fine_tuned_from"] == [STREAM]
    assert prov["data_source"] == dm.data_info["source"]

    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["provenance"]["fine_tuned_from"] = [dict(STREAM, seed="0")]
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"provenance\.fine_tuned_from\[0\]\.seed must be an "
                                         r"int, got '0'"):
        load(out)
    cfg["provenance"]["fine_tuned_from"] = STREAM
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"provenance\.fine_tuned_from must be a list of "
                                         r"data-source records"):
        load(out)
