"""``pdesurrogate predict``'s PDEBench-style errors (pdesurrogate.metrics): exact values through
the whole command, the same for any batch size, stored beside ``rel_l2_vs_truth`` and printed
as a table. The model is a tiny exported FNO whose rollout is replaced by persistence
(every step returns the initial state), so the error of step j is known: the truth moves by
j * A cos(2 pi 5 x) per step. CPU, seconds."""

import math

import h5py
import numpy as np
import pytest

import pdesurrogate.predict as predict
from pdesurrogate.cli import main
from pdesurrogate.datasets import ChannelStats, DatasetWriter, open_dataset
from pdesurrogate.export import export_surrogate
from pdesurrogate.metrics import NAMES, field_errors
from pdesurrogate.models import FNO
from pdesurrogate.predict import predict_file
from pdesurrogate.training import NextStepModule

NX, SAMPLES, STEPS, AMP, MODE = 16, 5, 3, 0.25, 5
X = np.arange(NX) / NX
DELTA = AMP * np.cos(2 * np.pi * MODE * X)  # the truth's change per step; mode 5 < NX / 2: mid band


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A parameter-free 1-D FNO (16 points, dt 0.2; weights untouched, its rollout replaced by
    persistence) and a file of SAMPLES trajectories u_j = u_0 + j * DELTA at times 0, 0.2,
    .., 0.2 * STEPS."""
    net = NextStepModule(FNO(1, 1, [2], 4, 1))
    net.set_normalization(ChannelStats(mean=[1.0], std=[1.0], spatial_dims=1))
    net.data_info = {"pde": "sine_shift", "grid_shape": [NX], "channel_names": ["u"],
                     "param_names": [], "k": 1, "dt": 0.2}
    model_dir = str(export_surrogate(net, tmp_path / "persistence"))
    u0 = 1.0 + np.random.default_rng(0).standard_normal((SAMPLES, 1, 1, NX))
    u = (u0 + np.arange(STEPS + 1)[None, :, None, None] * DELTA).astype(np.float32)
    data = tmp_path / "d.nc"
    with DatasetWriter(data, "sine_shift", (X,), ("x",), np.arange(STEPS + 1) * 0.2, ["u"],
                       [], SAMPLES) as w:
        w.write(0, u)

    def persistence(self, u0, params=None, steps=1, lead_time=None, **kw):
        for _ in range(steps):
            yield np.array(u0, dtype=np.float32)

    monkeypatch.setattr(predict.Surrogate, "iterate", persistence)
    return model_dir, str(data), u


def _expected(u: np.ndarray) -> dict[str, np.ndarray]:
    """The errors of persistence on ``u`` in closed form, per step j = 0..STEPS."""
    j = np.arange(STEPS + 1, dtype=float)
    rms = j * AMP / math.sqrt(2)
    edge = math.cos(2 * math.pi * MODE * (NX - 1) / NX)  # DELTA at the last point / AMP
    truth = u.astype(np.float64)
    nrmse = (np.linalg.norm((j[:, None] * DELTA)[None], axis=-1)
             / np.linalg.norm(truth[:, :, 0], axis=-1)).mean(axis=0)
    # The Well's variance-scaled RMSE: rms over each truth frame's spatial spread (+ 1e-7)
    vrmse = (rms / np.sqrt(truth[:, :, 0].var(axis=-1) + 1e-7)).mean(axis=0)
    return {"rmse": rms, "nrmse": nrmse, "vrmse": vrmse, "max_error": j * AMP, "crmse": 0 * j,
            "brmse": j * AMP * math.sqrt((1 + edge**2) / 2), "frmse_low": 0 * j,
            "frmse_mid": rms, "frmse_high": np.nan * j}  # 16 points: no mode |k| > 12


def test_the_errors_are_exact_stored_and_the_same_for_any_batch_size(files, tmp_path):
    """Each error per step is its closed form (the float32 file rounds the truth: 1e-6), for
    batches of 1, 2 and all 5; the values are bit for bit the same for each batch size,
    equal what field_errors computes on the whole written rollout at once, and are stored
    as <name>_vs_truth beside an unchanged rel_l2_vs_truth (one channel: nrmse is rel L2)."""
    model_dir, data, u = files
    want = _expected(u)
    reports = []
    for batch in (1, 2, 5):
        rep = predict_file(model_dir, data, str(tmp_path / f"p{batch}.nc"), batch_size=batch,
                           progress=False)
        reports.append(rep)
        assert list(rep.metrics) == list(NAMES)
        for name in NAMES:
            np.testing.assert_allclose(rep.metrics[name], want[name], rtol=1e-5, atol=1e-6,
                                       err_msg=name)
            np.testing.assert_array_equal(rep.metrics[name], reports[0].metrics[name])
        with open_dataset(rep.out) as out:
            once = field_errors(out.u[:], u)
            for name in NAMES:
                np.testing.assert_array_equal(out.attrs[f"{name}_vs_truth"], rep.metrics[name])
                np.testing.assert_allclose(rep.metrics[name], once[name], rtol=1e-12,
                                           atol=1e-15, err_msg=name)
            np.testing.assert_array_equal(out.attrs["rel_l2_vs_truth"], rep.rel_l2)
            assert "frmse_mid" in out.attrs["error_metrics"]
        np.testing.assert_allclose(rep.rel_l2, rep.metrics["nrmse"], rtol=1e-12)


def test_no_truth_no_errors(files, tmp_path):
    """Steps past the file's last time: no truth to compare, so no metrics, none stored."""
    model_dir, data, _ = files
    rep = predict_file(model_dir, data, str(tmp_path / "p.nc"), steps=STEPS + 2, progress=False)
    assert rep.rel_l2 is None and rep.metrics is None
    # and says so, with the steps that would be scored (the errors vanished without a word)
    assert rep.note == (f"no errors vs truth: {data!r} holds the truth for {STEPS} model "
                        f"step(s) (its {STEPS + 1} saved times), fewer than the {STEPS + 2} "
                        f"rolled out; give --steps {STEPS} or fewer to score the rollout")
    with open_dataset(rep.out) as out:
        assert not any(k.endswith("_vs_truth") or k == "error_metrics" for k in out.attrs)


def test_the_command_prints_the_table(files, tmp_path, capsys):
    """One row per metric with step 1, the last step and the mean over steps (max_error:
    their maximum)."""
    model_dir, data, u = files
    assert main(["predict", "--model", model_dir, "--input", data, "--out",
                 str(tmp_path / "p.nc")]) == 0
    err = capsys.readouterr().err
    assert f"(pdesurrogate.metrics), {SAMPLES} trajectories:" in err
    rows = {line.split()[0]: line.split()[1:] for line in err.splitlines()
            if line.strip() and line.split()[0] in NAMES}
    assert list(rows) == list(NAMES)
    want = _expected(u)
    for name, cells in rows.items():
        first, last, mean = (math.nan if c == "n/a" else float(c) for c in cells)
        summary = want[name][1:].max() if name == "max_error" else want[name][1:].mean()
        for got, value in ((first, want[name][1]), (last, want[name][STEPS]), (mean, summary)):
            assert got == pytest.approx(value, rel=1e-3, abs=1e-6, nan_ok=True), (name, cells)


def test_a_nan_in_the_truth_is_refused_naming_the_file(files, tmp_path):
    """A NaN in the stored truth (written past DatasetWriter, which refuses one) stops predict
    with an error naming the file, the trajectory and the step; nothing is written."""
    model_dir, data, _ = files
    with h5py.File(data, "r+") as f:
        f["u"][3, 2, 0, 7] = np.nan
    out = tmp_path / "p.nc"
    with pytest.raises(ValueError, match=r"d\.nc'.*truth is not finite .*trajectory 3 .*"
                                         r"frame 2"):
        predict_file(model_dir, data, str(out), batch_size=2, progress=False)
    assert not out.exists()
