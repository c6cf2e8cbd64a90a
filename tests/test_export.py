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
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
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
    # the same but where each was exported from: the checkpoint's path, or none for a module,
    # and the module's class, which a checkpoint of a fit outside LightningCLI does not record
    c1, c2 = s1.config, s2.config
    assert c1["provenance"].pop("checkpoint") == str(ckpt)
    assert c2["provenance"].pop("checkpoint") is None
    assert c1["provenance"]["recipe"].pop("module") is None
    assert c2["provenance"]["recipe"].pop("module") == "pdesurrogate.training.NextStepModule"
    assert c1 == c2


def test_safetensors_header_length_0x80_loads(exported):
    """A safetensors file starts with its header length (u64, little-endian); when that is
    0x80 mod 256 its first byte equals pickle's, and the file must still load (it did not:
    about one architecture in 256 was refused as a pickle, e.g. a 1-D PDE-Refiner of width
    64)."""
    from safetensors.torch import load_file, save_file

    m, out = exported
    weights = out / "model.safetensors"
    tensors = load_file(str(weights))
    for pad in range(512):
        save_file(tensors, str(weights), metadata={"format": "pt", "pad": "x" * pad})
        if weights.read_bytes()[:1] == b"\x80":
            break
    assert weights.read_bytes()[:1] == b"\x80"
    u, p = torch.randn(3, 2, 16), 0.1 + 0.02 * torch.randn(3, 1)
    torch.testing.assert_close(load(out).rollout(u, p, 2), m.rollout(u, p, 2), atol=0, rtol=0)


def test_export_reads_its_weights_back(exported, tmp_path, monkeypatch):
    """export checks the written model.safetensors as load reads it: a file that load would
    refuse is never put in place."""
    import pdesurrogate.export_files as ex

    m, _ = exported

    def truncated(tensors, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{")

    monkeypatch.setattr(ex, "save_file", truncated)
    with pytest.raises(ValueError, match="model.safetensors.*not a valid safetensors"):
        export_surrogate(m, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".bad")]


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


def test_config_contradicting_the_model_refused(exported):
    """config.json keys that contradict the model or each other are refused, naming
    config.json, the key and what was expected."""
    _, out = exported
    cfg_path = out / "config.json"
    good = json.loads(cfg_path.read_text())
    stats = good["normalization"]
    cases = [
        ({"grid_shape": [16, 16]}, r"grid_shape \[16, 16\] has 2 axes.*1-D.*expected a list of 1"),
        ({"param_names": []}, r"param_names \[\] has 0 names but the model \(fno\) takes "
                              r"n_params = 1; expected 1"),
        ({"channel_names": ["a", "b", "c"]},
         r"channel_names .* has 3 names but the model \(fno\) has in_channels = 2"),
        ({"normalization": {**stats, "mean": [0.0], "std": [1.0]}},
         r"normalization\.mean and \.std have 1 values but the model \(fno\) has "
         r"in_channels = 2"),
        ({"normalization": {**stats, "param_names": ["mu"]}},
         r"normalization\.param_names \['mu'\] differs from data_param_names \['nu'\]"),
        ({"normalization": {k: v for k, v in stats.items() if k != "spatial_dims"}},
         r"normalization must be null or an object with keys"),
    ]
    for change, match in cases:
        cfg_path.write_text(json.dumps({**good, **change}))
        with pytest.raises(ValueError, match=r"config\.json.*" + match):
            load(out)
    cfg_path.write_text(json.dumps(good))
    load(out)


def test_unavailable_device_refused(exported, monkeypatch):
    """Asking for CUDA where torch has none is one ValueError, not torch's assertion."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _, out = exported
    with pytest.raises(ValueError, match="device 'cuda': CUDA is not available"):
        load(out, device="cuda")
    with pytest.raises(ValueError, match="device 'cuda:1': CUDA is not available"):
        load(out).to("cuda:1")
    with pytest.raises(ValueError, match="'gpu' is not a torch device"):
        load(out, device="gpu")


def test_a_cut_short_checkpoint_is_named_so(exported, tmp_path):
    """A checkpoint cut in half (an interrupted copy) is said to be cut short; torch's reason
    was "[Errno 22] Invalid argument"."""
    m, _ = exported
    whole = tmp_path / "whole.ckpt"
    torch.save({"state_dict": m.state_dict()}, whole)
    data = whole.read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.ckpt': not a Lightning checkpoint \(its zip "
                                         r"archive has no end record: the file is cut short"):
        export_surrogate(cut, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_not_a_checkpoint_is_one_line(exported, tmp_path):
    """Files that are not Lightning checkpoints give "'<path>': not a Lightning checkpoint
    (<reason>)", never torch's advice to load with weights_only=False; an existing target
    names --overwrite."""
    import argparse

    import h5py

    m, out = exported
    files = {"t.txt": b"hello world\n", "s.bin": b"abc", "e.ckpt": b"",
             "p.pkl": pickle.dumps({"a": 1}), "z.ckpt": b"PK\x03\x04garbage" * 4}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with h5py.File(tmp_path / "n.nc", "w") as f:
        f["x"] = [1.0]
    torch.save({"ns": argparse.Namespace(a=1)}, tmp_path / "ns.ckpt")
    torch.save({"epoch": 1}, tmp_path / "nostate.ckpt")
    reasons = {"t.txt": "it is a text file", "s.bin": "it is a text file",
               "e.ckpt": "the file is empty", "p.pkl": "a plain pickle",
               "z.ckpt": "no end record", "n.nc": "an HDF5/netCDF file",
               "ns.ckpt": "argparse.Namespace objects", "nostate.ckpt": "no 'state_dict'",
               ".": "it is a directory"}
    for name, reason in reasons.items():
        path = tmp_path / name
        with pytest.raises(ValueError) as e:
            export_surrogate(path, tmp_path / "x")
        msg = str(e.value)
        assert msg.startswith(f"{str(path)!r}: not a Lightning checkpoint (")
        assert reason in msg and "weights_only=False" not in msg and "\n" not in msg, msg
    assert not (tmp_path / "x").exists()
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_surrogate(m, out)


def test_lead_time_must_be_finite_and_non_negative(tmp_path):
    """A loaded scOT refuses negative and NaN lead times (NaN gave NaN fields)."""
    from pdesurrogate.models import ScOT
    from pdesurrogate.training import All2AllModule

    torch.manual_seed(0)
    m = All2AllModule(ScOT(1, 1, embed_dim=8, depths=[1, 1], num_heads=[2, 2],
                           skip_blocks=[0], window_size=4, patch_size=2))
    m.data_info = {"pde": "toy", "grid_shape": [8, 8], "channel_names": ["u"],
                   "param_names": [], "k": 1, "dt": 0.1}
    sur = load(export_surrogate(m, tmp_path / "scot"))
    u = torch.randn(2, 1, 8, 8)
    assert torch.isfinite(sur.predict(u, lead_time=0.0)).all()
    for bad in (-0.1, float("nan"), float("inf"), [0.1, -1.0]):
        with pytest.raises(ValueError, match="lead_time must be finite and >= 0"):
            sur.predict(u, lead_time=bad)
    with pytest.raises(ValueError, match="lead_time must be finite and >= 0"):
        sur.rollout(u, steps=2, lead_time=float("nan"))


def test_params_forms_of_a_one_parameter_model(exported):
    """``(B, 1)``, ``(B,)``, ``(1,)``, a dict and a number per sample all give the same
    prediction; a wrong shape is refused naming the shape given."""
    _, out = exported
    s = load(out)
    u, nu = torch.randn(3, 2, 16), torch.tensor([0.08, 0.1, 0.12])
    ref = s.predict(u, nu[:, None])
    torch.testing.assert_close(s.predict(u, nu), ref, atol=0, rtol=0)
    torch.testing.assert_close(s.predict(u, {"nu": nu.numpy()}), ref, atol=0, rtol=0)
    same = s.predict(u, torch.tensor([0.1]))
    torch.testing.assert_close(same, s.predict(u, torch.full((3, 1), 0.1)), atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"expected params of shape \(3, 1\) or \(1,\) .*got "
                                         r"\(2,\)"):
        s.predict(u, torch.tensor([0.1, 0.2]))


def _toy_file(path, params=("nu",), times=(0.0, 0.1, 0.2, 0.3)):
    """A tiny 1-channel 1-D file: 8 smooth trajectories on 16 points with ``params``."""
    from pdesurrogate.datasets import DatasetWriter

    n, grid = 8, np.arange(16.0)
    u = np.sin(np.arange(n * len(times) * 16) / 5.0).reshape(n, len(times), 1, 16)
    with DatasetWriter(path, "toy", (grid,), ("x",), np.asarray(times), ["u"], list(params),
                       n) as w:
        w.write(0, u.astype(np.float32), {p: np.linspace(0.05, 0.1, n) for p in params})
    return path


def test_parameter_blind_model_exports_no_params(tmp_path):
    """An FNO with n_params=0 fit on a file with 'nu' (a warning at setup) exports a surrogate
    that takes no parameters: params [] (the data's names kept as data_param_names), predict(u)
    is the module's step, and a given nu is refused, not silently ignored. An export written
    before data_param_names (param_names held the data's ['nu']) loads the same way."""
    from pdesurrogate.training import FieldDataModule

    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 4, 1, n_params=0))
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    dm = FieldDataModule(str(_toy_file(tmp_path / "nu.nc")), batch_size=4,
                         fractions=(0.5, 0.25, 0.25))
    with pytest.warns(UserWarning, match=r"nu\.nc' has parameters \['nu'\]; the model \(FNO\) "
                                         r"takes none \(n_params=0\): they are ignored"):
        trainer.fit(m, datamodule=dm)
    out = export_surrogate(m, tmp_path / "blind")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["param_names"] == [] and cfg["data_param_names"] == ["nu"]
    u = torch.randn(3, 1, 16)
    ref = m.rollout(u, torch.full((3, 1), 0.07), 1)[:, 1]  # the model ignores nu
    old = {k: v for k, v in cfg.items() if k != "data_param_names"}
    old["param_names"] = ["nu"]
    legacy = tmp_path / "legacy"
    shutil.copytree(out, legacy)
    (legacy / "config.json").write_text(json.dumps(old))
    for s in (load(out), load(legacy)):
        assert s.param_names == [] and s.config["data_param_names"] == ["nu"]
        assert "params=[], ignores_data_params=['nu']" in repr(s)
        torch.testing.assert_close(s.predict(u), ref, atol=0, rtol=0)
        for given in ({"nu": 0.05}, [0.05], 0.05):
            with pytest.raises(ValueError, match=r"model \(fno\) takes no parameters \(n_params "
                                                 r"= 0\); it was trained parameter-blind on a "
                                                 r"file with \['nu'\]"):
                s.predict(u, given)


def test_export_without_data_info(tmp_path):
    """A module that never saw a FieldDataModule: a model with parameters is refused, naming
    the param_names keyword; with the keywords the export is complete and predicts with named
    parameters; no statistics read as the identity, said in the repr. A model without
    parameters exports as it is. Bad or contradicting keywords are refused."""
    torch.manual_seed(0)
    m = NextStepModule(FNO(2, 2, [4], 8, 2, n_params=1))
    with pytest.raises(ValueError, match=r"takes n_params = 1 parameter\(s\), but nothing names "
                                         r"them.*Pass export_surrogate\(\.\.\., "
                                         r"param_names=\[\.\.\.\]\) \(pdesurrogate export "
                                         r"--param-names A,B,\.\.\.\) with 1 name"):
        export_surrogate(m, tmp_path / "bare")
    assert not (tmp_path / "bare").exists()
    s = load(export_surrogate(m, tmp_path / "full", param_names=["nu"], channel_names=["a", "b"],
                              pde="toy", dt=0.1))
    cfg = s.config
    assert (cfg["param_names"], cfg["channel_names"], cfg["pde"], cfg["dt"]) == (
        ["nu"], ["a", "b"], "toy", 0.1)
    assert cfg["normalization"] is None and "normalization='identity'" in repr(s)
    u, nu = torch.randn(3, 2, 16), torch.tensor([0.05, 0.07, 0.09])
    torch.testing.assert_close(s.predict(u, {"nu": nu}), m.rollout(u, nu[:, None], 1)[:, 1],
                               atol=0, rtol=0)
    blind = NextStepModule(FNO(2, 2, [4], 8, 2, n_params=0))
    sb = load(export_surrogate(blind, tmp_path / "blind"))
    assert sb.param_names == [] and sb.predict(u).shape == u.shape
    bad = [({"param_names": "nu"}, r"param_names must be a list of distinct non-empty strings"),
           ({"param_names": ["nu", "mu"]},
            r"param_names=\['nu', 'mu'\] has 2 name\(s\) but the model \(fno\) takes n_params "
            r"= 1"),
           ({"param_names": ["nu"], "dt": -0.1}, r"dt must be a finite number > 0, got -0\.1")]
    for kw, match in bad:
        with pytest.raises(ValueError, match=match):
            export_surrogate(m, tmp_path / "x", **kw)
    with pytest.raises(ValueError, match=r"dt=0\.2 contradicts the 0\.1 the module recorded"):
        export_surrogate(_module(FNO(2, 2, [4], 8, 2, n_params=1)), tmp_path / "x", dt=0.2)
    assert not (tmp_path / "x").exists()


def test_tensor_params_in_a_dict(exported, monkeypatch):
    """Dict values may be tensors of any dtype, also ones that require grad (numpy refused
    those), and are never read through numpy: with numpy unable to read a tensor, as for CUDA
    tensors, predict still works. A requires-grad state and array params work too."""
    _, out = exported
    s = load(out)
    u, nu = torch.randn(3, 2, 16), torch.tensor([0.08, 0.1, 0.12], dtype=torch.float64)
    ref = s.predict(u, nu.float()[:, None])

    def cuda_like(self, *args, **kwargs):
        raise TypeError("can't convert cuda:0 device type tensor to numpy")

    with monkeypatch.context() as mp:
        mp.setattr(torch.Tensor, "__array__", cuda_like)
        torch.testing.assert_close(s.predict(u, {"nu": nu}), ref, atol=0, rtol=0)
    torch.testing.assert_close(s.predict(u, {"nu": nu}), ref, atol=0, rtol=0)
    graded = nu.clone().requires_grad_(True)
    torch.testing.assert_close(s.predict(u, {"nu": graded}), ref, atol=0, rtol=0)
    torch.testing.assert_close(s.predict(u.clone().requires_grad_(True), graded[:, None]), ref,
                               atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"params\['nu'\] has 2 values; expected one, or one "
                                         r"per sample \(3\)"):
        s.predict(u, {"nu": nu[:2]})


def test_non_finite_inputs_refused(exported):
    """NaN or inf in a parameter or a state is refused, naming the input, the value and where
    (it gave NaN fields without a word)."""
    _, out = exported
    s = load(out)
    u = torch.randn(3, 2, 16)
    with pytest.raises(ValueError, match=r"params\['nu'\] is not finite: nan for sample 0"):
        s.predict(u, {"nu": float("nan")})
    with pytest.raises(ValueError, match=r"params\['nu'\] is not finite: inf for sample 2"):
        s.rollout(u, np.array([0.1, 0.1, np.inf]), steps=2)
    bad = u.clone()
    bad[1, 0, 5] = float("nan")
    with pytest.raises(ValueError, match=r"u is not finite: NaN or inf at index \(1, 0, 5\) "
                                         r"\(of shape \(3, 2, 16\)\)"):
        s.predict(bad, 0.1)
    one = u[0].numpy().copy()
    one[1, 3] = -np.inf
    with pytest.raises(ValueError, match=r"u0 is not finite: NaN or inf at index \(1, 3\) \(of "
                                         r"shape \(2, 16\)\)"):
        s.rollout(one, 0.1, steps=2)


def test_scalar_params_and_numpy_steps(exported):
    """A one-parameter model takes a single number (Python, numpy or a 0-d tensor) for the
    whole batch, as it takes {'nu': number}; rollout takes numpy integer steps."""
    _, out = exported
    s = load(out)
    u = torch.randn(3, 2, 16)
    ref = s.predict(u, {"nu": 0.1})
    for p in (0.1, np.float32(0.1), np.float64(0.1), torch.tensor(0.1)):
        torch.testing.assert_close(s.predict(u, p), ref, atol=0, rtol=0)
    traj = s.rollout(u[0].numpy(), 0.1, steps=np.int64(3))
    np.testing.assert_array_equal(traj, s.rollout(u[0].numpy(), {"nu": 0.1}, steps=3))
    assert traj.shape == (4, 2, 16)
    for steps in (True, 2.0, np.int64(-1)):
        with pytest.raises(ValueError, match="steps must be an int >= 0"):
            s.rollout(u, 0.1, steps=steps)


def test_shape_errors_name_the_callers_shape(tmp_path):
    """A (B, grid) state for a one-channel model is reported with the shape given, and the
    message says how to add the channel axis."""
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 4, 1, n_params=0))
    m.data_info = {"pde": "toy", "grid_shape": [16], "channel_names": ["u"], "param_names": [],
                   "k": 1, "dt": 0.1}
    s = load(export_surrogate(m, tmp_path / "one"))
    u = torch.randn(2, 16)
    with pytest.raises(ValueError, match=r"expected 1 channel\(s\) \['u'\], got 2 \(u of shape "
                                         r"\(2, 16\), read as one unbatched sample \(C, \*grid\)"
                                         r"\); if its first axis is the batch, add the channel "
                                         r"axis: u\[:, None\] has shape \(2, 1, 16\)"):
        s.predict(u)
    with pytest.raises(ValueError, match=r"got \(16,\); add the channel axis: u0\[None\] has "
                                         r"shape \(1, 16\)"):
        s.rollout(u[0], steps=1)
    assert s.predict(u[:, None]).shape == (2, 1, 16)


def test_provenance_traces_an_export_to_its_data_checkpoint_and_commit(tmp_path):
    """config.json's provenance: the training data's source record (path, fingerprint,
    split), the checkpoint exported from, its epoch and step, the fit's seed_everything and the
    git commit this checkout is at; load accepts it, an export without it (older) and refuses a
    misspelled or mistyped provenance key."""
    import subprocess
    from pathlib import Path

    from lightning.pytorch import seed_everything

    from pdesurrogate.provenance import git_state
    from pdesurrogate.training import FieldDataModule

    seed_everything(11)
    dm = FieldDataModule(str(_toy_file(tmp_path / "toy.nc")), batch_size=4,
                         fractions=(0.5, 0.25, 0.25), seed=2)
    m = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1))
    trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(m, dm)
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    raw = torch.load(ckpt, weights_only=True)
    out = export_surrogate(ckpt, tmp_path / "sur")
    prov = load(out).config["provenance"]
    commit, dirty = git_state()
    assert prov.pop("recipe")["batch_size"] == 4  # how it was trained: test_provenance_recipe
    assert prov == {"data_source": dm.data_info["source"], "checkpoint": str(ckpt),
                    "epoch": raw["epoch"], "global_step": raw["global_step"],
                    "seed_everything": 11, "git_commit": commit, "git_dirty": dirty}
    root = Path(__file__).resolve().parents[1]
    if (root / ".git").exists():  # the tests run from a checkout: its HEAD
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
        assert commit == head and isinstance(dirty, bool)
    assert raw["global_step"] > 0 and prov["data_source"]["seed"] == 2
    cfg_path = out / "config.json"
    good = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({k: v for k, v in good.items() if k != "provenance"}))
    assert "provenance" not in load(out).config  # an export older than provenance loads
    for bad, match in ((dict(good["provenance"], comit="abc"),
                        r"provenance has unknown key\(s\) \['comit'\]"),
                       (dict(good["provenance"], epoch="1"),
                        r"provenance\.epoch must be an int or null, got '1'"),
                       ([1], r"provenance must be null or an object, got list")):
        cfg_path.write_text(json.dumps({**good, "provenance": bad}))
        with pytest.raises(ValueError, match=r"config\.json'?: " + match):
            load(out)


def test_git_commit_only_from_a_checkout_of_the_package(tmp_path):
    """The commit is recorded when the package folder sits at the root of a git checkout
    beside pyproject.toml; not for a package installed inside some other repository (a
    virtual environment in a project's folder) nor outside any."""
    import subprocess

    from pdesurrogate.provenance import git_state

    repo = tmp_path / "repo"
    (repo / "pdesurrogate").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (repo / "pdesurrogate" / "__init__.py").write_text("")
    site = repo / ".venv" / "site-packages" / "pdesurrogate"
    site.mkdir(parents=True)

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                               "user.email=t@t", *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    git("add", "pyproject.toml", "pdesurrogate/__init__.py")
    git("commit", "-q", "-m", "x")
    head = git("rev-parse", "HEAD")
    assert git_state(repo / "pdesurrogate") == (head, False)
    (repo / "pdesurrogate" / "__init__.py").write_text("x = 1\n")
    assert git_state(repo / "pdesurrogate") == (head, True)
    assert git_state(site) == (None, None)
    outside = tmp_path / "plain" / "pdesurrogate"
    outside.mkdir(parents=True)
    assert git_state(outside) == (None, None)


def test_a_huge_model_in_config_is_refused_before_it_is_built(exported, monkeypatch):
    """config.json naming a model far larger than its weights (hidden_channels 10**6 beside a
    few KiB of weights: 24 TB, a bare RuntimeError from torch's allocator) is refused by the
    weights' header, naming model.safetensors, and never built in memory; a model that matches
    its header but cannot be built here is a ValueError naming config.json."""
    import pdesurrogate.loading as ex

    _, out = exported
    cfg_path = out / "config.json"
    good = json.loads(cfg_path.read_text())
    huge = json.loads(json.dumps(good))
    huge["model"]["init_args"]["hidden_channels"] = 10**6
    cfg_path.write_text(json.dumps(huge))
    built = []
    real_build = ex.build_model

    def spy(*a, **k):
        model = real_build(*a, **k)
        built.append(next(model.parameters()).device.type)
        return model

    monkeypatch.setattr(ex, "build_model", spy)
    with pytest.raises(ValueError, match=r"model\.safetensors' does not match the model in "
                                         r"config\.json: .*expected \(1000000"):
        load(out)
    assert "cpu" not in built  # only ever on the meta device

    cfg_path.write_text(json.dumps(good))

    def no_memory(*a, **k):
        model = real_build(*a, **k)
        if next(model.parameters()).device.type != "meta":
            raise MemoryError()
        return model

    monkeypatch.setattr(ex, "build_model", no_memory)
    with pytest.raises(ValueError, match=r"config\.json': the model it describes cannot be "
                                         r"built on this machine \(MemoryError\)"):
        load(out)
