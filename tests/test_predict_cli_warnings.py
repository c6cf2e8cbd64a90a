"""``pdesurrogate predict`` prints its warnings as ``pdesurrogate predict: warning: ...``, as fit
and generate print theirs. Before, the training-file note came out as a bare ``warning: ...``
line and a warning of ours raised on the way (an export's training record ignored, a killed
run's temporary removed) in Python's format, ``/path/predict.py:192: UserWarning: ...`` and the
source line after it. What the Python API returns and warns is unchanged."""

import warnings

import pytest

from pdesurrogate.cli import main
from pdesurrogate.predict import predict_file
from pdesurrogate.surrogate import ParameterRangeWarning
from tests.test_predict import _trained_on, _training_record, _varied


def _stderr_lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_the_training_file_note_has_the_command_prefix(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # rich folds long lines at the terminal's width
    data = _varied(tmp_path / "train.nc")
    _, model = _trained_on(data, tmp_path / "model")
    assert main(["predict", "--model", model, "--input", data, "--out",
                 str(tmp_path / "p.nc")]) == 0
    lines = _stderr_lines(capsys)
    warned = [line for line in lines if "warning: " in line]
    assert warned and all(line.startswith("pdesurrogate predict: warning: ") for line in warned)
    # among them (the file's held-out trajectories' nu also lie outside the training range)
    assert any(w.startswith(f"pdesurrogate predict: warning: {data!r} is the file the model "
                            "was trained on") for w in warned)
    # the API's note is as it was
    rep = predict_file(model, data, str(tmp_path / "q.nc"))
    assert rep.note.startswith(f"warning: {data!r} is the file the model was trained on")


def test_a_warning_of_ours_on_the_way_has_the_command_prefix_and_a_library_s_not(
        tmp_path, capsys, monkeypatch):
    import pdesurrogate.predict as predict

    data = _varied(tmp_path / "train.nc")
    _, model = _trained_on(data, tmp_path / "model")
    _training_record(model, n_trajectories=10**12)
    real = predict.predict_file

    def with_a_library_warning(*args, **kwargs):
        # as a library outside this package warns (its file is not ours)
        exec(compile("import warnings; warnings.warn('from a library', UserWarning)",
                     "/elsewhere/library.py", "exec"), {})
        return real(*args, **kwargs)

    monkeypatch.setattr(predict, "predict_file", with_a_library_warning)
    # the library's is shown as Python shows warnings (pytest records them), not as ours
    with pytest.warns(UserWarning, match="from a library") as caught:
        warnings.simplefilter("always")
        assert main(["predict", "--model", model, "--input", data, "--out",
                     str(tmp_path / "p.nc")]) == 0
    # (predict_file's parameter-range warning points at its caller, here this test's
    # wrapper, not ours; from the command it is cmd_predict's and prefixed)
    assert [w.filename for w in caught if not issubclass(w.category, ParameterRangeWarning)
            ] == ["/elsewhere/library.py"]
    lines = _stderr_lines(capsys)
    assert (f"pdesurrogate predict: warning: {data!r} has the fingerprint of the model's "
            "training file, but the export records n_trajectories = 1000000000000 where the "
            "file holds 10; its training split is not recomputed") in lines
    assert not any("UserWarning" in line or "from a library" in line for line in lines)
    # the API still warns it as a UserWarning
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="its training split is not recomputed"):
        predict_file(model, data, str(tmp_path / "q.nc"))
