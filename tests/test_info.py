"""``pdesurrogate info PATH [--json]``: what an export folder or a dataset file holds, read
without running the model or reading the fields; every number checked against what torch,
numpy or h5py find in the same files, and a path that is neither kind (or an export that load
refuses) is one error line with exit status 2."""

import importlib.util
import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from pdesurrogate.cli import main
from pdesurrogate.datasets import lazy
from pdesurrogate.datasets.source import source_splits
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from tests.datasets.test_the_well import _well
from tests.test_export_own_model import NAME, TinyNet
from tests.test_export_own_model import _module as own_module

# the tiny fit of test_cli_fit.py (pytest runs with --import-mode=importlib: no plain import)
_spec = importlib.util.spec_from_file_location("cli_fit_helpers",
                                               Path(__file__).with_name("test_cli_fit.py"))
fit_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fit_helpers)
data = fit_helpers.data  # the fixture: 10 Burgers trajectories of 3 frames on 32 points


def _refuse_field_reads(monkeypatch) -> None:
    """From now on any read of a file's fields ``u`` fails the test: info reads none."""
    def refuse(*args, **kwargs):
        raise AssertionError("info read the fields u")

    monkeypatch.setattr(lazy.LazyArray, "__getitem__", refuse)
    monkeypatch.setattr(lazy.LazyArray, "__array__", refuse)


@pytest.fixture
def no_field_reads(monkeypatch):
    _refuse_field_reads(monkeypatch)


def _info(path, capsys, *options) -> tuple[int, str, str]:
    rc = main(["info", str(path), *options])
    out, err = capsys.readouterr()
    return rc, out, err


def _json(path, capsys) -> dict:
    rc, out, err = _info(path, capsys, "--json")
    assert rc == 0 and err == "", err
    return json.loads(out)


def test_an_export_of_a_fit_and_its_data_file(tmp_path, data, capsys, monkeypatch):
    """generate -> fit -> export, then info on both: the model and its arguments, the number
    of parameters torch counts, the training range (the training split's nu, as numpy finds
    it in the file), grid, dt, data file, run counters; the file's shape, parameters, times
    and grid as h5py reads them."""
    root = tmp_path / "runs"
    assert main(["fit", "--config", fit_helpers.CONFIG, *fit_helpers.tiny(data, root),
                 "--trainer.enable_progress_bar", "false"]) == 0
    ckpt = root / "csv" / "version_0" / "checkpoints" / "last.ckpt"
    out = tmp_path / "model"
    assert main(["export", str(ckpt), str(out)]) == 0
    capsys.readouterr()
    _refuse_field_reads(monkeypatch)

    info = _json(out, capsys)
    sur = load(out)
    saved = torch.load(ckpt, weights_only=True, map_location="cpu")
    with h5py.File(data) as f:
        nu, u_shape, times, x = f["nu"][()], f["u"].shape, f["time"][()], f["x"][()]
    train = source_splits(info["trained_on"])[0]
    assert info["what"] == "export" and info["kind"] == "time-stepping surrogate"
    assert info["model"]["class"] == "fno" and info["model"]["init_args"]["hidden_channels"] == 8
    assert info["checked_against_model"] is True
    assert info["n_parameters"] == sum(p.numel() for p in sur.model.parameters())
    assert info["n_weights"] == sum(v.numel() for v in sur.model.state_dict().values())
    assert info["weights_bytes"] == os.path.getsize(out / "model.safetensors")
    assert (info["pde"], info["channel_names"], info["param_names"]) == ("burgers1d", ["u"],
                                                                           ["nu"])
    assert info["param_ranges"] == {"nu": [float(nu[train].min()), float(nu[train].max())]}
    assert info["grid"] == {"names": ["x"], "shape": [32], "extent": [
        {"first": float(x[0]), "last": float(x[-1]), "step": float((x[-1] - x[0]) / 31)}]}
    assert info["dt"] == float(times[1] - times[0]) and info["k"] == 1
    assert info["normalization"] == "channel mean/std"
    assert info["trained_on"]["file"] == "burgers.nc" and info["trained_on"]["path"] == \
        os.path.abspath(data) and info["trained_on"]["n_trajectories"] == 10
    assert info["training_run"] == {"epoch": saved["epoch"], "global_step":
                                    saved["global_step"], "checkpoint": str(ckpt.resolve()),
                                    "seed_everything": info["training_run"]["seed_everything"]}
    assert info["versions"]["pdesurrogate"] == sur.config["pdesurrogate_version"]

    rc, text, err = _info(out, capsys)
    assert rc == 0 and err == ""
    lines = text.splitlines()
    assert lines[0] == f"{out}: exported time-stepping surrogate"
    rows = {line.split()[0]: line.split(None, 1)[1] for line in lines[1:] if line[2] != " "}
    assert rows["model"] == "fno"
    assert rows["weights"].startswith(f"{info['n_parameters']:,} parameters")
    assert rows["parameters"] == (f"nu  trained on [{nu[train].min():.6g}, "
                                  f"{nu[train].max():.6g}]")
    assert rows["grid"] == "32 (x)" and rows["pde"] == "burgers1d"
    assert f"x {x[0]:.6g} .. {x[-1]:.6g} (32 points, step {(x[-1] - x[0]) / 31:.6g})" in text
    assert "\x1b" not in text  # plain text, no colour codes, in a pipe or a terminal

    d = _json(data, capsys)
    assert d["what"] == "dataset" and d["format"] == "pdesurrogate" and d["pde"] == "burgers1d"
    assert [d["shape"][k] for k in ("trajectories", "times", "channels")] + d["shape"]["grid"] \
        == list(u_shape)
    assert d["dims"] == ["trajectory", "time", "channel", "x"] and d["channel_names"] == ["u"]
    assert d["params"] == {"nu": {"min": float(np.min(nu)), "max": float(np.max(nu))}}
    assert d["time"] == {"size": 3, "first": float(times[0]), "last": float(times[-1]),
                         "step": float(times[1] - times[0])}
    assert d["grid"] == [{"name": "x", "size": 32, "first": float(x[0]), "last": float(x[-1]),
                          "step": float((x[-1] - x[0]) / 31)}]
    assert d["file_bytes"] == os.path.getsize(data) and d["attrs"]["pde"] == "burgers1d"


def test_a_steady_map_a_pinn_and_a_model_of_own_code(tmp_path, capsys):
    """A steady map names its inputs and targets and has no time step; a PINN its problem and
    network, whose parameters exclude the problem's coefficients; a model of the user's own
    code is described from its config (its class is never imported) with torch's count."""
    from pdesurrogate.models import FNO
    from pdesurrogate.pinn import SDGD, PINNModule, SineGordon
    from pdesurrogate.training import SteadyModule
    from tests.test_export_steady import INFO, STATS

    torch.manual_seed(0)
    m = SteadyModule(FNO(1, 1, [4, 4], hidden_channels=4, n_layers=2))
    m.set_normalization(STATS)
    m.data_info = dict(INFO)
    steady = _json(export_surrogate(m, tmp_path / "steady"), capsys)
    assert steady["kind"] == "steady map" and (steady["inputs"], steady["targets"]) == (["a"],
                                                                                        ["u"])
    assert steady["n_parameters"] == sum(p.numel() for p in m.model.parameters())
    assert steady["param_names"] == [] and steady["param_ranges"] == {"a_pos": [12.0, 12.0]}
    assert steady["dt"] is None and steady["grid"]["shape"] == [8, 8]
    rc, text, _ = _info(tmp_path / "steady", capsys)
    assert rc == 0 and "  map            a -> u\n" in text and "time step" not in text

    pinn_module = PINNModule(SineGordon(3, seed=0), SDGD(2), width=8, depth=2)
    pinn = _json(export_surrogate(pinn_module, tmp_path / "pinn"), capsys)
    assert pinn["kind"] == "PINN" and pinn["problem"] == {"name": "sine_gordon", "dim": 3,
                                                          "seed": 0}
    assert pinn["n_parameters"] == sum(p.numel() for p in pinn_module.net.parameters())
    assert pinn["n_weights"] == pinn["n_parameters"] + pinn_module.problem.c.numel()

    own = _json(export_surrogate(own_module(), tmp_path / "own"), capsys)
    assert own["model"]["class"] == NAME and own["checked_against_model"] is False
    assert own["n_parameters"] == sum(p.numel() for p in TinyNet(width=5).parameters())


def test_pdebench_and_the_well_files(tmp_path, capsys, no_field_reads):
    """Their layouts: format, the parameter PDEBench's file name gives, The Well's scalars,
    shapes and coordinates as h5py reads them."""
    pdebench = tmp_path / "1D_Advection_Sols_beta0.4.hdf5"
    x, t = np.linspace(0, 1, 10), np.linspace(0, 2, 7)
    with h5py.File(pdebench, "w") as f:
        f["tensor"] = np.zeros((4, 6, 10), np.float32)
        f["x-coordinate"], f["t-coordinate"] = x, t
    d = _json(pdebench, capsys)
    assert (d["format"], d["pde"]) == ("pdebench", "1D_Advection_Sols")
    assert d["shape"] == {"trajectories": 4, "times": 6, "channels": 1, "grid": [10]}
    assert d["params"] == {"beta": {"min": 0.4, "max": 0.4}}
    assert d["time"]["size"] == 6 and d["time"]["last"] == float(t[5])
    assert d["grid"][0]["last"] == float(x[-1]) and d["file_bytes"] == os.path.getsize(pdebench)

    well = _well(tmp_path / "w.hdf5", **{"scalars/c": np.array([0.5, -2.0])})
    with h5py.File(well, "a") as f:  # one value per trajectory
        f["scalars/c"].attrs["sample_varying"] = True
    d = _json(well, capsys)
    assert d["format"] == "the_well" and d["shape"]["grid"] == [5]
    with h5py.File(well) as f:
        c = f["scalars/c"][()]
    assert d["params"] == {"c": {"min": float(c.min()), "max": float(c.max())}}
    assert d["dims"] == ["trajectory", "time", "channel", "x"]
    rc, text, _ = _info(well, capsys)
    assert rc == 0 and text.startswith(f"{well}: dataset file, The Well layout, ")
    assert "  parameters  c  min -2, max 0.5\n" in text


def test_a_path_that_is_neither_is_one_error_line_with_status_2(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    (tmp_path / "empty").mkdir()
    for path, what in ((tmp_path / "missing", "does not exist"),
                       (text, "is neither an export folder nor an HDF5/netCDF4 file"),
                       (tmp_path / "empty", "is a folder without config.json or "
                                            "model.safetensors")):
        rc, out, err = _info(path, capsys)
        assert rc == 2 and out == ""
        assert err.splitlines()[0].startswith("pdesurrogate info: error: "), err
        assert f"{str(path)!r} {what}; expected an exported surrogate folder (config.json + " \
               "model.safetensors) or a dataset file" in err, err
    (tmp_path / "empty" / "config.json").write_text("{}")
    rc, out, err = _info(tmp_path / "empty" / "config.json", capsys)
    assert rc == 2 and out == "" and err.startswith(
        f"pdesurrogate info: error: ValueError: {str(tmp_path / 'empty' / 'config.json')!r} is "
        f"one file of an export; give its folder {str(tmp_path / 'empty')!r}\n"), err


def test_an_export_load_refuses_gets_loads_error(tmp_path, capsys):
    """The same message as pdesurrogate.load, naming config.json and the key."""
    from pdesurrogate.models import FNO
    from tests.test_export import _module

    out = export_surrogate(_module(FNO(2, 2, [4], 8, 2, n_params=1)), tmp_path / "sur")
    cfg = json.loads((out / "config.json").read_text())
    for key, value in (("dt", -1.0), ("grid_shape", [16, 16])):
        (out / "config.json").write_text(json.dumps({**cfg, key: value}))
        with pytest.raises(ValueError) as refused:
            load(out)
        rc, stdout, err = _info(out, capsys)
        assert rc == 2 and stdout == ""
        assert err.splitlines()[0] == f"pdesurrogate info: error: ValueError: {refused.value}"
        assert "config.json" in err and key in err
    (out / "config.json").write_text(json.dumps(cfg))
    (out / "model.safetensors").write_bytes(b"\x80\x04junk")
    rc, _, err = _info(out, capsys)
    assert rc == 2 and "is a pickle / torch.save file, not safetensors" in err


def test_help_lists_info_and_its_json_keys(capsys):
    assert main(["--help"]) == 0
    assert "info         say what an export folder, a dataset file or a checkpoint" in \
        capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main(["info", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Examples: pdesurrogate info models/fno_burgers" in text
    for key in ("n_parameters", "param_ranges", "trained_on", "file_bytes", "params"):
        assert key in text
    assert "The description goes to stdout, errors to stderr. Exit status: 0 done" in text


def test_an_export_of_two_saved_steps_and_weights_load_refuses(tmp_path, capsys):
    """A residual model of k = 2 saved steps says so in its time-step row; weights whose
    tensors do not match the model (one renamed) are refused with load's error."""
    from safetensors.torch import load_file, save_file

    from pdesurrogate.models import FNO
    from tests.test_export import INFO, _module

    m = _module(FNO(2, 2, [4], 8, 2, n_params=1), residual=True)
    m.data_info = {**INFO, "k": 2, "dt": 0.2}
    out = export_surrogate(m, tmp_path / "sur")
    rc, text, _ = _info(out, capsys)
    assert rc == 0 and ("  time step      dt 0.2 a model step (k = 2 saved steps), predicts the "
                        "change (residual)\n") in text, text
    weights = load_file(out / "model.safetensors")
    name = next(iter(weights))
    weights[name + "_renamed"] = weights.pop(name)
    save_file(weights, out / "model.safetensors")
    with pytest.raises(ValueError) as refused:
        load(out)
    rc, stdout, err = _info(out, capsys)
    assert rc == 2 and stdout == ""
    assert err.splitlines()[0] == f"pdesurrogate info: error: ValueError: {refused.value}"


def test_uneven_times_one_time_a_nan_parameter_and_a_long_attribute(tmp_path, capsys,
                                                                      no_field_reads):
    """Times 0, 0.1, 0.3 have no step; one saved time has none either; a parameter holding a
    NaN is "nan" in the JSON (which has no NaN) and not called one value of all trajectories
    in the text; an attribute past 100 characters is cut in the text, whole in the JSON."""
    from pdesurrogate.datasets import DatasetWriter

    x = np.arange(8) / 8
    uneven = tmp_path / "uneven.nc"
    with DatasetWriter(uneven, "heat1d", (x,), ("x",), np.array([0.0, 0.1, 0.3]), ["u"], ["k"],
                       2, attrs={"comment": "y" * 150}) as w:
        w.write(0, np.zeros((2, 3, 1, 8), np.float32), {"k": np.array([1.0, np.nan])})
    d = _json(uneven, capsys)
    assert d["time"] == {"size": 3, "first": 0.0, "last": 0.3, "step": None}
    assert d["params"] == {"k": {"min": "nan", "max": "nan"}}
    assert d["attrs"]["comment"] == "y" * 150
    rc, text, _ = _info(uneven, capsys)
    assert rc == 0 and "  time        3 times, 0 .. 0.3, not evenly spaced\n" in text
    assert "  parameters  k  nan in one or more trajectories\n" in text, text
    assert f"  comment               {'y' * 97}...\n" in text, text
    one = tmp_path / "one.nc"
    with DatasetWriter(one, "heat1d", (x,), ("x",), np.array([0.5]), ["u"], [], 2) as w:
        w.write(0, np.zeros((2, 1, 1, 8), np.float32), {})
    d = _json(one, capsys)
    assert d["time"] == {"size": 1, "first": 0.5, "last": 0.5, "step": None}
    assert d["params"] == {}
    rc, text, _ = _info(one, capsys)
    assert "  parameters  none\n  time        1 time, 0.5\n" in text, text


def test_an_export_fine_tuned_after_an_online_run_names_the_stream(tmp_path, capsys):
    """The stream a model was fit on before (provenance.fine_tuned_from) is in the JSON as
    recorded and in the text as its solver, simulations, steps, dt and parameter box."""
    from pdesurrogate.models import FNO
    from tests.test_export import INFO, _module
    from tests.training.test_data_source_records import STREAM

    m = _module(FNO(2, 2, [4], 8, 2, n_params=1))
    m.data_info = {**INFO, "fine_tuned_from": [STREAM]}
    out = export_surrogate(m, tmp_path / "sur")
    assert _json(out, capsys)["fine_tuned_from"] == [STREAM]
    rc, text, _ = _info(out, capsys)
    assert rc == 0 and ("  fine-tuned from  online stream of pdesurrogate.solvers.Advection1D, "
                        "24 simulations of 6 steps, dt 0.05, beta in [0.2, 1]\n") in text, text


def test_a_per_step_series_is_one_row_in_step_order():
    """Lightning logs ``val/rel_l2_step_1`` .. ``_step_12`` in name order (10, 11, 12 before
    2): ``info`` shows the series as one row from its first step's value to its last's, after
    the metrics before it; a lone step stays as it is."""
    from pdesurrogate.info import _metric_rows

    values = {"val/rel_l2": 0.5, **{f"val/rel_l2_step_{i}": i / 100 for i in
                                    sorted(range(1, 13), key=str)},
              "val/loss": 0.25, "val/other_step_3": 0.125}
    assert _metric_rows(values) == [
        ("val/rel_l2", "0.5"),
        ("val/rel_l2_step_1..12", "0.01 .. 0.12 (first .. last of 12 steps)"),
        ("val/loss", "0.25"), ("val/other_step_3", "0.125")]
