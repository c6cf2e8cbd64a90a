"""``pdesurrogate predict``'s PDEBench-style errors: what the mutation audit of fb0d656 found
unpinned by test_predict_metrics.py. A one-step prediction still gets its errors and a table of
one step column; a NaN in a file saved at half the model's dt is located in model steps and
says so; the stored note spells the bands as the module defines them. The tiny persistence
FNO of test_predict_metrics.py; CPU, seconds."""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, open_dataset
from pdesurrogate.predict import METRICS_NOTE, metrics_table, predict_file

from .test_predict_metrics import (
    DELTA,
    NX,
    SAMPLES,
    X,
    _expected,
    files,  # noqa: F401  (the fixture)
)


def test_one_step_has_its_errors_and_one_step_column(files, tmp_path):  # noqa: F811
    """steps=1: the errors of steps 0 and 1 (closed form), and the table's columns are
    step 1 and the mean, step 1 not repeated as the last step."""
    model_dir, data, u = files
    rep = predict_file(model_dir, data, str(tmp_path / "p.nc"), steps=1, progress=False)
    assert rep.metrics is not None
    want = _expected(u)
    for name, values in rep.metrics.items():
        np.testing.assert_allclose(values, want[name][:2], rtol=1e-5, atol=1e-6, err_msg=name)
    head = metrics_table(rep.metrics, SAMPLES).splitlines()[1]
    assert head.split() == ["metric", "step", "1", "mean"]


def test_a_nan_in_a_strided_file_is_named_in_model_steps(files, tmp_path):  # noqa: F811
    """A file saved every dt / 2 (the model's dt is 0.2): frames 0, 2, 4 are compared, and a
    NaN in saved frame 4 is reported as frame 2 counted in model steps of 2 saved frames."""
    model_dir, _, _ = files
    u0 = 1.0 + np.random.default_rng(1).standard_normal((SAMPLES, 1, 1, NX))
    u = (u0 + 0.5 * np.arange(5)[None, :, None, None] * DELTA).astype(np.float32)
    data = tmp_path / "half.nc"
    with DatasetWriter(data, "sine_shift", (X,), ("x",), np.arange(5) * 0.1, ["u"], [],
                       SAMPLES) as w:
        w.write(0, u)
    with h5py.File(data, "r+") as f:
        f["u"][1, 4, 0, 3] = np.nan
    with pytest.raises(ValueError, match=r"half\.nc'.*trajectory 1 .*frame 2, .*\(frames "
                                         r"counted in model steps of 2 saved frames\)"):
        predict_file(model_dir, str(data), str(tmp_path / "p.nc"), progress=False)


def test_the_stored_note_spells_the_bands(files, tmp_path):  # noqa: F811
    """error_metrics ends with the bands as pdesurrogate.metrics.BANDS defines them: the low
    band has no lower limit, the high one no upper limit."""
    model_dir, data, _ = files
    rep = predict_file(model_dir, data, str(tmp_path / "p.nc"), progress=False)
    with open_dataset(rep.out) as out:
        assert out.attrs["error_metrics"] == METRICS_NOTE
    assert METRICS_NOTE.endswith(
        "Fourier bands in cycles per domain length: low |k| <= 4, mid 4 < |k| <= 12, "
        "high |k| > 12")
