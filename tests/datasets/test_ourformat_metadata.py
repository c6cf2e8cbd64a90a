"""What a user opening our dataset files with xarray or h5py sees: CF global attributes that
say what made the file (``source``, a ``history`` line with the command) and a ``long_name``
on every variable."""

import sys

import h5py
import numpy as np
import pytest
import xarray as xr

from pdesurrogate.datasets import DatasetWriter
from pdesurrogate.datasets.ourformat import command_line, package_version

NX, T, N = 8, 3, 4


def _write(path, **kw):
    x = np.arange(NX) / NX
    u = np.arange(N * T * NX, dtype=np.float32).reshape(N, T, 1, NX)
    with DatasetWriter(path, "burgers1d", (x,), ("x",), np.linspace(0, 1, T), ["u"], ["nu"], N,
                       param_units="1", **kw) as w:
        w.write(0, u, {"nu": np.linspace(0.01, 0.1, N)})
    return u


def test_global_attributes_say_what_made_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/opt/venv/bin/pdesurrogate", "generate", "--out",
                                      "my data.nc"])
    path = tmp_path / "d.nc"
    _write(path)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        attrs = ds.attrs
    assert attrs["Conventions"] == "CF-1.8"
    assert attrs["title"] == "burgers1d dataset"
    assert attrs["source"] == f"pdesurrogate {package_version()}, solver burgers1d"
    # CF history: "<time> <command>", the command as a shell would take it again
    (line,) = attrs["history"].splitlines()
    stamp, command = line.split(" ", 1)
    assert stamp.endswith("+00:00") and stamp[:4].isdigit()
    assert command == "pdesurrogate generate --out 'my data.nc'"


def test_history_of_the_input_follows_the_new_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/x/pdesurrogate/__main__.py", "predict"])
    path = tmp_path / "d.nc"
    _write(path, history_of="2026-01-01T00:00:00+00:00 pdesurrogate generate\n",
           source="a test", title="t", state_long_name="predicted state")
    with h5py.File(path) as f:
        lines = f.attrs["history"].splitlines()
        assert f.attrs["source"] == "a test" and f.attrs["title"] == "t"
        assert f["u"].attrs["long_name"] == "predicted state"
    assert lines[0].endswith(" python -m pdesurrogate predict")
    assert lines[1:] == ["2026-01-01T00:00:00+00:00 pdesurrogate generate"]


def test_every_variable_has_a_long_name_and_coordinates_units(tmp_path):
    path = tmp_path / "d.nc"
    _write(path)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        for name, var in ds.variables.items():
            assert var.attrs.get("long_name"), name
        for name in ("time", "x", "nu", "u"):
            assert ds[name].attrs["units"] == "1", name
        assert ds["channel"].values.tolist() == ["u"]
        assert ds["nu"].dims == ("sample",)


@pytest.mark.parametrize("argv, expected", [
    ([], "python"),
    (["/bin/tool", "a b", "c"], "tool 'a b' c"),
    (["/lib/pkg/__main__.py", "x"], "python -m pkg x"),
])
def test_command_line(monkeypatch, argv, expected):
    monkeypatch.setattr(sys, "argv", argv)
    assert command_line() == expected
