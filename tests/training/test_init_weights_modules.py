"""init_weights for the modules built on NextStepModule: a RefinerModule and an All2AllModule
fit from an export start with its weights and record it in their own export."""

import json

from lightning.pytorch import Trainer

from pdesurrogate import export_surrogate, load
from pdesurrogate.training import All2AllDataModule, All2AllModule, RefinerModule

from .test_all2all import _scot, advection2d_file  # noqa: F401 (a fixture)
from .test_init_weights import AtFirstStep, _same
from .test_refiner import _refiner


def _fit_export(module, data, root, callbacks=()):
    Trainer(default_root_dir=root, max_epochs=1, accelerator="cpu", devices=1, logger=False,
            enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
            num_sanity_val_steps=0, callbacks=list(callbacks)).fit(module, data)
    return export_surrogate(module, root / "export")


def _check_fine_tuning(make, data, tmp_path):
    export = _fit_export(make(None), data, tmp_path / "pre")
    at = AtFirstStep()
    out = _fit_export(make(str(export)), data, tmp_path / "fine", callbacks=[at])
    # the fresh model's weights are the first fit's initial ones (same seed): only the
    # weights read from the export make these equal
    assert _same(at.state, dict(load(export).model.state_dict()))
    prov = json.loads((out / "config.json").read_text())["provenance"]
    assert prov["init_weights"] == str(export.resolve())


def test_a_refiner_fit_from_an_export_starts_with_its_weights(advection_file, tmp_path):
    from pdesurrogate.training import FieldDataModule

    _check_fine_tuning(lambda w: RefinerModule(_refiner(2, 1e-2), lr=3e-3, init_weights=w),
                       FieldDataModule(str(advection_file), batch_size=4), tmp_path)


def test_an_all2all_fit_from_an_export_starts_with_its_weights(advection2d_file,  # noqa: F811
                                                                tmp_path):
    dm = All2AllDataModule(str(advection2d_file), batch_size=8, fractions=(4 / 6, 1 / 6, 1 / 6))
    _check_fine_tuning(lambda w: All2AllModule(_scot(), lr=3e-3, init_weights=w), dm, tmp_path)
