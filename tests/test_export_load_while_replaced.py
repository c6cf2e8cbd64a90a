"""load() of an export that another process replaces (export --overwrite into the same folder)
while it is read: config.json and model.safetensors come from one export, never the config of
the old with the weights of the new."""

import shutil

import pytest
import torch

from pdesurrogate import loading
from pdesurrogate.datasets import ChannelStats
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.temp_files import BACKUP, temp_name
from tests.test_export_files import _module


def _export(seed: int, out, overwrite: bool = False):
    m = _module(seed)
    # its mean says which export a loaded config came from
    m.set_normalization(ChannelStats(mean=[float(seed)], std=[2.0], spatial_dims=1,
                                     param_names=[], param_mean=[], param_std=[]))
    export_surrogate(m, out, overwrite=overwrite)
    return next(iter(m.model.state_dict().values()))


def test_a_folder_replaced_between_config_and_weights_is_read_again(tmp_path, monkeypatch):
    out = tmp_path / "model"
    _export(0, out)
    real = loading.read_weights
    new = []

    def replaced_meanwhile(path):
        # config.json of export 0 read; export 1 renamed in before the weights (the export's
        # own check of its temporary folder reads weights too: left alone)
        if not new and path.parent == out:
            new.append(_export(1, out, overwrite=True))
        return real(path)

    monkeypatch.setattr(loading, "read_weights", replaced_meanwhile)
    sur = load(out)
    assert float(sur.config["normalization"]["mean"][0]) == 1.0
    torch.testing.assert_close(next(iter(sur.model.state_dict().values())), new[0],
                               rtol=0, atol=0)


def test_a_folder_replaced_at_every_read_is_an_error_naming_it(tmp_path, monkeypatch):
    out = tmp_path / "model"
    _export(0, out)
    real = loading.read_weights
    seeds = iter(range(1, 100))

    def always_replaced(path):
        if path.parent == out:
            _export(next(seeds), out, overwrite=True)
        return real(path)

    monkeypatch.setattr(loading, "read_weights", always_replaced)
    with pytest.raises(RuntimeError, match=r"model' was replaced \d+ times while it was read"):
        load(out)


def test_a_load_between_the_two_renames_waits_for_the_new_export(tmp_path, monkeypatch):
    out = tmp_path / "model"
    _export(0, out)
    aside = temp_name(out, BACKUP)  # another export has moved the old folder aside...
    out.rename(aside)
    new = tmp_path / "new"
    weights = _export(1, new)

    def new_one_renamed_in(seconds):  # ...and renames its new one in while load waits
        if not out.exists():
            new.rename(out)
            shutil.rmtree(aside)

    monkeypatch.setattr(loading.time, "sleep", new_one_renamed_in)
    sur = load(out)
    torch.testing.assert_close(next(iter(sur.model.state_dict().values())), weights,
                               rtol=0, atol=0)
