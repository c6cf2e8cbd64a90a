"""``pdesurrogate compare --input FOLDER``: a folder of dataset files ranks the models as one file
holding all its trajectories does, a train/ valid/ test/ folder on its test/ part (said), and a
folder a model was fit on reports that model's held-out split. Tiny untrained 1-D FNOs (16
points), CPU, seconds."""

import json

import numpy as np

from pdesurrogate.cli import main
from pdesurrogate.compare import ERROR_COLUMNS, compare_models
from pdesurrogate.datasets import DatasetWriter, open_dataset
from tests.test_compare import _export
from tests.test_predict import _trained_on
from tests.test_predict_folder import _file, _folder


def _one_file(files, path) -> str:
    """One file holding the trajectories of ``files`` one after the other."""
    datas = [open_dataset(f) for f in files]
    try:
        u = np.concatenate([d.u[:] for d in datas])
        nu = np.concatenate([d.params["nu"] for d in datas])
        first = datas[0]
        with DatasetWriter(path, "burgers1d", first.grid, first.grid_names, first.times,
                           ["u"], ["nu"], len(u)) as w:
            w.write(0, u, {"nu": nu})
    finally:
        for d in datas:
            d.close()
    return str(path)


def test_a_folder_ranks_as_one_file_of_all_its_trajectories(tmp_path):
    """Three models over a folder of three files: the same order, scores, per-step errors and
    plotted curves as over one file holding the same trajectories in the same order."""
    models = [_export(tmp_path, f"fno_seed{s}", s) for s in (0, 1, 2)]
    files = _folder(tmp_path / "data")
    whole = _one_file(files, tmp_path / "whole.nc")
    folder = compare_models(str(tmp_path / "data"), models, plot=str(tmp_path / "f.png"),
                            json_path=str(tmp_path / "f.json"), progress=False)
    one = compare_models(whole, models, progress=False)
    assert folder.samples == one.samples == 6 and folder.note is None
    assert [r.label for r in folder.results] == [r.label for r in one.results]
    assert len({r.scores["rel_l2_mean"] for r in one.results}) == 3  # a real ranking
    for a, b in zip(folder.results, one.results, strict=True):
        for c in ERROR_COLUMNS:
            np.testing.assert_allclose(a.scores[c], b.scores[c], rtol=1e-5, err_msg=c)
        np.testing.assert_allclose(a.rel_l2, b.rel_l2, rtol=1e-5)
    board = json.loads((tmp_path / "f.json").read_text())
    assert board["input"] == str(tmp_path / "data") and board["input_note"] is None
    assert [m["label"] for m in board["models"]] == [r.label for r in one.results]
    assert (tmp_path / "f.png").stat().st_size > 0


def test_a_split_folder_is_compared_on_its_test_part_and_says_so(tmp_path, capsys):
    """train/ valid/ test/: the models are ranked on test/ alone, as --input FOLDER/test ranks
    them; the table's heading names test/ and a line says why."""
    models = [_export(tmp_path, f"fno_seed{s}", s) for s in (0, 1)]
    data = tmp_path / "data"
    _file(data / "train" / "t.nc", 4, 1)
    _file(data / "val" / "v.nc", 2, 2)
    _folder(data / "test", sizes=(2, 1), seed=3)
    rep = compare_models(str(data), models, progress=False)
    direct = compare_models(str(data / "test"), models, progress=False)
    assert rep.input == str(data / "test") and rep.samples == 3 and direct.note is None
    assert [r.label for r in rep.results] == [r.label for r in direct.results]
    for a, b in zip(rep.results, direct.results, strict=True):
        assert [a.scores[c] for c in ERROR_COLUMNS] == [b.scores[c] for c in ERROR_COLUMNS]
    said = (f"{str(data)!r} is split into train/, val/ and test/ folders (The Well's layout): "
            f"compare --input reads its test/ folder {str(data / 'test')!r} alone, the "
            f"held-out part; pass {str(data / 'train')!r} or {str(data / 'val')!r} to score "
            "the others")
    assert rep.note == said

    out = tmp_path / "c.json"
    args = ["compare", "--input", str(data), "--json", str(out)]
    assert main([*args, *(a for m in models for a in ("--model", m))]) == 0
    captured = capsys.readouterr()
    assert f"pdesurrogate compare: {said}" in " ".join(captured.err.split())
    assert captured.out.startswith(f"{data / 'test'}: 2 model(s) on 3 trajectories")
    assert json.loads(out.read_text())["input_note"] == said


def test_the_folder_a_model_was_fit_on_reports_its_held_out_split(tmp_path, capsys):
    """On the folder a model was fit on, compare prints that model's held-out test split line
    (as on its training file); a model fit elsewhere gets none."""
    from pdesurrogate.predict import predict_file

    data = tmp_path / "data"
    _folder(data, sizes=(4, 6), seed=20)
    _, own = _trained_on(str(data), tmp_path / "own")
    other = _export(tmp_path, "other", 5)
    expected = predict_file(own, str(data), str(tmp_path / "p.nc")).rel_l2_test
    assert main(["compare", "--input", str(data), "--model", own, "--model", other]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert (f"pdesurrogate compare: warning: own: {str(data)!r} is the folder the model was "
            "trained on (same content fingerprint)") in err, err
    assert (f"pdesurrogate compare: own: relative L2 vs truth on its held-out test split alone "
            f"(2 trajectories): mean {expected[1:].mean():.4g}, last step "
            f"{expected[-1]:.4g}") in err
    assert "other: relative L2" not in err
