"""``pdesurrogate predict --input FOLDER``: a folder of dataset files rolls out as its files one
after the other into one output (the same values as each file alone), a train/ valid/ test/
folder from its test/ part, a folder the model was fit on warns as its training file does, and
errors name the file in the folder. Tiny untrained 1-D FNOs (16 points), CPU, seconds."""

import json
import shutil

import h5py
import numpy as np
import pytest

from pdesurrogate.cli import main
from pdesurrogate.datasets import DatasetWriter, open_dataset
from pdesurrogate.predict import predict_file
from tests.test_compare import _export
from tests.test_predict import _trained_on

NX, FRAMES = 16, 5


def _file(path, n, seed, nu_nan_at=None):
    """``n`` trajectories ``a_i sin(2 pi (x - c_i t))`` (drawn from ``seed``) at t = 0, 0.2,
    .., 0.8, parameter nu (NaN at trajectory ``nu_nan_at``)."""
    rng = np.random.default_rng(seed)
    x, times = np.arange(NX) / NX, np.arange(FRAMES) * 0.2
    a, c = rng.uniform(0.5, 2.0, n), rng.uniform(-1, 1, n)
    u = a[:, None, None] * np.sin(2 * np.pi * (x[None, None] - c[:, None, None]
                                               * times[None, :, None]))
    nu = rng.uniform(0.05, 0.15, n)
    if nu_nan_at is not None:
        nu[nu_nan_at] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    with DatasetWriter(path, "burgers1d", (x,), ("x",), times, ["u"], ["nu"], n) as w:
        w.write(0, u[:, :, None].astype(np.float32), {"nu": nu})
    return str(path)


def _folder(folder, sizes=(2, 3, 1), seed=10):
    """A folder of files ``a.nc``, ``b.nc``, .. of ``sizes`` trajectories; their paths."""
    return [_file(folder / f"{chr(97 + i)}.nc", n, seed + i) for i, n in enumerate(sizes)]


def _u(path) -> np.ndarray:
    with open_dataset(path) as d:
        return d.u[:]


def test_a_folder_rolls_out_as_its_files_one_after_the_other(tmp_path, capsys):
    """Every trajectory of every file, in the order of the names, into one output: its states
    and parameters are each file's own rollout's, concatenated, its error the mean over all
    (each file's weighted by its trajectories), and its attributes name the files and their
    trajectories; --samples takes the first ones across files, --steps and --plot work."""
    model = _export(tmp_path, "fno", 0)
    files = _folder(tmp_path / "data")
    alone = [predict_file(model, f, str(tmp_path / f"alone{i}.nc"))
             for i, f in enumerate(files)]
    # a batch of all 6 trajectories spans the three files
    rep = predict_file(model, str(tmp_path / "data"), str(tmp_path / "all.nc"),
                       plot=str(tmp_path / "all.png"))
    assert rep.samples == 6 and rep.batch_size == 6 and rep.steps == FRAMES - 1
    assert rep.note is None and (tmp_path / "all.png").stat().st_size > 0
    each = np.concatenate([_u(tmp_path / f"alone{i}.nc") for i in range(3)])
    np.testing.assert_allclose(_u(tmp_path / "all.nc"), each, rtol=1e-6, atol=1e-7)
    sizes = np.array([2, 3, 1])
    np.testing.assert_allclose(rep.rel_l2, sum(n * r.rel_l2 for n, r in zip(sizes, alone,
                                                                              strict=True)) / 6,
                               rtol=1e-6)
    with open_dataset(tmp_path / "all.nc") as out:
        nu = []
        for i in range(3):
            with open_dataset(tmp_path / f"alone{i}.nc") as one:
                nu.append(one.params["nu"])
        np.testing.assert_array_equal(out.params["nu"], np.concatenate(nu))
        assert out.attrs["source_file"] == str(tmp_path / "data")
        assert out.attrs["source_files"] == '["a.nc", "b.nc", "c.nc"]'
        assert list(out.attrs["source_file_trajectories"]) == [2, 3, 1]
        np.testing.assert_allclose(out.attrs["rel_l2_vs_truth"], rep.rel_l2)

    # the command: the first 3 trajectories (a.nc's 2, b.nc's first), 2 steps
    assert main(["predict", "--model", model, "--input", str(tmp_path / "data"), "--out",
                 str(tmp_path / "few.nc"), "--samples", "3", "--steps", "2"]) == 0
    assert "3 trajectories x 2 steps" in " ".join(capsys.readouterr().err.split())
    np.testing.assert_allclose(_u(tmp_path / "few.nc"), each[:3, :3], rtol=1e-6, atol=1e-7)
    with h5py.File(tmp_path / "few.nc", "r") as f:
        assert f.attrs["source_files"] == '["a.nc", "b.nc"]'
        assert list(f.attrs["source_file_trajectories"]) == [2, 1]


def test_a_split_folder_rolls_out_its_test_part_and_says_so(tmp_path, capsys):
    """A folder of train/, valid/ and test/ (The Well's data/) rolls out test/ alone, as
    predict --input data/test does, and a line says so."""
    model = _export(tmp_path, "fno", 0)
    data = tmp_path / "data"
    _file(data / "train" / "t.nc", 4, 1)
    _file(data / "valid" / "v.nc", 2, 2)
    _folder(data / "test", sizes=(2, 1), seed=3)
    rep = predict_file(model, str(data), str(tmp_path / "p.nc"))
    direct = predict_file(model, str(data / "test"), str(tmp_path / "q.nc"))
    assert rep.samples == 3
    np.testing.assert_array_equal(_u(tmp_path / "p.nc"), _u(tmp_path / "q.nc"))
    np.testing.assert_array_equal(rep.rel_l2, direct.rel_l2)
    said = (f"{str(data)!r} is split into train/, valid/ and test/ folders (The Well's "
            f"layout): predict --input reads its test/ folder {str(data / 'test')!r} alone, "
            f"the held-out part; pass {str(data / 'train')!r} or {str(data / 'valid')!r} to "
            "score the others")
    assert rep.note == said and direct.note is None

    assert main(["predict", "--model", model, "--input", str(data), "--out",
                 str(tmp_path / "cli.nc")]) == 0
    assert said in " ".join(capsys.readouterr().err.split())

    # a model fit on the split folder: test/ is its held-out split, so no training warning
    from pdesurrogate.export import export_surrogate
    from pdesurrogate.models import FNO
    from pdesurrogate.training import FieldDataModule, NextStepModule

    dm = FieldDataModule(str(data))
    dm.setup("fit")
    m = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), residual=True)
    m.set_normalization(dm.stats)
    m.data_info = dm.data_info
    fit = export_surrogate(m, tmp_path / "fit_on_data")
    source = json.loads((fit / "config.json").read_text())["provenance"]["data_source"]
    assert source["path"] == str(data) and source["split_folders"] == [4, 2, 3]
    with pytest.warns(UserWarning, match="outside the range"):  # valid/ and test/ nu
        assert predict_file(str(fit), str(data), str(tmp_path / "r.nc")).note == said


def test_the_folder_the_model_was_fit_on_warns_and_reports_its_test_split(tmp_path):
    """predict on the folder the model was fit on (or a copy of it: file names and the path
    are not hashed) warns as on a training file and reports its held-out test split alone;
    the folder with one file regenerated is other data: neither."""
    data = tmp_path / "data"
    _folder(data, sizes=(4, 6), seed=20)
    dm, model = _trained_on(str(data), tmp_path / "model")
    copy = shutil.copytree(data, tmp_path / "copy")
    for i, path in enumerate((str(data), str(copy))):
        rep = predict_file(model, path, str(tmp_path / f"p{i}.nc"))
        assert rep.note == (
            f"warning: {path!r} is the folder the model was trained on (same content "
            "fingerprint): the relative L2 vs truth averages all 10 trajectories, 6 of them "
            "from its training split; its held-out test split alone (2 trajectories) is "
            "reported too")
        assert rep.test_indices.tolist() == dm.test_indices.tolist()
        truth, out = _u(path), _u(tmp_path / f"p{i}.nc")
        err = np.linalg.norm((out - truth).reshape(10, FRAMES, -1), axis=-1) \
            / np.linalg.norm(truth.reshape(10, FRAMES, -1), axis=-1)
        np.testing.assert_allclose(rep.rel_l2_test, err[dm.test_indices].mean(axis=0),
                                   rtol=1e-5)

    _file(copy / "b.nc", 6, 99)  # regenerated with another seed
    rep = predict_file(model, str(copy), str(tmp_path / "other.nc"))
    assert rep.note is None and rep.rel_l2_test is None


def test_errors_name_the_folder_or_its_file(tmp_path, capsys):
    """One error line (then the PDESURROGATE_DEBUG hint): files that differ name the first
    that differs; a NaN parameter or truth names the file holding it and its trajectory there;
    --out inside the folder is refused."""
    model = _export(tmp_path, "fno", 0)
    data = tmp_path / "data"
    _folder(data, sizes=(2, 2))
    _file(data / "c.nc", 2, 5, nu_nan_at=1)
    with pytest.raises(ValueError, match=(
            rf"{str(data)!r}: parameter 'nu' of trajectory 5 \(trajectory 1 of its file "
            rf"{str(data / 'c.nc')!r}\) is nan")):
        predict_file(model, str(data), str(tmp_path / "p.nc"))

    # a NaN in the truth of the second file's second trajectory (frame 3)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(data / "a.nc", other / "a.nc")
    _file(other / "b.nc", 2, 6)
    with h5py.File(other / "b.nc", "r+") as f:
        f["u"][1, 3, 0, 4] = np.nan
    with pytest.raises(ValueError, match=(
            rf"{str(other)!r}: truth is not finite \(NaN or inf\) at trajectory 3 \(counted "
            rf"from 0\), frame 3, channel 0 \(trajectory 1 of its file "
            rf"{str(other / 'b.nc')!r}\)$")):
        predict_file(model, str(other), str(tmp_path / "p.nc"))

    for out in (data / "p.nc", data / "sub" / "p.nc"):
        assert main(["predict", "--model", model, "--input", str(data), "--out",
                     str(out)]) == 2
        err = capsys.readouterr().err.splitlines()[0]
        assert err.startswith("pdesurrogate predict: error: ValueError: ") and (
            f"--out {str(out)!r} is inside the input folder {str(data)!r}") in err, err
        assert not out.exists()

    # a file of other times
    x = np.arange(NX) / NX
    with DatasetWriter(data / "d.nc", "burgers1d", (x,), ("x",), np.arange(3) * 0.2, ["u"],
                       ["nu"], 1) as w:
        w.write(0, np.zeros((1, 3, 1, NX), np.float32), {"nu": np.array([0.1])})
    assert main(["predict", "--model", model, "--input", str(data), "--out",
                 str(tmp_path / "q.nc")]) == 2
    err = capsys.readouterr().err.splitlines()[0]
    assert err.startswith(f"pdesurrogate predict: error: ValueError: folder {str(data)!r}: "
                          "file 'd.nc' differs from the first file 'a.nc'"), err
