"""The order of a file's spatial axes where it meets an export: the export records its
training data's axis names (config.json's ``grid_names``), and ``pdesurrogate predict``
(:meth:`Surrogate.check_grid`) refuses a file with the same names in another order, whose
fields the model would take transposed; before, a square grid gave no sign at all and a
non-square one only an FNO's zero-shot note. Tiny 2-D exports, CPU, seconds."""

import json

import numpy as np
import pytest
import torch
import xarray

from pdesurrogate.datasets import ChannelStats, DatasetWriter, open_dataset
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO, UNet
from pdesurrogate.predict import predict_file
from pdesurrogate.training import NextStepModule

N, TIMES = 2, np.arange(3) * 0.2
STATS = ChannelStats(mean=[0.0], std=[1.0], spatial_dims=2, param_names=["nu"],
                     param_mean=[0.1], param_std=[0.02])


def _export(tmp_path, net, shape, names):
    """``net`` exported as trained on a file of grid ``shape`` with axes ``names``."""
    torch.manual_seed(0)
    m = NextStepModule(net, residual=True)
    m.set_normalization(STATS)
    m.data_info = {"pde": "heat2d", "grid_shape": list(shape), "grid_names": list(names),
                   "channel_names": ["u"], "param_names": ["nu"], "k": 1, "dt": 0.2}
    return str(export_surrogate(m, tmp_path / "model"))


def _fields(shape):
    """``(N, T, 1, *shape)``: anisotropic, so that a transposed field is another field."""
    a, b = (np.arange(n) / n for n in shape)
    f = np.sin(2 * np.pi * a)[:, None] * np.cos(4 * np.pi * b)[None, :] + a[:, None]
    return np.stack([f[None, None] * (1 + TIMES + i)[:, None, None, None]
                     for i in range(N)]).astype(np.float32)


def _write(path, names, u):
    """``u`` ``(N, T, 1, *grid)`` with spatial axes ``names`` (in ``u``'s order)."""
    grid = tuple(np.arange(n) / n for n in u.shape[3:])
    with DatasetWriter(path, "heat2d", grid, names, TIMES, ["u"], ["nu"], N) as w:
        w.write(0, u, {"nu": np.array([0.08, 0.12])})
    return str(path)


def test_a_square_file_with_the_axes_swapped_is_refused_with_the_transpose(tmp_path):
    """A U-Net trained on an (x, y) 8x8 file ran on the same data written (y, x), i.e. on
    transposed fields, without a word; now predict refuses it naming the file, both orders,
    'transposed' and the xarray one-liner, and that one-liner's file gives the rollout of the
    (x, y) file to the bit."""
    model = _export(tmp_path, UNet(2, 1, 1, hidden_channels=4, n_levels=1, n_params=1),
                    (8, 8), ("x", "y"))
    assert json.loads((tmp_path / "model" / "config.json").read_text())["grid_names"] == [
        "x", "y"]
    u = _fields((8, 8))
    xy = _write(tmp_path / "xy.nc", ("x", "y"), u)
    yx = _write(tmp_path / "yx.nc", ("y", "x"), np.swapaxes(u, -1, -2).copy())
    with pytest.raises(ValueError) as e:
        predict_file(model, yx, str(tmp_path / "p.nc"), progress=False)
    msg = str(e.value)
    assert msg.startswith(f"{yx!r}: its spatial axes are (y, x) but the model (unet) was "
                          "trained on axes (x, y)"), msg
    assert "transposed" in msg and ".transpose(..., 'x', 'y')" in msg
    assert not (tmp_path / "p.nc").exists()

    # the advice, as given: the transposed file is the (x, y) file's data
    fixed = tmp_path / "fixed.nc"
    xarray.open_dataset(yx).transpose(..., "x", "y").to_netcdf(fixed)
    predict_file(model, str(fixed), str(tmp_path / "p_fixed.nc"), progress=False)
    predict_file(model, xy, str(tmp_path / "p_xy.nc"), progress=False)
    with open_dataset(tmp_path / "p_fixed.nc") as a, open_dataset(tmp_path / "p_xy.nc") as b:
        assert a.grid_names == b.grid_names == ("x", "y")
        np.testing.assert_array_equal(np.asarray(a.u[:]), np.asarray(b.u[:]))


def test_an_fno_on_a_swapped_non_square_file_is_refused_not_run_zero_shot(tmp_path):
    """On an 8x6 (x, y) training grid, a (y, x) file of the same data is 6x8: an FNO ran it
    'zero-shot' on another grid; the axis order is checked first, any_grid or not."""
    model = _export(tmp_path, FNO(1, 1, [2, 2], 4, 1, n_params=1), (8, 6), ("x", "y"))
    yx = _write(tmp_path / "yx.nc", ("y", "x"), np.swapaxes(_fields((8, 6)), -1, -2).copy())
    for any_grid in (False, True):
        with pytest.raises(ValueError, match=r"its spatial axes are \(y, x\) but the model "
                                             r"\(fno\) was trained on axes \(x, y\)"):
            predict_file(model, yx, str(tmp_path / "p.nc"), progress=False, any_grid=any_grid)


def test_other_names_are_noted_and_an_older_export_is_not_checked(tmp_path):
    """Axes named otherwise than the training data's (lat, lon for x, y) cannot be matched:
    predict runs, and its note says the order was not checked. An export without grid_names
    (older than it) runs the swapped file as before, without a note."""
    model = _export(tmp_path, UNet(2, 1, 1, hidden_channels=4, n_levels=1, n_params=1),
                    (8, 8), ("x", "y"))
    u = _fields((8, 8))
    other = _write(tmp_path / "latlon.nc", ("lat", "lon"), u)
    rep = predict_file(model, other, str(tmp_path / "p.nc"), progress=False)
    assert rep.note == (f"{other!r}'s spatial axes (lat, lon) are not those the model was "
                        "trained on (x, y), so their order is not checked: they must be in the "
                        "order of the training data's")

    cfg_path = tmp_path / "model" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    del cfg["grid_names"]
    cfg_path.write_text(json.dumps(cfg))
    yx = _write(tmp_path / "yx.nc", ("y", "x"), np.swapaxes(u, -1, -2).copy())
    rep = predict_file(model, yx, str(tmp_path / "p_old.nc"), progress=False)
    assert rep.note is None
    assert load(model).config["grid_names"] is None


def test_check_grid_takes_names_and_an_array_has_none(tmp_path):
    """Surrogate.check_grid: the same names in order pass, swapped are refused naming
    ``what``; without names (an array: Surrogate.predict) nothing is checked."""
    sur = load(_export(tmp_path, FNO(1, 1, [2, 2], 4, 1, n_params=1), (8, 8), ("x", "y")))
    assert sur.check_grid((8, 8), "u", names=("x", "y")) is None
    with pytest.raises(ValueError, match=r"^v: its spatial axes are \(y, x\)"):
        sur.check_grid((8, 8), "v", names=["y", "x"])
    assert sur.check_grid((8, 8), "u") is None
    u = _fields((8, 8))[:, 0]
    assert sur.predict(np.swapaxes(u, -1, -2), [0.1, 0.1]).shape == (N, 1, 8, 8)


@pytest.mark.parametrize("names, match", [
    (["x"], r"grid_names must be null or a list of distinct strings, one per axis of "
            r"grid_shape \[8, 8\], got \['x'\]"),
    (["x", "x"], r"grid_names must be .*got \['x', 'x'\]"),
    ("xy", r"grid_names must be .*got 'xy'")])
def test_a_bad_grid_names_is_refused_naming_the_file_and_key(tmp_path, names, match):
    model = _export(tmp_path, FNO(1, 1, [2, 2], 4, 1, n_params=1), (8, 8), ("x", "y"))
    cfg_path = tmp_path / "model" / "config.json"
    cfg_path.write_text(json.dumps({**json.loads(cfg_path.read_text()), "grid_names": names}))
    with pytest.raises(ValueError, match=r"config\.json'?: " + match):
        load(model)
