"""A PDEBench file without ``t-coordinate`` (``grid/t`` in the grouped layout) reads its saved
times as frame indices 0 .. T - 1 (the documented fallback), which nothing said: ``info``
showed "step 1" like real times, and predict's spacing error said "saved times are 1 apart" as
if the file held them. Both now say the times are frame indices and why; a file with its
times says nothing of the kind."""

import json
import os

import h5py
import numpy as np
import pytest

from pdesurrogate.cli import main
from pdesurrogate.datasets import open_dataset
from pdesurrogate.predict import predict_file
from tests.test_predict import NX, model  # noqa: F401 (model: the fixture, dt = 0.2)

NOTE = "frame indices 0, 1, 2, ..: the file has no 't-coordinate' dataset of saved times"


def _single(path, times=None):
    with h5py.File(path, "w") as f:
        f["tensor"] = np.random.default_rng(0).standard_normal((3, 5, NX)).astype(np.float32)
        f["x-coordinate"] = np.linspace(0, 1, NX)
        if times is not None:
            f["t-coordinate"] = times
    return str(path)


def test_the_reader_says_where_the_times_came_from(tmp_path):
    with open_dataset(_single(tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5")) as d:
        np.testing.assert_array_equal(d.times, np.arange(5.0))  # the fallback, kept
        assert d.times_note == NOTE
    with open_dataset(_single(tmp_path / "t.hdf5", np.linspace(0, 1, 6))) as d:
        assert d.times_note is None
    grouped = tmp_path / "2D_diff-react.h5"
    with h5py.File(grouped, "w") as f:
        for g in ("0000", "0001"):
            f[f"{g}/data"] = np.zeros((4, NX), np.float32)
            f[f"{g}/grid/x"] = np.linspace(0, 1, NX)
    with open_dataset(grouped) as d:
        assert d.times_note == ("frame indices 0, 1, 2, ..: the file has no '0000/grid/t' "
                                "dataset of saved times")


def test_info_says_the_times_are_frame_indices(tmp_path, capsys):
    path = _single(tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5")
    assert main(["info", path]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.strip().startswith("time ")]
    assert rows == [f"  time        5 times, 0 .. 4, step 1 ({NOTE})"], rows
    assert main(["info", path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["time_note"] == NOTE
    assert main(["info", _single(tmp_path / "t.hdf5", np.arange(5) * 0.2), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["time_note"] is None


def test_the_spacing_error_says_the_times_are_frame_indices(model, tmp_path):  # noqa: F811
    path = _single(tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5")
    with pytest.raises(ValueError, match=r"saved times are 1 apart \(frame indices 0, 1, 2, "
                       r"\.\.: the file has no 't-coordinate' dataset of saved times\) but one "
                       r"step of the model .* is dt = 0\.2"):
        predict_file(model, path, str(tmp_path / "p.nc"))
    assert not os.path.exists(tmp_path / "p.nc")
    # a file whose own times are 1 apart: the error as before, without the note
    real = _single(tmp_path / "1D_Burgers_Sols_Nu0.01_t.hdf5", np.arange(5.0))
    with pytest.raises(ValueError, match=r"saved times are 1 apart but one step") as err:
        predict_file(model, real, str(tmp_path / "p.nc"))
    assert "frame indices" not in str(err.value)
