"""``pdesurrogate compare`` with a model whose rollout reaches NaN or inf: the others are ranked,
it comes last with NaN errors (null in valid JSON, beside the step and the reason) and a line
under the table; only when every model diverged is it an error (exit 2, no JSON written). And
``predict`` of such a model names the step, writing nothing. Tiny untrained 1-D FNOs, CPU."""

import json

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from pdesurrogate.cli import main
from pdesurrogate.compare import ERROR_COLUMNS, compare_models
from pdesurrogate.datasets import open_dataset
from pdesurrogate.loading import load

from .test_compare import FRAMES, _export, data, models  # noqa: F401 (fixtures)


def _broken(tmp_path, name="broken") -> str:
    """An export whose first floating-point tensor is all NaN: NaN from model step 1."""
    d = _export(tmp_path, name, 0)
    weights = load_file(f"{d}/model.safetensors")
    first = next(n for n, w in weights.items() if w.is_floating_point())
    weights[first] = torch.full_like(weights[first], float("nan"))
    save_file(weights, f"{d}/model.safetensors")
    return d


def _blowing_up(tmp_path) -> str:
    """An export whose output projection is scaled by 1e15: each step multiplies the state by
    about 1e14, finite for the first steps, past float32's range after a few."""
    d = _export(tmp_path, "blowup", 0)
    weights = load_file(f"{d}/model.safetensors")
    for name in ("net.projection.fcs.1.weight", "net.projection.fcs.1.bias"):
        weights[name] = weights[name] * 1e15
    save_file(weights, f"{d}/model.safetensors")
    return d


def _strict_json(text: str) -> dict:
    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_diverged_model_ranks_last_and_the_others_are_scored(models, data, tmp_path,  # noqa: F811
                                                               capsys):
    """Given first, the NaN model does not stop the run: exit 0, the two others ranked as
    without it (same numbers), it last with NaN cells and a note under the table; the JSON
    parses strictly, its errors null beside diverged_at_step and the reason."""
    broken = _broken(tmp_path)
    alone = compare_models(data, models[:2], progress=False)
    out_json = tmp_path / "c.json"
    assert main(["compare", "--input", data, "--model", broken, "--model", models[0],
                 "--model", models[1], "--json", str(out_json),
                 "--plot", str(tmp_path / "c.png")]) == 0
    out, err = capsys.readouterr()
    board = _strict_json(out_json.read_text())
    rows = board["models"]
    assert [r["model"] for r in rows] == [*(r.model_dir for r in alone.results), broken]
    for row, want in zip(rows[:2], alone.results, strict=True):
        assert row["rel_l2_mean"] == want.scores["rel_l2_mean"]
        assert row["diverged_at_step"] is None and row["failure"] is None
    last = rows[-1]
    assert last["rank"] == 3 and last["diverged_at_step"] == 1
    assert all(last[c] is None for c in ERROR_COLUMNS) and last["s_per_traj"] is None
    assert last["rel_l2"] == [None] * FRAMES and last["params"] > 0
    assert "not finite (NaN or inf) from model step 1" in last["failure"]
    lines = out.splitlines()
    assert lines[-1] == ("NaN: broken: diverged at model step 1 (its rollout is NaN or inf "
                         "there): not scored, ranked last")
    cells = lines[-2].split()
    assert cells[:2] == ["3", "broken"] and cells[2:2 + len(ERROR_COLUMNS)] == [
        "NaN"] * len(ERROR_COLUMNS) and cells[-1] == "n/a"
    assert [line.split()[0] for line in lines[2:4]] == ["*1", "2"]
    assert "broken: the rollout of" in err


def test_a_later_divergence_is_named_at_its_step(models, data, tmp_path):  # noqa: F811
    """A model finite for a few steps, then past float32's range: diverged at the first step
    whose state (rolled out directly with the export) is not finite, ranked below the scored
    model, the plot still drawn."""
    blowup = _blowing_up(tmp_path)
    f = open_dataset(data)
    try:
        u0 = np.asarray(f.u[:, 0], np.float32)
        nu = np.asarray(f.params["nu"][:], np.float32)
    finally:
        f.close()
    states = load(blowup).rollout(u0, {"nu": nu}, steps=FRAMES - 1)
    finite = np.isfinite(states).reshape(*states.shape[:2], -1).all(axis=(0, 2))
    want = int(np.flatnonzero(~finite)[0])
    assert 1 < want <= FRAMES - 1  # finite at first, diverged within the file's steps
    rep = compare_models(data, [blowup, models[0]], plot=str(tmp_path / "p.png"),
                         progress=False)
    assert [r.model_dir for r in rep.results] == [models[0], blowup]
    assert rep.results[1].diverged_at == want
    assert f"roll out at most {want - 1} step(s)" in rep.results[1].failure
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_every_model_diverged_is_an_error_and_writes_nothing(data, tmp_path, capsys):  # noqa: F811
    """Nothing to rank: exit 2 with one error line naming each model, and no --json."""
    a, b = _broken(tmp_path, "a"), _broken(tmp_path, "b")
    out_json = tmp_path / "c.json"
    assert main(["compare", "--input", data, "--model", a, "--model", b,
                 "--json", str(out_json)]) == 2
    err = capsys.readouterr().err
    assert f"every model's rollout reached NaN or inf on {data!r}, nothing to rank" in err
    assert "model 'a': the rollout of" in err and "model 'b': the rollout of" in err
    assert not out_json.exists()


def test_predict_of_a_diverged_model_names_the_step_and_writes_nothing(data, tmp_path,  # noqa: F811
                                                                      capsys):
    """predict's error names the model, the step and the trajectory; no --out is left."""
    broken = _broken(tmp_path)
    out = tmp_path / "out.nc"
    assert main(["predict", "--model", broken, "--input", data, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert (f"the rollout of {broken!r} is not finite (NaN or inf) from model step 1 on, "
            "first at trajectory 0 (counted from 0)") in err, err
    assert not out.exists()
