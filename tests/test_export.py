"""Export -> load round trips and the refusals of pdesurrogate.export (no unpickling)."""

import json
import os
import pickle
import shutil
import stat

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.export import export_surrogate, load
from pdesurrogate.models import FNO, CAPEModule, CAPEWrapper, UNet
from pdesurrogate.training import NextStepModule

STATS = ChannelStats(mean=[0.5, -1.0], std=[2.0, 0.5], spatial_dims=1, param_names=["nu"],
                     param_mean=[0.1], param_std=[0.02])
INFO = {"pde": "toy", "grid_shape": [16], "channel_names": ["a", "b"], "param_names": ["nu"],
        "k": 1, "dt": 0.1}


def _module(model, residual=False) -> NextStepModule:
    torch.manual_seed(0)
    m = NextStepModule(model, residual=residual)
    m.set_normalization(STATS)
    m.data_info = dict(INFO)
    return m


@pytest.fixture
def exported(tmp_path):
    m = _module(FNO(2, 2, [4], 8, 2, n_params=1), residual=True)
    return m, export_surrogate(m, tmp_path / "sur")


def test_round_trip_identical_predictions(exported):
    """load(export(m)) predicts exactly (atol 0) what the module's own rollout predicts, for
    torch and numpy inputs, batched and unbatched; config carries the metadata."""
    m, out = exported
    s = load(out)
    u, p = torch.randn(3, 2, 16), 0.1 + 0.02 * torch.randn(3, 1)
    ref = m.rollout(u, p, 4)
    got = s.rollout(u, p, 4)
    assert got.shape == (3, 5, 2, 16)
    torch.testing.assert_close(got, ref, atol=0, rtol=0)
    torch.testing.assert_close(s.predict(u, p), ref[:, 1], atol=0, rtol=0)
    one = s.predict(u[0].numpy(), {"nu": float(p[0, 0])})
    assert isinstance(one, np.ndarray) and one.shape == (2, 16)
    np.testing.assert_array_equal(one, ref[0, 1].numpy())
    cfg = s.config
    assert cfg["pde"] == "toy" and cfg["dt"] == 0.1 and cfg["residual"] is True
    assert cfg["normalization"] == STATS.to_dict() and cfg["model"]["class"] == "fno"
    with pytest.raises(ValueError, match="needs params"):
        s.predict(u)
    with pytest.raises(FileExistsError):
        export_surrogate(m, out)


def test_export_files_share_the_umask_mode(tmp_path):
    """safetensors creates its file 0600: the export gives the weights config.json's mode, so a
    model in a shared directory is readable by whoever can read its config."""
    m = _module(FNO(2, 2, [4], 8, 2, n_params=1))
    old = os.umask(0o022)
    try:
        out = export_surrogate(m, tmp_path / "shared")
    finally:
        os.umask(old)
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in out.iterdir()}
    assert modes == {"config.json": 0o644, "model.safetensors": 0o644}


def test_export_from_checkpoint_and_cape(tmp_path):
    """A Lightning .ckpt (read with weights_only=True) exports the same surrogate as the
    module; a CAPE-wrapped UNet round-trips exactly too."""
    model = CAPEWrapper(UNet(1, 4, 2, 4, 2), CAPEModule(1, 2, 1, modes=3, hidden=4))
    m = _module(model)
    data = [{"input": torch.randn(2, 16), "target": torch.randn(2, 16), "params": torch.ones(1)}
            for _ in range(4)]
    trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(m, DataLoader(data, batch_size=2))
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    s1, s2 = load(export_surrogate(ckpt, tmp_path / "a")), load(export_surrogate(m, tmp_path / "b"))
    u, p = torch.randn(2, 2, 16), torch.full((2, 1), 0.1)
    ref = m.rollout(u, p, 3)
    torch.testing.assert_close(s1.rollout(u, p, 3), ref, atol=0, rtol=0)
    torch.testing.assert_close(s2.rollout(u, p, 3), ref, atol=0, rtol=0)
    assert s1.config == s2.config


def test_pickle_weights_refused(exported, tmp_path):
    """A torch.save / pickle file renamed to model.safetensors is refused, naming the file,
    and is never unpickled (its payload would raise if it were)."""
    _, out = exported
    weights = out / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, weights)
    with pytest.raises(ValueError, match="model.safetensors.*pickle"):
        load(out)

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    weights.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ValueError, match="model.safetensors.*pickle"):
        load(out)
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json")
    with pytest.raises(ValueError, match="model.safetensors.*not a valid safetensors"):
        load(out)


def test_bad_config_refused(exported, tmp_path):
    """A misspelled key is a ValueError naming the key and config.json; so are a missing key,
    an unknown model class and a bad constructor argument."""
    _, out = exported
    cfg_path = out / "config.json"
    good = json.loads(cfg_path.read_text())

    def write(cfg):
        cfg_path.write_text(json.dumps(cfg))

    write({("chanel_names" if k == "channel_names" else k): v for k, v in good.items()})
    with pytest.raises(ValueError, match=r"config\.json.*unknown key\(s\) \['chanel_names'\]"):
        load(out)
    write({k: v for k, v in good.items() if k != "dt"})
    with pytest.raises(ValueError, match=r"missing key\(s\) \['dt'\]"):
        load(out)
    write({**good, "model": {"class": "transformer", "init_args": {}}})
    with pytest.raises(ValueError, match="config.json.*unknown model 'transformer'"):
        load(out)
    bad_args = json.loads(json.dumps(good))
    bad_args["model"]["init_args"]["hiden_channels"] = 8
    write(bad_args)
    with pytest.raises(ValueError, match="config.json.*hiden_channels"):
        load(out)
    cfg_path.write_text("{not json")
    with pytest.raises(ValueError, match="config.json.*not valid JSON"):
        load(out)


def test_wrong_tensors_refused(exported, tmp_path):
    """Weights of a differently shaped model (hidden 8 vs 16) or with a tensor missing are
    refused, naming model.safetensors."""
    _, out = exported
    other = export_surrogate(_module(FNO(2, 2, [4], 16, 2, n_params=1)), tmp_path / "other")
    shutil.copy(other / "model.safetensors", out / "model.safetensors")
    with pytest.raises(ValueError, match="model.safetensors.*does not match.*wrong"):
        load(out)
    from safetensors.torch import load_file, save_file

    t = load_file(str(other / "model.safetensors"))
    t.pop(sorted(t)[0])
    save_file(t, str(out / "model.safetensors"))
    with pytest.raises(ValueError, match="model.safetensors.*missing"):
        load(out)
    shutil.rmtree(out)
    with pytest.raises(FileNotFoundError):
        load(out)
