"""A steady map's export (``"kind": "steady"``): export -> load predicts what the module
predicts, its rollout is refused, and a wrong value of its keys in config.json is one error
naming the file and the key."""

import json

import numpy as np
import pytest
import torch

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.steady_surrogate import SteadySurrogate
from pdesurrogate.training import SteadyModule

# a file's channels [a, u] with their (training split's) statistics; a parameter the model
# does not take, as darcy2d's a_pos
STATS = ChannelStats(mean=[7.5, 0.01], std=[4.5, 0.004], spatial_dims=2,
                     param_names=["a_pos"], param_mean=[12.0], param_std=[0.0],
                     param_min=[12.0], param_max=[12.0])
INFO = {"pde": "darcy2d", "grid_shape": [8, 8], "channel_names": ["a", "u"],
        "param_names": ["a_pos"], "inputs": ["a"], "targets": ["u"], "k": 1, "dt": None}


@pytest.fixture
def exported(tmp_path):
    torch.manual_seed(0)
    m = SteadyModule(FNO(1, 1, [4, 4], hidden_channels=4, n_layers=2))
    m.set_normalization(STATS)
    m.data_info = dict(INFO)
    return m, export_surrogate(m, tmp_path / "sur")


def test_loads_a_steady_surrogate_that_predicts_what_the_module_does(exported):
    m, out = exported
    s = load(out)
    assert isinstance(s, SteadySurrogate)
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["kind"], cfg["inputs"], cfg["targets"]) == ("steady", ["a"], ["u"])
    assert cfg["k"] is None and cfg["dt"] is None
    a = 3.0 + 9.0 * (torch.rand(3, 1, 8, 8) > 0.5)
    ref = m.predict_targets(a, torch.full((3, 1), 12.0))
    got = s.predict(a)
    assert got.shape == (3, 1, 8, 8) and not got.requires_grad
    torch.testing.assert_close(got, ref, atol=0, rtol=0)
    one = s.predict(a[0].numpy())  # unbatched numpy in, unbatched numpy out
    assert isinstance(one, np.ndarray) and one.shape == (1, 8, 8)
    np.testing.assert_array_equal(one, ref[0].numpy())
    # physical units: not the normalised output
    raw = m.model(m.normalize_inputs(a))
    assert not torch.allclose(got, raw.detach())
    with pytest.raises(ValueError, match=r"expected 1 channel\(s\) \['a'\], got 2"):
        s.predict(torch.zeros(3, 2, 8, 8))


@pytest.mark.parametrize("call", ["rollout", "iterate"])
def test_rollout_is_refused_as_a_steady_map(exported, call):
    s = load(exported[1])
    with pytest.raises(ValueError, match=r"steady map \(inputs \['a'\] -> targets \['u'\]\), "
                                         "which has no time steps"):
        getattr(s, call)(torch.zeros(1, 1, 8, 8), steps=2)


@pytest.mark.parametrize("key, value", [("inputs", ["k"]), ("targets", []),
                                        ("targets", "u"), ("inputs", ["a", "a"]),
                                        ("k", 1), ("dt", 0.1), ("residual", True),
                                        ("kind", "stationary")])
def test_a_tampered_key_is_one_error_naming_config_json_and_the_key(exported, key, value):
    out = exported[1]
    cfg = json.loads((out / "config.json").read_text())
    cfg[key] = value
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=rf"config\.json': {key} must be"):
        load(out)


def test_a_steady_key_without_kind_is_unknown(exported):
    out = exported[1]
    cfg = json.loads((out / "config.json").read_text())
    del cfg["kind"]
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"config\.json': unknown key\(s\) \['inputs', "
                                         r"'targets'\]"):
        load(out)


def test_an_untrained_steady_module_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no record of its input and target channels"):
        export_surrogate(SteadyModule(FNO(1, 1, [4, 4], 4, 1)), tmp_path / "sur")
