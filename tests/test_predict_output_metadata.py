"""What a user opening a ``predict --out`` rollout with xarray or h5py sees: a title, source
and history that say it is a surrogate's rollout of which input, the input's trajectory ids,
units, solver settings and seed kept, and a file that is again a valid ``predict`` input."""

import json
import sys

import h5py
import numpy as np
import xarray as xr

from pdesurrogate.datasets import DatasetWriter, open_dataset
from pdesurrogate.predict import predict_file
from tests import test_predict

model = test_predict.model  # the fixture: an exported, untrained 1-D FNO with dt 0.2
NX, N, T = test_predict.NX, 3, 3
SIM_IDS = np.array([40, 7, 12])  # not 0..N-1: the rollout must not renumber them
SEEDS = np.array([11, 22, 33])


def _write(path):
    x = np.arange(NX) / NX
    times = 0.2 * np.arange(T)
    u = (np.sin(2 * np.pi * x)[None, None, None] * (1 + times)[None, :, None, None]
         * np.ones((N, 1, 1, 1))).astype(np.float32)
    with DatasetWriter(path, "burgers1d", (x,), ("x",), times, ["u"], ["nu"], N,
                       time_units="s", space_units="m", param_units={"nu": "m2 s-1"},
                       solver_settings={"n_points": NX}, seed=5,
                       attrs={"history": "2026-01-01T00:00:00+00:00 made by hand"}) as w:
        w.write(0, u, {"nu": np.full(N, 0.1)}, sim_id=SIM_IDS, seed=SEEDS)
    return str(path)


def test_the_rollout_says_what_made_it_and_keeps_the_inputs_ids_and_units(
        model, tmp_path, monkeypatch):
    src = _write(tmp_path / "in.nc")
    monkeypatch.setattr(sys, "argv", ["/v/bin/pdesurrogate", "predict", "--out", "out.nc"])
    out = str(tmp_path / "out.nc")
    predict_file(model, src, out, progress=False)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.attrs["title"] == "burgers1d surrogate rollout"
        assert "surrogate fno" in ds.attrs["source"] and str(tmp_path / "in.nc") in \
            ds.attrs["source"]
        history = ds.attrs["history"].splitlines()
        assert history[0].endswith(" pdesurrogate predict --out out.nc")
        assert history[-1] == "2026-01-01T00:00:00+00:00 made by hand"
        assert json.loads(ds.attrs["input_solver_settings"]) == {"n_points": NX}
        assert ds.attrs["input_seed"] == 5
        np.testing.assert_array_equal(ds["sim_id"].values, SIM_IDS)
        assert ds["time"].attrs["units"] == "s" and ds["x"].attrs["units"] == "m"
        assert ds["nu"].attrs["units"] == "m2 s-1"
        assert "surrogate" in ds["u"].attrs["long_name"]
        np.testing.assert_allclose(ds["time"].values, [0.0, 0.2, 0.4])


def test_a_rollout_is_a_predict_input_and_keeps_the_first_inputs_ids(model, tmp_path):
    first = str(tmp_path / "out1.nc")
    predict_file(model, _write(tmp_path / "in.nc"), first, progress=False)
    second = str(tmp_path / "out2.nc")
    predict_file(model, first, second, progress=False)
    with open_dataset(second) as data:
        np.testing.assert_array_equal(data.sim_id, SIM_IDS)
        assert data.format == "pdesurrogate" and data.u.shape == (N, T, 1, NX)
        history = data.attrs["history"].splitlines()
    assert len(history) == 3 and history[-1].endswith("made by hand")  # predict, predict, in.nc
    with h5py.File(second) as f:
        assert f.attrs["input_seed"] == 5  # kept through both
        assert json.loads(f.attrs["input_solver_settings"]) == {"n_points": NX}
