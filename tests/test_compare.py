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


def _steady_export(tmp_path) -> str:
    """An untrained steady map a -> u of the same PDE name and grid as the file's."""
    from pdesurrogate.training import SteadyModule

    m = SteadyModule(FNO(1, 1, [4], hidden_channels=4, n_layers=1))
    m.data_info = {"pde": "burgers1d", "grid_shape": [NX], "channel_names": ["a", "u"],
                   "param_names": [], "inputs": ["a"], "targets": ["u"], "k": 1, "dt": None}
    return str(export_surrogate(m, tmp_path / "steady"))


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


def test_outputs_in_missing_folders_are_written_there(models, data, tmp_path):
    """--plot and --json in folders that do not exist yet are written there, as predict's
    --out is (a FileNotFoundError after every rollout, the plot written and the JSON not,
    before); a file where a folder must be is refused before any rollout."""
    plot, js = tmp_path / "new" / "c.png", tmp_path / "new" / "deeper" / "c.json"
    assert main(["compare", "--input", data, "--model", models[0], "--model", models[1],
                 "--plot", str(plot), "--json", str(js)]) == 0
    assert plot.stat().st_size > 0 and json.loads(js.read_text())["models"]
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match=r"--json .*: '.*afile' is not a folder"):
        compare_models(data, models[:2], json_path=str(tmp_path / "afile" / "x" / "c.json"),
                       progress=False)


def test_a_steady_map_among_time_steppers_is_refused_by_name(models, data, tmp_path, capsys,
                                                             monkeypatch):
    """A steady map (a -> u) of the same PDE name, given beside a time-stepper on a file of
    trajectories (channel u alone): refused naming it, with predict's reason, before any
    rollout."""
    steady = _steady_export(tmp_path)
    calls = []
    monkeypatch.setattr(compare, "predict_file", lambda *a, **k: calls.append(a))
    assert main(["compare", "--input", data, "--model", models[0], "--model", steady]) == 2
    err = capsys.readouterr().err
    assert calls == [] and f"model 'steady' ({steady}) cannot run on" in err
    assert "is a steady map from inputs ['a'] to targets ['u']" in err


def test_a_nan_score_ranks_last():
    """Ranked by rel_l2_mean, lowest first, a NaN last whatever its place; seconds per
    trajectory are predict's seconds over the trajectories."""
    from pdesurrogate.compare import ModelResult

    def result(label, last):
        rel = np.array([0.0, last])
        return ModelResult(label, label, rel, {n: rel for n in NAMES}, 1, 2.0, 4)

    ranked = sorted([result("nan", np.nan), result("b", 0.5), result("a", 0.1)],
                    key=compare._rank_key)
    assert [r.label for r in ranked] == ["a", "b", "nan"]
    assert ranked[0].scores["s_per_traj"] == 0.5  # 2 s over 4 trajectories


def test_model_labels():
    """Labels: the folder's name, the path as given where two folders share a name, the
    --label name for a folder also given with --model (one model, not two); one folder under
    two labels is refused (it was compared once, as the last label)."""
    from pdesurrogate.compare import model_labels

    assert model_labels(["runs/a/fno", "runs/b/unet"]) == [("fno", "runs/a/fno"),
                                                           ("unet", "runs/b/unet")]
    assert model_labels(["runs/a/fno", "runs/b/fno/"]) == [("runs/a/fno", "runs/a/fno"),
                                                           ("runs/b/fno/", "runs/b/fno/")]
    assert model_labels(["runs/a/fno", "runs/b/unet"], {"best": "runs/b/unet/"}) == [
        ("fno", "runs/a/fno"), ("best", "runs/b/unet")]
    assert model_labels([], {"best": "runs/b/unet"}) == [("best", "runs/b/unet")]
    with pytest.raises(ValueError, match=r"--label y=runs/a/fno/ and --label x=runs/a/fno "
                                         "name one folder"):
        model_labels([], {"x": "runs/a/fno", "y": "runs/a/fno/"})


def test_a_coarser_step_compares_every_other_frame(data, tmp_path):
    """Two models of dt 0.4 on a file saved every 0.2 compare frames 0, 2, 4 at t = 0, 0.4,
    0.8, each model's rel L2 mean over its 2 steps as predict computes it."""
    coarse = [_export(tmp_path, f"coarse{s}", s, dt=0.4) for s in (0, 1)]
    rep = compare_models(data, coarse, progress=False)
    board = rep.as_dict()
    assert (board["steps"], board["stride"], board["frames"]) == (2, 2, [0, 2, 4])
    assert board["times"] == pytest.approx([0.0, 0.4, 0.8])
    for r in rep.results:
        assert len(r.rel_l2) == 3 and r.scores["rel_l2_mean"] == float(np.mean(r.rel_l2[1:]))


def test_one_rollout_on_disk_at_a_time(models, data, monkeypatch):
    """Each model's rollout file is removed before the next model's is written."""
    seen = []
    real = compare.predict_file

    def recorded(model_dir, input_path, out_path, **kw):
        assert not any(__import__("os").path.exists(p) for p in seen), seen
        seen.append(out_path)
        return real(model_dir, input_path, out_path, **kw)

    monkeypatch.setattr(compare, "predict_file", recorded)
    compare_models(data, models, steps=1, progress=False)
    assert len(seen) == 3


def test_what_cannot_be_compared_is_refused_before_any_rollout(models, data, tmp_path, capsys,
                                                               monkeypatch):
    """Outputs that are the input, a folder, each other or of a type matplotlib cannot write;
    a count below 1; more steps than the file holds truth for; a PINN; a steady map with
    --steps: each one error line, exit 2, nothing rolled out."""
    from pdesurrogate.pinn import SDGD, PINNModule, SineGordon

    pinn = str(export_surrogate(PINNModule(SineGordon(3, seed=0), SDGD(2), width=8, depth=2),
                                tmp_path / "pinn"))
    steady = _steady_export(tmp_path)
    calls = []
    monkeypatch.setattr(compare, "predict_file", lambda *a, **k: calls.append(a))
    one = ["--model", models[0]]
    for args, said in [
        ([*one, "--json", data], "is the input file"),
        ([*one, "--json", str(tmp_path)], "is a directory"),
        ([*one, "--plot", str(tmp_path / "c.out"), "--json", str(tmp_path / "c.out")],
         "--plot and --json are the same file"),
        ([*one, "--plot", str(tmp_path / "c.xyz")], "matplotlib writes only"),
        ([*one, "--samples", "0"], "--samples must be an int >= 1"),
        ([*one, "--steps", "9"], "the file holds no truth at the 9 model steps"),
        ([*one, "--model", pinn], "it is a PINN export"),
        (["--model", steady, "--steps", "1"], "it is a steady map (inputs ['a'] -> targets "
                                              "['u']), which has no time steps"),
    ]:
        assert main(["compare", "--input", data, *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("pdesurrogate compare: error:") and said in err, err
    assert calls == []


def test_the_training_file_reports_each_models_held_out_split(tmp_path, capsys):
    """On the file a model was trained on, predict's note says the held-out test split's error
    "is reported too": compare prints it for that model (and --json holds it per step), equal
    to predict's own figure for that split; a model not trained on the file gets none."""
    from pdesurrogate.predict import predict_file
    from tests.test_predict import _trained_on, _varied

    train = _varied(tmp_path / "train.nc")
    _, own = _trained_on(train, tmp_path / "own")
    other = _export(tmp_path, "other", 5)
    expected = predict_file(own, train, str(tmp_path / "p.nc")).rel_l2_test
    out = tmp_path / "c.json"
    assert main(["compare", "--input", train, "--model", own, "--model", other,
                 "--json", str(out)]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if ": relative L2 vs truth on its held-out" in line]
    assert lines == [f"pdesurrogate compare: own: relative L2 vs truth on its held-out test "
                     f"split alone (2 trajectories): mean {expected[1:].mean():.4g}, last "
                     f"step {expected[-1]:.4g}"]
    rows = {m["label"]: m for m in json.loads(out.read_text())["models"]}
    np.testing.assert_array_equal(rows["own"]["rel_l2_test"], expected)
    assert rows["other"]["rel_l2_test"] is None
