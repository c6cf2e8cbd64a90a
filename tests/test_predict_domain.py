"""The training file's physical domain where it meets another file: an export records each
axis's first and last coordinate and step (config.json's ``grid_extent``, from the datamodule
that read the training file), and ``pdesurrogate predict`` refuses a file over another domain
(Burgers on [0, 2) for a model trained on [0, 1)), at the training grid's size, where the old
check looked at the shape alone and rolled it out silently, or at another one, where an FNO's
note called it zero-shot super-resolution. A finer or coarser grid over the same domain still
runs, whichever way the file places its points. Tiny exports, CPU, seconds."""

import json
import warnings

import numpy as np
import pytest
import torch

from pdesurrogate import export_checks
from pdesurrogate.cli import main
from pdesurrogate.datasets import DatasetWriter
from pdesurrogate.export import export_surrogate
from pdesurrogate.export_checks import FORMAT_REVISION, NewerExportWarning
from pdesurrogate.info import describe, render
from pdesurrogate.loading import load
from pdesurrogate.models import FNO, UNet
from pdesurrogate.predict import predict_file
from pdesurrogate.training import FieldDataModule, NextStepModule

N, TRAIN = 3, 32
TIMES = np.arange(3) * 0.2
NETS = {"fno": lambda: FNO(1, 1, [4], 8, 2, n_params=1),
        "unet": lambda: UNet(1, 1, 1, hidden_channels=4, n_levels=2, n_params=1)}


def left_ends(n, length=1.0):
    """A periodic interval's points, as our solvers place them: ``j L / n`` on [0, L)."""
    return np.arange(n) * (length / n)


def _write(path, x, dtype=np.float64):
    """``N`` trajectories ``sin(2 pi x + i) (1 + t)`` at the coordinates ``x``."""
    u = np.stack([np.sin(2 * np.pi * x + i)[None, None] * (1 + TIMES)[:, None, None]
                  for i in range(N)]).astype(np.float32)
    with DatasetWriter(path, "burgers1d", (np.asarray(x, dtype),), ("x",), TIMES, ["u"],
                       ["nu"], N) as w:
        w.write(0, u, {"nu": np.full(N, 0.1)})  # one value: no range warnings
    return str(path)


def _export(tmp_path, net="fno", x=None):
    """``net`` exported as fit on a file at the coordinates ``x`` (default: ``TRAIN`` points
    on [0, 1)), its data record made by FieldDataModule reading that file."""
    train = _write(tmp_path / f"train_{net}.nc", left_ends(TRAIN) if x is None else x)
    dm = FieldDataModule(train, batch_size=2, fractions=(0.34, 0.33, 0.33))
    dm.setup("fit")
    torch.manual_seed(0)
    m = NextStepModule(NETS[net](), residual=True)
    m.set_normalization(dm.stats)
    m.data_info = dm.data_info
    return str(export_surrogate(m, tmp_path / net))


@pytest.mark.parametrize("net", ["fno", "unet"])
def test_a_file_of_the_training_shape_over_another_domain_is_refused(tmp_path, net):
    """32 points on [0, 2) for a model fit on 32 points on [0, 1): the shape check passed it
    and the model rolled it out silently. Now one error names the file, the axis, both extents
    and --any-grid, nothing is written, and --any-grid rolls it out with a note."""
    model = _export(tmp_path, net)
    other = _write(tmp_path / "long.nc", left_ends(TRAIN, 2.0))
    out = tmp_path / "p.nc"
    with pytest.raises(ValueError) as e:
        predict_file(model, other, str(out), progress=False)
    cfg = json.loads((tmp_path / net / "config.json").read_text())
    assert cfg["grid_extent"] == [{"first": 0.0, "last": 31 / 32, "step": 1 / 32}]
    msg = str(e.value)
    assert msg.startswith(f"{other!r} covers another domain than the model ({model}) was "
                          "trained on: x 0 .. 1.9375 (32 points, step 0.0625) in the file, "
                          "0 .. 0.96875 (32 points, step 0.03125) in training."), msg
    assert "pass --any-grid" in msg and "zero-shot super-resolution" in msg
    assert not out.exists()

    rep = predict_file(model, other, str(out), progress=False, any_grid=True)
    assert "covers another domain" in rep.note and "runs there with any_grid" in rep.note
    assert rep.rel_l2 is not None and np.isfinite(rep.rel_l2).all()


def test_an_fno_on_a_finer_grid_over_a_longer_domain_is_not_super_resolution(tmp_path,
                                                                             capsys,
                                                                             monkeypatch):
    """64 points on [0, 2) (the training step, twice the length) for an FNO fit on 32 points
    on [0, 1): it ran with the note 'evaluated there zero-shot'. Now the command refuses it
    naming --any-grid, and with it runs."""
    fno = _export(tmp_path)
    other = _write(tmp_path / "long.nc", left_ends(2 * TRAIN, 2.0))
    monkeypatch.setenv("COLUMNS", "1000")  # rich folds long lines at the terminal's width
    out = tmp_path / "p.nc"
    assert main(["predict", "--model", fno, "--input", other, "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert "x 0 .. 1.96875 (64 points, step 0.03125) in the file, 0 .. 0.96875 (32 points, " \
           "step 0.03125) in training" in err
    assert "pass --any-grid" in err and not out.exists()
    assert main(["predict", "--model", fno, "--input", other, "--out", str(out),
                 "--any-grid"]) == 0
    assert "covers another domain" in capsys.readouterr().err


@pytest.mark.parametrize("n", [16, 64])
@pytest.mark.parametrize("placement", [
    "left_ends", "cell_centres", "interior_nodes", "both_ends"])
def test_an_fno_runs_on_a_coarser_or_finer_grid_over_the_same_domain(tmp_path, placement, n):
    """Trained and rolled out on [0, 1) (or [0, 1]) with the points placed one way (ours for a
    periodic problem, PDEBench's cell centres, ours for a Dirichlet one, both ends) at 32 and
    at ``n`` points: the FNO runs there zero-shot, and no domain is said to differ."""
    grids = {"left_ends": lambda m: np.arange(m) / m,
             "cell_centres": lambda m: (np.arange(m) + 0.5) / m,
             "interior_nodes": lambda m: (np.arange(m) + 1.0) / (m + 1),
             "both_ends": lambda m: np.linspace(0.0, 1.0, m)}
    fno = _export(tmp_path, x=grids[placement](TRAIN))
    data = _write(tmp_path / "other.nc", grids[placement](n))
    rep = predict_file(fno, data, str(tmp_path / "p.nc"), progress=False)
    assert "zero-shot" in rep.note and "domain" not in rep.note


@pytest.mark.parametrize("net,n", [("fno", TRAIN), ("fno", 2 * TRAIN), ("unet", TRAIN)])
def test_a_model_fit_on_our_grid_runs_on_pdebench_cell_centres_of_the_same_domain(tmp_path,
                                                                                 net, n):
    """Trained on our periodic grid of [0, 1) (``j / 32``), rolled out on PDEBench's of the
    same interval (cell centres ``(j + 1/2) / n``), at the training size (the first
    coordinates differ by half a step) and, for the FNO, twice as fine: the same domain from
    another writer, so no domain note (a half-step shift was refused as another domain); a
    shift of a quarter step is still refused."""
    model = _export(tmp_path, net)
    rep = predict_file(model, _write(tmp_path / "pdebench.nc", (np.arange(n) + 0.5) / n),
                       str(tmp_path / "p.nc"), progress=False)
    assert rep.note is None or "domain" not in rep.note
    quarter = _write(tmp_path / "quarter.nc", (np.arange(n) + 0.25) / n)
    with pytest.raises(ValueError, match="covers another domain"):
        predict_file(model, quarter, str(tmp_path / "q.nc"), progress=False)


def test_float32_coordinates_of_the_training_domain_pass(tmp_path):
    """The training file's coordinates stored as float32 (as PDEBench and The Well store
    them): the same domain, so the U-Net, which runs on its training grid alone, runs
    without a note; an eighth of a step further it is refused."""
    unet = _export(tmp_path, "unet", x=np.arange(TRAIN) * 0.1)
    data = _write(tmp_path / "f32.nc", np.arange(TRAIN) * 0.1, np.float32)
    assert predict_file(unet, data, str(tmp_path / "p.nc"), progress=False).note is None
    shifted = _write(tmp_path / "shifted.nc", np.arange(TRAIN) * 0.1 + 0.0125, np.float32)
    with pytest.raises(ValueError, match="covers another domain"):
        predict_file(unet, shifted, str(tmp_path / "q.nc"), progress=False)


def test_an_export_without_the_extent_is_not_checked(tmp_path):
    """An export written before grid_extent (format revision 2, no key) loads as before and
    rolls a file over another domain out: there is nothing to compare it with."""
    unet = _export(tmp_path, "unet")
    path = tmp_path / "unet" / "config.json"
    cfg = json.loads(path.read_text())
    assert cfg.pop("grid_extent") is not None
    cfg["format_revision"] = 2
    path.write_text(json.dumps(cfg))
    other = _write(tmp_path / "long.nc", left_ends(TRAIN, 2.0))
    rep = predict_file(unet, other, str(tmp_path / "p.nc"), progress=False)
    assert rep.note is None and np.isfinite(rep.rel_l2).all()


def test_a_pdesurrogate_before_grid_extent_loads_the_export_with_one_warning(tmp_path,
                                                                            monkeypatch):
    """This export in a pdesurrogate of format revision 2, which does not know grid_extent:
    one NewerExportWarning naming it, and the surrogate predicts what it predicts here."""
    fno = _export(tmp_path)
    u, p = torch.randn(2, 1, TRAIN), torch.tensor([[0.1], [0.1]])
    ref = load(fno).rollout(u, p, 2)
    monkeypatch.setattr(export_checks, "FORMAT_REVISION", 2)
    monkeypatch.setattr(export_checks, "OPTIONAL_KEYS", tuple(
        k for k in export_checks.OPTIONAL_KEYS if k != "grid_extent"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sur = load(fno)
    warned = [str(w.message) for w in caught if issubclass(w.category, NewerExportWarning)]
    assert len(warned) == 1 and "ignoring key(s) ['grid_extent']" in warned[0], warned
    assert f"format revision {FORMAT_REVISION})" in warned[0]
    torch.testing.assert_close(sur.rollout(u, p, 2), ref, atol=0, rtol=0)


@pytest.mark.parametrize("extent, why", [
    ([], "one object per axis"),
    ([{"first": 0.0, "last": 1.0}], "keys"),
    ([{"first": 0.0, "last": 1.0, "step": 0.5}], "step"),
    ([{"first": 0.0, "last": float("nan"), "step": 0.1}], "finite"),
])
def test_a_bad_extent_is_refused_naming_the_key(tmp_path, extent, why):
    fno = _export(tmp_path)
    path = tmp_path / "fno" / "config.json"
    cfg = json.loads(path.read_text())
    cfg["grid_extent"] = extent
    path.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"config\.json': grid_extent must be null or a list "
                                         r"of one object per axis of grid_shape \[32\]") as e:
        load(fno)
    assert why in str(e.value)


def test_info_shows_the_training_extent(tmp_path):
    fno = _export(tmp_path)
    info = describe(fno)
    assert info["grid"]["extent"] == [{"first": 0.0, "last": 0.96875, "step": 0.03125}]
    assert "x 0 .. 0.96875 (32 points, step 0.03125)" in render(info)
