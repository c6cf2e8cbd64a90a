"""A model of the user's own code (not in pdesurrogate.models.MODELS) through export, load and
the CLI: recorded under its qualified name, built only from a class the caller hands or
registered, never imported from a name in a file."""

import json
import sys
import textwrap

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader

from pdesurrogate.cli import main
from pdesurrogate.datasets import DatasetWriter
from pdesurrogate.export import export_surrogate, load
from pdesurrogate.models import FNO, qualified_name, register_model
from pdesurrogate.training import NextStepModule

INFO = {"pde": "toy", "grid_shape": [16], "channel_names": ["u"], "param_names": ["nu"],
        "k": 1, "dt": 0.1}


class TinyNet(nn.Module):
    """A 1-D model following the documented contract, defined outside the package."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 4,
                 n_params: int = 1):
        super().__init__()
        self.in_channels, self.out_channels, self.width = in_channels, out_channels, width
        self.n_params, self.dim = n_params, 1
        self.lift = nn.Conv1d(in_channels + n_params, width, 3, padding=1)
        self.proj = nn.Conv1d(width, out_channels, 3, padding=1)

    def forward(self, u, params=None):
        if self.n_params:
            u = torch.cat([u, params[:, :, None].expand(-1, -1, u.shape[-1])], dim=1)
        return self.proj(torch.tanh(self.lift(u)))


NAME = qualified_name(TinyNet)  # "test_export_own_model.TinyNet" (or with its package)


@pytest.fixture
def registry(monkeypatch):
    """OWN_MODELS emptied for the test and restored after it."""
    monkeypatch.setattr("pdesurrogate.models.OWN_MODELS", {})
    import pdesurrogate.models as models

    return models.OWN_MODELS


def _module() -> NextStepModule:
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="not in pdesurrogate.models.MODELS"):
        m = NextStepModule(TinyNet(width=5), residual=True)
    m.data_info = dict(INFO)
    return m


def test_a_module_with_an_own_model_exports_and_loads_with_its_class(tmp_path, registry):
    """An unregistered model exports under its qualified name with its constructor
    arguments; load(DIR, models={name: class}) predicts exactly what the module does. Before,
    export refused it ('is not a registered model ... cannot be exported')."""
    m = _module()
    out = export_surrogate(m, tmp_path / "own")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"] == {"class": NAME, "init_args": {
        "in_channels": 1, "out_channels": 1, "width": 5, "n_params": 1}}
    sur = load(out, models={NAME: TinyNet})
    u, p = torch.randn(3, 1, 16), torch.rand(3, 1)
    torch.testing.assert_close(sur.rollout(u, p, 3), m.rollout(u, p, 3), atol=0, rtol=0)
    assert repr(sur).startswith(f"Surrogate(model={NAME!r}")
    assert registry == {}  # handing a class registers nothing


def test_load_without_the_class_says_how_to_hand_it(tmp_path, registry):
    """Without the class: one error naming config.json, the model and the call that loads it;
    a class registered in this process (register_model) loads without models=."""
    out = export_surrogate(_module(), tmp_path / "own")
    with pytest.raises(ValueError) as e:
        load(out)
    msg = str(e.value)
    assert f"this export holds model {NAME!r}, which is not one of pdesurrogate's" in msg
    assert f"models={{{NAME!r}: TinyNet}}" in msg and "config.json" in msg
    assert f"--model-class {NAME}" in msg
    with pytest.raises(ValueError, match="this export holds model"):
        load(out, models={"elsewhere.TinyNet": TinyNet})  # handed under another name
    register_model(TinyNet)
    assert registry == {NAME: TinyNet}
    assert load(out).config["model"]["class"] == NAME


@pytest.mark.parametrize("models, match", [
    ({"fno": TinyNet}, "'fno' is one of pdesurrogate's models"),
    ({NAME: 3}, "must be an nn.Module subclass"),
    ([TinyNet], "must be a dict of name -> model class"),
])
def test_bad_models_argument_refused(tmp_path, registry, models, match):
    out = export_surrogate(_module(), tmp_path / "own")
    with pytest.raises(ValueError, match=match):
        load(out, models=models)


def test_a_config_naming_a_class_never_imports_it(tmp_path, monkeypatch, registry):
    """config.json naming 'planted.Net', a module on the import path whose import would leave
    a mark: load refuses it with the hand-it error, and the module is never imported (nor its
    code run), with or without other classes handed."""
    mark = tmp_path / "imported"
    (tmp_path / "planted.py").write_text(textwrap.dedent(f"""
        open({str(mark)!r}, "w").close()
        from torch import nn
        class Net(nn.Module):
            pass
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = export_surrogate(_module(), tmp_path / "own")
    cfg = json.loads((out / "config.json").read_text())
    cfg["model"]["class"] = "planted.Net"
    (out / "config.json").write_text(json.dumps(cfg))
    for models in (None, {NAME: TinyNet}):
        with pytest.raises(ValueError, match="this export holds model 'planted.Net'"):
            load(out, models=models)
    assert "planted" not in sys.modules and not mark.exists()


def test_registered_model_is_recorded_by_the_module_and_its_checkpoint_exports(tmp_path,
                                                                                registry):
    """A registered class: NextStepModule records its spec (no warning), so a checkpoint of it
    exports; exporting needs the class registered in the exporting process too (else one
    error naming --model-class), and a checkpoint of an unregistered model says to register
    it and fit again."""
    register_model(TinyNet)
    torch.manual_seed(0)
    m = NextStepModule(TinyNet(width=3))
    assert m.hparams["model_spec"]["class"] == NAME
    items = [{"input": torch.randn(1, 16), "target": torch.randn(1, 16),
              "params": torch.rand(1)} for _ in range(4)]
    trainer = Trainer(max_steps=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", enable_checkpointing=False,
                      default_root_dir=str(tmp_path))
    trainer.fit(m, DataLoader(items, batch_size=2))
    ckpt = tmp_path / "own.ckpt"
    trainer.save_checkpoint(ckpt)
    registry.clear()
    with pytest.raises(ValueError, match=f"holds model '{NAME}'.*--model-class {NAME}"):
        export_surrogate(ckpt, tmp_path / "out", param_names=["nu"])
    assert not (tmp_path / "out").exists()
    register_model(TinyNet)
    out = export_surrogate(ckpt, tmp_path / "out", param_names=["nu"])
    u, nu = torch.randn(2, 1, 16), torch.rand(2)
    torch.testing.assert_close(load(out).predict(u, {"nu": nu}),
                               m.rollout(u, nu[:, None], 1)[:, 1], atol=0, rtol=0)

    registry.clear()
    # the warning says how to make the checkpoint exportable
    with pytest.warns(UserWarning, match="not in pdesurrogate.models.MODELS.*register_model"):
        plain = NextStepModule(TinyNet(width=3))
    trainer = Trainer(max_steps=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", enable_checkpointing=False,
                      default_root_dir=str(tmp_path))
    trainer.fit(plain, DataLoader(items, batch_size=2))
    trainer.save_checkpoint(tmp_path / "plain.ckpt")
    with pytest.raises(ValueError, match="model_spec is null.*register_model.*fit again"):
        export_surrogate(tmp_path / "plain.ckpt", tmp_path / "out2", param_names=["nu"])


def test_register_model_refuses_builtins_and_non_models(registry):
    with pytest.raises(ValueError, match="pdesurrogate's model 'fno'"):
        register_model(FNO)
    with pytest.raises(ValueError, match="nn.Module subclass"):
        register_model(TinyNet(1, 1))
    assert registry == {}


def test_cli_export_and_predict_with_model_class(tmp_path, monkeypatch, registry, capsys):
    """The command line: a checkpoint of a registered model in the user's module 'ownnet'
    exports and predicts with --model-class ownnet.Net (imported because typed there); predict
    without it is refused naming the flag, and a module not on the path is named."""
    (tmp_path / "ownnet.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn
        from pdesurrogate.models import register_model

        @register_model
        class Net(nn.Module):
            def __init__(self, width: int = 4):
                super().__init__()
                self.width, self.in_channels, self.out_channels = width, 1, 1
                self.n_params, self.dim = 1, 1
                self.conv = nn.Conv1d(2, 1, 3, padding=1)

            def forward(self, u, params=None):
                p = params[:, :, None].expand(-1, -1, u.shape[-1])
                return self.conv(torch.cat([u, p], dim=1))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ownnet", raising=False)
    import ownnet

    torch.manual_seed(0)
    m = NextStepModule(ownnet.Net(), residual=True)
    m.data_info = {**INFO, "pde": "burgers1d", "dt": 0.2}
    trainer = Trainer(max_steps=0, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", enable_checkpointing=False,
                      default_root_dir=str(tmp_path))
    trainer.fit(m, DataLoader([{"input": torch.randn(1, 16), "target": torch.randn(1, 16),
                                "params": torch.rand(1)}]))
    ckpt = tmp_path / "own.ckpt"
    trainer.save_checkpoint(ckpt)
    # a fresh process: the module not imported, its class not registered
    monkeypatch.delitem(sys.modules, "ownnet")
    registry.clear()
    x = np.arange(16) / 16
    data = tmp_path / "in.nc"
    with DatasetWriter(data, "burgers1d", (x,), ("x",), [0.0, 0.2, 0.4], ["u"], ["nu"], 2) as w:
        w.write(0, np.sin(2 * np.pi * x)[None, None, None].repeat(2, 0).repeat(3, 1)
                .astype(np.float32), {"nu": np.array([0.1, 0.2])})
    capsys.readouterr()
    export = ["export", "--param-names", "nu", "--channel-names", "u", "--pde", "burgers1d",
              "--dt", "0.2", str(ckpt), str(tmp_path / "sur")]
    assert main(export) == 2
    assert "--model-class ownnet.Net" in capsys.readouterr().err
    assert main([*export, "--model-class", "ownnet.Net"]) == 0
    monkeypatch.delitem(sys.modules, "ownnet")
    registry.clear()
    predict = ["predict", "--model", str(tmp_path / "sur"), "--input", str(data), "--out",
               str(tmp_path / "pred.nc")]
    assert main(predict) == 2
    assert "--model-class ownnet.Net" in capsys.readouterr().err
    assert main([*predict, "--model-class", "ownnet.Net"]) == 0
    sur = load(tmp_path / "sur")  # registered by the flag in this process
    assert sur.config["model"]["class"] == "ownnet.Net"
    assert main([*predict, "--overwrite", "--model-class", "nowhere_xyz.Net"]) == 2
    assert "No module named 'nowhere_xyz'; put the folder that holds nowhere_xyz.py on " \
           "PYTHONPATH" in " ".join(capsys.readouterr().err.split())
