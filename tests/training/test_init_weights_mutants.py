"""init_weights in the cases test_init_weights leaves open: a relative path is recorded as the
absolute one, a module fit twice keeps its first fit's weights, weights fit with another
``residual`` warn, a chain of fine-tunings lists its data oldest first, and bad provenance or an
empty path is refused. Each kills a mutant of the code that test_init_weights let through."""

import json

import pytest
import torch

from pdesurrogate import export_surrogate, load
from pdesurrogate.training import NextStepModule

from .test_init_weights import AtFirstStep, _fit, _fno, _same, pretrained  # noqa: F401


@pytest.mark.parametrize("which", ["export", "checkpoint"])
def test_a_relative_path_is_recorded_absolute(pretrained, tmp_path, monkeypatch, which):  # noqa: F811
    data, ckpt, export = pretrained
    monkeypatch.chdir(tmp_path)
    given = (export if which == "export" else ckpt).relative_to(tmp_path)
    module = NextStepModule(_fno(), init_weights=str(given))
    _fit(module, data, tmp_path / "fine")
    assert module.data_info["init_weights"] == str(tmp_path / given)


def test_a_module_fit_twice_keeps_its_first_fits_weights(pretrained, tmp_path):  # noqa: F811
    data, _, export = pretrained
    module = NextStepModule(_fno(), lr=1e-2, init_weights=str(export))
    _fit(module, data, tmp_path / "one")
    after_first = {k: v.clone() for k, v in module.model.state_dict().items()}
    assert not _same(after_first, dict(load(export).model.state_dict()))
    at = AtFirstStep()
    _fit(module, data, tmp_path / "two", callbacks=[at])
    assert _same(at.state, after_first)


def test_weights_fit_with_another_residual_warn(pretrained, tmp_path):  # noqa: F811
    data, _, export = pretrained
    with pytest.warns(UserWarning, match=r"was fit with residual=False, this fit has "
                                         r"residual=True"):
        _fit(NextStepModule(_fno(), residual=True, init_weights=str(export)), data,
             tmp_path / "res")


def test_fine_tuned_twice_lists_the_data_oldest_first(pretrained, tmp_path,  # noqa: F811
                                                      burgers_file):
    data, _, export = pretrained
    first_source = json.loads((export / "config.json").read_text())["provenance"]["data_source"]
    second = NextStepModule(_fno(), init_weights=str(export))
    _fit(second, str(burgers_file(32, 10, 6)), tmp_path / "second")
    middle = export_surrogate(second, tmp_path / "middle")
    middle_source = json.loads((middle / "config.json").read_text())["provenance"]["data_source"]
    assert middle_source["path"] != first_source["path"]
    third = NextStepModule(_fno(), init_weights=str(middle))
    _fit(third, data, tmp_path / "third")
    last = export_surrogate(third, tmp_path / "last")
    prov = json.loads((last / "config.json").read_text())["provenance"]
    assert prov["fine_tuned_from"] == [first_source, middle_source]
    assert prov["init_weights"] == str(middle.resolve())


def test_bad_provenance_and_an_empty_path_are_refused(pretrained, tmp_path):  # noqa: F811
    data, _, export = pretrained
    config = export / "config.json"
    cfg = json.loads(config.read_text())
    cfg["provenance"]["init_weights"] = 3
    config.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"provenance.init_weights must be a string"):
        load(export)
    # read as init_weights: the earlier records it would carry on are checked first
    cfg["provenance"]["init_weights"] = "x"
    cfg["provenance"]["fine_tuned_from"] = "not a list"
    config.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"config.json.*fine_tuned_from"):
        _fit(NextStepModule(_fno(), init_weights=str(export)), data, tmp_path / "bad")
    with pytest.raises(ValueError, match=r"init_weights must be the path .* got ''"):
        NextStepModule(_fno(), init_weights="")
    weights = torch.nn.Linear(1, 1)  # not a path at all
    with pytest.raises(ValueError, match=r"init_weights must be the path"):
        NextStepModule(_fno(), init_weights=weights)


def test_one_file_of_an_export_is_refused_naming_its_folder(pretrained, tmp_path):  # noqa: F811
    data, _, export = pretrained
    for name in ("config.json", "model.safetensors"):
        with pytest.raises(ValueError, match=r"is one file of an export; give its folder"):
            _fit(NextStepModule(_fno(), init_weights=str(export / name)), data, tmp_path / "f")


def test_a_tensor_missing_or_extra_is_one_error_and_loads_nothing():
    from pdesurrogate.training.init_weights import TrainedWeights, load_trained_weights

    model, other = _fno(), _fno()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    full = dict(other.state_dict())
    dropped = next(iter(full))
    cases = (({k: v for k, v in full.items() if k != dropped},
              rf"1 tensor\(s\) of this fit's model not in the file \({dropped}\)"),
             ({**full, "extra.weight": torch.zeros(1)},
              r"1 tensor\(s\) in the file this model lacks \(extra.weight\)"))
    for tensors, message in cases:
        with pytest.raises(ValueError, match=message):
            load_trained_weights(model, None, False, TrainedWeights("/w", tensors))
        assert _same(dict(model.state_dict()), before)


def test_a_checkpoint_without_model_entries_is_refused(pretrained, tmp_path):  # noqa: F811
    # a LightningModule of the user's own, whose network is not its attribute 'model'
    data, ckpt, _ = pretrained
    saved = torch.load(ckpt, weights_only=True)
    saved["state_dict"] = {f"net.{k[len('model.'):]}": v for k, v in saved["state_dict"].items()}
    other = tmp_path / "other.ckpt"
    torch.save(saved, other)
    with pytest.raises(ValueError, match=r"its state_dict holds no 'model.' weights"):
        _fit(NextStepModule(_fno(), init_weights=str(other)), data, tmp_path / "o")


def test_fit_twice_without_a_datamodule_records_the_earlier_data_once(pretrained, tmp_path):  # noqa: F811
    from lightning.pytorch import Trainer

    from pdesurrogate.training import FieldDataModule

    data, _, export = pretrained
    dm = FieldDataModule(data, batch_size=4)
    dm.setup("fit")
    module = NextStepModule(_fno(), init_weights=str(export))
    module.set_normalization(dm.stats)
    for root in ("one", "two"):
        Trainer(default_root_dir=tmp_path / root, max_epochs=1, accelerator="cpu",
                logger=False, enable_progress_bar=False, enable_model_summary=False,
                enable_checkpointing=False).fit(module, train_dataloaders=dm.train_dataloader())
        assert len(module.data_info["fine_tuned_from"]) == 1, module.data_info
