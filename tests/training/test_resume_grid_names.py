"""A fit resumed from a checkpoint written before ``data_info`` named the spatial axes
(``grid_names``, commit 69deb79) takes the names of the same file read now, so that its export
records them (before: ``grid_names: null``, and predict skipped the axis-order check). CPU,
seconds."""

import json

import torch
from lightning.pytorch import Trainer

from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule
from pdesurrogate.training.data_source import resumed_record


def _trainer(**kw) -> Trainer:
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", devices=1,
                   num_sanity_val_steps=0, **kw)


def _dm(path) -> FieldDataModule:
    return FieldDataModule(str(path), batch_size=4, fractions=(0.6, 0.2, 0.2), seed=3)


def test_a_fit_resumed_from_a_checkpoint_without_grid_names_exports_them(advection_file,
                                                                        tmp_path):
    trainer = _trainer(max_epochs=1)
    trainer.fit(NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1)), _dm(advection_file))
    trainer.save_checkpoint(tmp_path / "fit.ckpt")
    raw = torch.load(tmp_path / "fit.ckpt", weights_only=True)
    info = raw["pdesurrogate"]["data_info"]
    assert info.pop("grid_names") == ["x"]
    old = tmp_path / "before_grid_names.ckpt"
    torch.save(raw, old)

    module = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1))
    _trainer(max_epochs=2).fit(module, _dm(advection_file), ckpt_path=str(old))
    assert module.data_info["grid_names"] == ["x"]
    out = export_surrogate(module, tmp_path / "model")
    assert json.loads((out / "config.json").read_text())["grid_names"] == ["x"]

    # other data (another fingerprint) lends it no names
    other = {**module.data_info, "source": {**info["source"], "fingerprint": "v2:0000"}}
    assert "grid_names" not in resumed_record(info, other, "fit")

