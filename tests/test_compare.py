"""``pdesurrogate compare``: a leaderboard of exported surrogates on one file whose numbers are
``pdesurrogate predict``'s for each model (its output's attributes), best first; a model that
cannot run on the file is refused, by name, before any rollout; --plot writes a PNG and
--json reads back as the table. Tiny untrained 1-D FNOs (16 points), CPU, seconds."""

import json

import h5py
import numpy as np
import pytest
import torch

import pdesurrogate.compare as compare
from pdesurrogate.cli import main
from pdesurrogate.compare import ERROR_COLUMNS, compare_models
from pdesurrogate.datasets import ChannelStats, DatasetWriter
from pdesurrogate.export import export_surrogate
from pdesurrogate.metrics import NAMES
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule

NX, N, FRAMES = 16, 3, 5
STATS = ChannelStats(mean=[0.0], std=[1.0], spatial_dims=1, param_names=["nu"],
                     param_mean=[0.1], param_std=[0.02])


def _export(tmp_path, name, seed, dt=0.2, pde="burgers1d"):
    """An untrained FNO (weights drawn from ``seed``) exported as trained on ``pde``, 16
    points, one parameter nu, one model step ``dt``."""
    torch.manual_seed(seed)
    m = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), residual=True)
    m.set_normalization(STATS)
    m.data_info = {"pde": pde, "grid_shape": [NX], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": dt}
    return str(export_surrogate(m, tmp_path / name))


@pytest.fixture
def data(tmp_path):
    """N trajectories ``sin(2 pi x + i) (1 + t)`` on 16 points, FRAMES times 0.2 apart."""
    x = np.arange(NX) / NX
    times = np.arange(FRAMES) * 0.2
    u = np.stack([np.sin(2 * np.pi * x + i)[None, None] * (1 + times)[:, None, None]
                  for i in range(N)]).astype(np.float32)
    path = tmp_path / "heldout.nc"
    with DatasetWriter(path, "burgers1d", (x,), ("x",), times, ["u"], ["nu"], N) as w:
        w.write(0, u, {"nu": np.array([0.08, 0.1, 0.12])})
    return str(path)


@pytest.fixture
def models(tmp_path):
    return [_export(tmp_path, f"fno_seed{s}", s) for s in (0, 1, 2)]


def _predicted(model, data, out, capsys) -> dict[str, float]:
    """``pdesurrogate predict``'s errors of ``model`` on ``data``, read back from its output's
    attributes and averaged over steps 1.. as its table does (max_error: the maximum)."""
    assert main(["predict", "--model", model, "--input", data, "--out", str(out)]) == 0
    capsys.readouterr()
    with h5py.File(out, "r") as f:
        per_step = {"rel_l2": np.asarray(f.attrs["rel_l2_vs_truth"], dtype=float),
                    **{n: np.asarray(f.attrs[f"{n}_vs_truth"], dtype=float) for n in NAMES}}
    got = {"rel_l2_mean": per_step["rel_l2"][1:].mean(), "rel_l2_last": per_step["rel_l2"][-1]}
    for n in NAMES:
        v = per_step[n][1:]
        got[n] = v.max() if n == "max_error" else (np.nan if np.isnan(v).all() else v.mean())
    return got


def test_the_leaderboard_holds_predicts_numbers_best_first(models, data, tmp_path, capsys):
    """Three models given worst first: the JSON's numbers are bit for bit predict's for each
    model, the rows come best first (rank 1 marked *), the plain table printed to stdout
    (a pipe here) shows the same numbers to 4 digits, and --plot is a PNG."""
    want = {m: _predicted(m, data, tmp_path / f"{i}.nc", capsys) for i, m in enumerate(models)}
    rel = {m: want[m]["rel_l2_mean"] for m in models}
    assert len(set(rel.values())) == 3  # distinct, so the order is a real check
    best_first = sorted(models, key=rel.get)
    given = best_first[::-1]
    args = ["compare", "--input", data, "--model", given[0], "--model", given[1],
            "--label", f"third={given[2]}", "--json", str(tmp_path / "c.json"),
            "--plot", str(tmp_path / "c.png")]
    assert main(args) == 0
    out, err = capsys.readouterr()
    board = json.loads((tmp_path / "c.json").read_text())
    assert [m["model"] for m in board["models"]] == best_first
    assert [m["rank"] for m in board["models"]] == [1, 2, 3]
    assert board["steps"] == FRAMES - 1 and board["samples"] == N
    for row in board["models"]:
        for col in ERROR_COLUMNS:
            w = want[row["model"]][col]
            assert (row[col] is None) if np.isnan(w) else row[col] == w, (row["model"], col)
        assert row["params"] > 0 and row["s_per_traj"] > 0
    assert board["models"][0]["label"] == "third"  # the best, given last with --label
    lines = out.splitlines()
    head = lines[1].split()
    assert head[:2] == ["rank", "model"] and head[2:2 + len(ERROR_COLUMNS)] == list(
        ERROR_COLUMNS)
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == ["*1", "2", "3"]
    for r, m in zip(rows, best_first, strict=True):
        shown = [("n/a" if np.isnan(want[m][c]) else format(want[m][c], ".4g"))
                 for c in ERROR_COLUMNS]
        assert r[2:2 + len(ERROR_COLUMNS)] == shown
    assert "model 3 of 3" in err
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_reads_back_as_the_report(models, data, tmp_path):
    """compare_models' JSON is its report's as_dict, NaN (the 16-point grid's empty high
    Fourier band) as null, each model's per-step errors included; and no rollout file is
    left anywhere: the temporary folder is gone."""
    made = []
    real = compare.predict_file

    def recorded(model_dir, input_path, out_path, **kw):
        made.append(out_path)
        return real(model_dir, input_path, out_path, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compare, "predict_file", recorded)
        rep = compare_models(data, models[:2], {"second": models[1]}, steps=2,
                             json_path=str(tmp_path / "c.json"), progress=False)
    back = json.loads((tmp_path / "c.json").read_text())
    assert back == rep.as_dict()
    assert back["frames"] == [0, 1, 2] and len(back["models"][0]["rel_l2"]) == 3
    assert all(m["frmse_high"] is None for m in back["models"])
    assert {m["label"] for m in back["models"]} == {"fno_seed0", "second"}
    assert len(made) == 2 and not any(__import__("os").path.exists(p) for p in made)


@pytest.mark.parametrize("bad, match", [
    (dict(pde="heat1d"), r"holds 'burgers1d' data but the model .* was trained on 'heat1d'"),
    (dict(dt=0.3), r"saved times are 0\.2 apart but one step of the model"),
])
def test_a_model_that_cannot_run_is_refused_by_name_before_any_rollout(
        models, data, tmp_path, capsys, monkeypatch, bad, match):
    """The unfit model, given last, is named (label and folder) with predict's reason, exit 2
    in the house's error line, and no model was rolled out."""
    wrong = _export(tmp_path, "wrong", 0, **bad)
    calls = []
    monkeypatch.setattr(compare, "predict_file", lambda *a, **k: calls.append(a))
    rc = main(["compare", "--input", data, "--model", models[0], "--model", wrong])
    err = capsys.readouterr().err
    assert rc == 2 and calls == []
    assert err.startswith(f"pdesurrogate compare: error: ValueError: model 'wrong' ({wrong}) "
                          f"cannot run on {data!r}: ")
    assert __import__("re").search(match, err)


def test_models_comparing_different_frames_are_refused(models, data, tmp_path, capsys,
                                                       monkeypatch):
    """A model of dt 0.4 runs on a file saved every 0.2 (every 2nd frame) but an 0.2 one
    compares every frame: refused, naming both and their frames, before any rollout."""
    coarse = _export(tmp_path, "coarse", 0, dt=0.4)
    calls = []
    monkeypatch.setattr(compare, "predict_file", lambda *a, **k: calls.append(a))
    rc = main(["compare", "--input", data, "--model", models[0], "--model", coarse])
    err = capsys.readouterr().err
    assert rc == 2 and calls == []
    assert "model 'coarse'" in err and "model 'fno_seed0'" in err
    assert "different frames" in err and "frames 0, 2, .., 4" in err and "frames 0, 1, .., 4" \
        in err


def test_bad_labels_and_outputs_are_refused(models, data, tmp_path, capsys):
    """A folder given twice, two models of one label and an existing --json (without
    --overwrite) are errors before any rollout, exit 2."""
    (tmp_path / "taken.json").write_text("{}")
    for args, said in [
        (["--model", models[0], "--model", models[0]], "is given twice"),
        (["--model", models[0], "--label", f"fno_seed0={models[1]}"], "the same label"),
        (["--model", models[0], "--json", str(tmp_path / "taken.json")], "exists; pass "
                                                                          "--overwrite"),
    ]:
        assert main(["compare", "--input", data, *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("pdesurrogate compare: error:") and said in err, err


def test_a_steady_map_among_time_steppers_is_refused_by_name(models, data, tmp_path, capsys,
                                                             monkeypatch):
    """A steady map (a -> u) of the same PDE name, given beside a time-stepper on a file of
    trajectories (channel u alone): refused naming it, with predict's reason, before any
    rollout."""
    from pdesurrogate.training import SteadyModule

    m = SteadyModule(FNO(1, 1, [4], hidden_channels=4, n_layers=1))
    m.data_info = {"pde": "burgers1d", "grid_shape": [NX], "channel_names": ["a", "u"],
                   "param_names": [], "inputs": ["a"], "targets": ["u"], "k": 1, "dt": None}
    steady = str(export_surrogate(m, tmp_path / "steady"))
    calls = []
    monkeypatch.setattr(compare, "predict_file", lambda *a, **k: calls.append(a))
    assert main(["compare", "--input", data, "--model", models[0], "--model", steady]) == 2
    err = capsys.readouterr().err
    assert calls == [] and f"model 'steady' ({steady}) cannot run on" in err
    assert "is a steady map from inputs ['a'] to targets ['u']" in err
