"""A model of the user's own code (not in pdesurrogate.models.MODELS) through fit, export, load
and the CLI with no registry: recorded under its qualified name whenever it follows the
contract, built only from a class the caller hands (models=, --model-class), never imported
from a name in a file."""

import json
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader

from pdesurrogate.cli import main
from pdesurrogate.cli.checkpoints import _check_checkpoint_model
from pdesurrogate.datasets import DatasetWriter
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import qualified_name
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


class WiderNet(TinyNet):
    """Handed under TinyNet's name: same arguments, other weights (a wider projection)."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 4,
                 n_params: int = 1):
        super().__init__(in_channels, out_channels, width, n_params)
        self.proj = nn.Conv1d(width, out_channels, 5, padding=2)


class Unrecorded(nn.Module):
    """Breaks the contract: its constructor argument ``width`` is not stored."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, padding=1)
        self.in_channels, self.out_channels, self.n_params, self.dim = 1, 1, 0, 1

    def forward(self, u, params=None):
        return self.conv(u)


NAME = qualified_name(TinyNet)  # "test_export_own_model.TinyNet" (or with its package)
ITEMS = [{"input": torch.randn(1, 16), "target": torch.randn(1, 16), "params": torch.rand(1)}
         for _ in range(4)]


def _module() -> NextStepModule:
    torch.manual_seed(0)
    m = NextStepModule(TinyNet(width=5), residual=True)
    m.data_info = dict(INFO)
    return m


def _fit(module: NextStepModule, tmp_path, name: str) -> str:
    """One training step of ``module``; the path of the checkpoint it saves."""
    trainer = Trainer(max_steps=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", enable_checkpointing=False,
                      default_root_dir=str(tmp_path))
    trainer.fit(module, DataLoader(ITEMS, batch_size=2))
    trainer.save_checkpoint(tmp_path / name)
    return tmp_path / name


def test_a_module_with_an_own_model_exports_and_loads_with_its_class(tmp_path):
    """An own model exports under its qualified name with its constructor arguments;
    load(DIR, models={name: class}) predicts exactly what the module does."""
    m = _module()
    out = export_surrogate(m, tmp_path / "own")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"] == {"class": NAME, "init_args": {
        "in_channels": 1, "out_channels": 1, "width": 5, "n_params": 1}}
    sur = load(out, models={NAME: TinyNet})
    u, p = torch.randn(3, 1, 16), torch.rand(3, 1)
    torch.testing.assert_close(sur.rollout(u, p, 3), m.rollout(u, p, 3), atol=0, rtol=0)
    assert repr(sur).startswith(f"Surrogate(model={NAME!r}")


def test_load_without_the_class_says_how_to_hand_it(tmp_path):
    """Without the class: one error naming config.json, the model and the call that loads it
    (Python and CLI); handing it once leaves nothing behind for the next load."""
    out = export_surrogate(_module(), tmp_path / "own")
    load(out, models={NAME: TinyNet})
    with pytest.raises(ValueError) as e:
        load(out)
    msg = str(e.value)
    assert f"this export holds model {NAME!r}, which is not one of pdesurrogate's" in msg
    assert f"in Python pdesurrogate.load({str(out)!r}, models={{{NAME!r}: TinyNet}})" in msg
    assert "config.json" in msg
    assert (f"on the command line pdesurrogate predict ... --model-class {NAME} "
            "(MODULE.CLASS, imported from the Python path)") in msg
    with pytest.raises(ValueError, match="this export holds model"):
        load(out, models={"elsewhere.TinyNet": TinyNet})  # handed under another name


@pytest.mark.parametrize("models, match", [
    ({"fno": TinyNet}, "'fno' is one of pdesurrogate's models"),
    ({NAME: 3}, "must be an nn.Module subclass"),
    ([TinyNet], "must be a dict of name -> model class"),
])
def test_bad_models_argument_refused(tmp_path, models, match):
    out = export_surrogate(_module(), tmp_path / "own")
    with pytest.raises(ValueError, match=match):
        load(out, models=models)
    with pytest.raises(ValueError, match=match):
        export_surrogate(_module(), tmp_path / "again", models=models)
    assert not (tmp_path / "again").exists()


def test_a_config_naming_a_class_never_imports_it(tmp_path, monkeypatch):
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


def test_a_fit_checkpoint_of_an_own_class_records_it_and_exports_with_models(tmp_path):
    """No decorator, no registry: NextStepModule records the spec of a class following the
    contract (no warning), the checkpoint exports with models= (without it, one error naming
    models= and --model-class), its weights are checked against the class handed, and the
    export predicts what the module does. Before, the module warned and recorded
    model_spec None, and export refused the checkpoint."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the spec is recorded
        m = NextStepModule(TinyNet(width=3))
    assert m.hparams["model_spec"] == {"class": NAME, "init_args": {
        "in_channels": 1, "out_channels": 1, "width": 3, "n_params": 1}}
    ckpt = _fit(m, tmp_path, "own.ckpt")
    raw = torch.load(ckpt, weights_only=True)
    assert raw["hyper_parameters"]["model_spec"]["class"] == NAME
    with pytest.raises(ValueError) as e:
        export_surrogate(ckpt, tmp_path / "out", param_names=["nu"])
    # the wording of load's error (test_load_without_the_class_says_how_to_hand_it)
    msg = str(e.value)
    assert f"this checkpoint holds model {NAME!r}, which is not one of pdesurrogate's" in msg
    assert (f"in Python export_surrogate({str(ckpt)!r}, OUTDIR, models={{{NAME!r}: "
            "TinyNet})") in msg
    assert (f"on the command line pdesurrogate export ... --model-class {NAME} "
            "(MODULE.CLASS, imported from the Python path)") in msg
    with pytest.raises(ValueError, match="does not match the model in config.json"):
        export_surrogate(ckpt, tmp_path / "out", param_names=["nu"], models={NAME: WiderNet})
    assert not (tmp_path / "out").exists()
    out = export_surrogate(ckpt, tmp_path / "out", param_names=["nu"], models={NAME: TinyNet})
    u, nu = torch.randn(2, 1, 16), torch.rand(2)
    torch.testing.assert_close(load(out, models={NAME: TinyNet}).predict(u, {"nu": nu}),
                               m.rollout(u, nu[:, None], 1)[:, 1], atol=0, rtol=0)
    # the class comes from the caller here too: a checkpoint's name is never imported
    with pytest.raises(ValueError, match=rf"names '{NAME}'.*load_from_checkpoint\(PATH, "
                                         r"model=TinyNet\(\.\.\.\)\)"):
        NextStepModule.load_from_checkpoint(ckpt, weights_only=True)
    again = NextStepModule.load_from_checkpoint(ckpt, weights_only=True, model=TinyNet(width=3))
    torch.testing.assert_close(again.model.proj.weight, m.model.proj.weight, atol=0, rtol=0)


def test_a_model_breaking_the_contract_is_named_with_what_is_missing(tmp_path):
    """A class whose constructor argument is not stored: the module warns naming the class and
    the argument; its checkpoint records model_spec null and export refuses it saying why,
    and exporting the module names the argument too."""
    with pytest.warns(UserWarning, match=rf"{qualified_name(Unrecorded)} is not in pdesurrogate"
                                         r".*constructor argument 'width' is not stored as an "
                                         r"attribute of the same name.*Adding a model"):
        m = NextStepModule(Unrecorded())
    assert m.model_spec is None
    ckpt = _fit(m, tmp_path, "bad.ckpt")
    with pytest.raises(ValueError, match="model_spec is null.*did not follow the contract"):
        export_surrogate(ckpt, tmp_path / "out")
    with pytest.raises(ValueError, match="cannot be exported: .*'width' is not stored"):
        export_surrogate(m, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_ckpt_path_of_an_own_model_is_checked_against_the_config(tmp_path):
    """fit/test --ckpt_path: the checkpoint's spec of an own model is completed with the class
    the config built and compared argument by argument, as a built-in one (before, such a
    checkpoint recorded no spec and nothing was compared)."""
    saved = NextStepModule(TinyNet(width=3)).model_spec
    ckpt = {"model_spec": saved, "path": str(tmp_path / "own.ckpt")}
    _check_checkpoint_model(ckpt, NextStepModule(TinyNet(width=3)), "test")  # the same
    with pytest.raises(ValueError, match=r"other arguments than the config's \(init_args.width: "
                                         r"3 in the checkpoint, 4 in the config\)"):
        _check_checkpoint_model(ckpt, NextStepModule(TinyNet(width=4)), "test")


OWNNET = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, width: int = 4):
        super().__init__()
        self.width, self.in_channels, self.out_channels = width, 1, 1
        self.n_params, self.dim = 1, 1
        self.conv = nn.Conv1d(2, 1, 3, padding=1)

    def forward(self, u, params=None):
        p = params[:, :, None].expand(-1, -1, u.shape[-1])
        return self.conv(torch.cat([u, p], dim=1))
"""


def test_cli_export_and_predict_with_model_class(tmp_path, monkeypatch, capsys):
    """The command line: a checkpoint of a model in the user's module 'ownnet' (no decorator)
    exports and predicts with --model-class ownnet.Net (imported because typed there); both
    without it are refused naming the flag, the flag leaves nothing behind for a later load,
    and a module not on the path is named."""
    (tmp_path / "ownnet.py").write_text(OWNNET)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ownnet", raising=False)
    import ownnet

    torch.manual_seed(0)
    m = NextStepModule(ownnet.Net(), residual=True)
    m.data_info = {**INFO, "pde": "burgers1d", "dt": 0.2}
    trainer = Trainer(max_steps=0, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", enable_checkpointing=False,
                      default_root_dir=str(tmp_path))
    trainer.fit(m, DataLoader(ITEMS[:1]))
    ckpt = tmp_path / "own.ckpt"
    trainer.save_checkpoint(ckpt)
    # as in a fresh process: the module not imported
    monkeypatch.delitem(sys.modules, "ownnet")
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
    predict = ["predict", "--model", str(tmp_path / "sur"), "--input", str(data), "--out",
               str(tmp_path / "pred.nc")]
    assert main(predict) == 2
    assert "--model-class ownnet.Net" in capsys.readouterr().err
    assert main([*predict, "--model-class", "ownnet.Net"]) == 0
    # the flag handed the class to that call only: nothing global remembers it
    with pytest.raises(ValueError, match="this export holds model 'ownnet.Net'"):
        load(tmp_path / "sur")
    sur = load(tmp_path / "sur", models={"ownnet.Net": sys.modules["ownnet"].Net})
    assert sur.config["model"] == {"class": "ownnet.Net", "init_args": {"width": 4}}
    assert main([*predict, "--overwrite", "--model-class", "nowhere_xyz.Net"]) == 2
    assert "No module named 'nowhere_xyz'; put the folder that holds nowhere_xyz.py on " \
           "PYTHONPATH" in " ".join(capsys.readouterr().err.split())
