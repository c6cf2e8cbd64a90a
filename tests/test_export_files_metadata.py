"""``model.safetensors`` says what the weights are to a user without pdesurrogate:
``safe_open(...).metadata()`` names the model class, its constructor arguments, the PDE and
the version, as config.json beside it does."""

import json

import torch
from safetensors import safe_open

from pdesurrogate import load
from pdesurrogate.export import export_surrogate
from pdesurrogate.export_files import weights_metadata
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule


def test_the_weights_file_names_its_model(tmp_path):
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), residual=True)
    m.data_info = {"pde": "burgers1d", "grid_shape": [16], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.2}
    out = export_surrogate(m, tmp_path / "model")
    with open(out / "config.json") as f:
        config = json.load(f)
    with safe_open(str(out / "model.safetensors"), framework="np") as f:
        meta = f.metadata()
    assert meta["format"] == "pt"  # torch's tensors, as before
    assert meta["model_class"] == config["model"]["class"] == "fno"
    assert json.loads(meta["model_init_args"]) == config["model"]["init_args"]
    assert meta["pde"] == "burgers1d"
    assert meta["pdesurrogate_version"] == config["pdesurrogate_version"]
    assert meta["format_version"] == str(config["format_version"])
    assert "config.json" in meta["config"]
    assert load(out).config["model"] == config["model"]  # still loads


def test_metadata_of_a_config_without_a_model_is_strings_only():
    meta = weights_metadata({"kind": "pinn", "format_version": 1, "model": "odd"})
    assert meta["kind"] == "pinn" and meta["format_version"] == "1"
    assert "model_class" not in meta and "model_init_args" not in meta
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
