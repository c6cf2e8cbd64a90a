"""pdesurrogate.predict.predict_file: the refusals (PDE, time step, PINN export, device, bad
options, output paths) and that a failed run leaves nothing behind (tiny FNO, CPU, seconds)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from pdesurrogate.datasets import ChannelStats, DatasetWriter, open_dataset
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.predict import predict_file
from pdesurrogate.temp_files import host_tag
from pdesurrogate.training import NextStepModule

NX, N = 16, 3
# the host part of temporary names (pdesurrogate.temp_files)
HOST = host_tag()
STATS = ChannelStats(mean=[0.0], std=[1.0], spatial_dims=1, param_names=["nu"],
                     param_mean=[0.1], param_std=[0.02])


def _write(path, times, pde="burgers1d"):
    """N trajectories ``u = sin(2 pi x) (1 + t)`` at ``times``, parameter nu."""
    x = np.arange(NX) / NX
    times = np.asarray(times, dtype=float)
    u = (np.sin(2 * np.pi * x)[None, None, None] * (1 + times)[None, :, None, None]
         * np.ones((N, 1, 1, 1))).astype(np.float32)
    with DatasetWriter(path, pde, (x,), ("x",), times, ["u"], ["nu"], N) as w:
        w.write(0, u, {"nu": np.full(N, 0.1)})
    return str(path)


@pytest.fixture
def model(tmp_path):
    """An exported 1-D FNO trained (untrained) on burgers1d with one model step dt = 0.2."""
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), residual=True)
    m.set_normalization(STATS)
    m.data_info = {"pde": "burgers1d", "grid_shape": [NX], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.2}
    return str(export_surrogate(m, tmp_path / "model"))


def test_matching_file_and_finer_file(model, tmp_path):
    """A file 0.2 apart compares frame i with step i; a file 0.1 apart (dt / 2) compares every
    2nd frame, at the right times, and says so."""
    same = _write(tmp_path / "same.nc", np.arange(5) * 0.2)
    rep = predict_file(model, same, str(tmp_path / "p.nc"))
    assert rep.steps == 4 and rep.stride == 1 and rep.note is None
    np.testing.assert_allclose(rep.times, np.arange(5) * 0.2)

    fine = _write(tmp_path / "fine.nc", np.arange(9) * 0.1)
    rep2 = predict_file(model, fine, str(tmp_path / "q.nc"))
    assert rep2.steps == 4 and rep2.stride == 2 and "every 2nd frame" in rep2.note
    np.testing.assert_allclose(rep2.times, np.arange(5) * 0.2)
    # same initial states, same model: the same rollout, scored against the same truth
    np.testing.assert_allclose(rep2.rel_l2, rep.rel_l2, rtol=1e-6)
    with open_dataset(tmp_path / "q.nc") as out, open_dataset(fine) as data:
        truth = data.u[:, ::2]
        err = np.linalg.norm((out.u[:] - truth).reshape(N, 5, -1), axis=-1) / np.linalg.norm(
            truth.reshape(N, 5, -1), axis=-1)
        np.testing.assert_allclose(rep2.rel_l2, err.mean(0), rtol=1e-5)
        # the output file carries the error per step too
        np.testing.assert_allclose(out.attrs["rel_l2_vs_truth"], rep2.rel_l2, rtol=1e-12)


@pytest.mark.parametrize("times, match", [
    (np.arange(5) * 0.15, r"0\.15 apart but one step of the model .* is dt = 0\.2"),
    (np.arange(5) * 0.3, r"0\.3 apart .* dt = 0\.2"),
    ([0.0, 0.2, 0.4, 0.7], r"saved time 0\.7 \(frame 3\) is not t0 \+ 3 \* dt"),
])
def test_time_spacing_mismatch_refused(model, tmp_path, times, match):
    path = _write(tmp_path / "d.nc", times)
    with pytest.raises(ValueError, match=match):
        predict_file(model, path, str(tmp_path / "p.nc"))
    assert not os.path.exists(tmp_path / "p.nc")


def test_other_pde_refused(model, tmp_path):
    path = _write(tmp_path / "ks.nc", np.arange(5) * 0.2, pde="ks1d")
    with pytest.raises(ValueError, match=r"ks\.nc.* holds 'ks1d' data .* trained on 'burgers1d'"):
        predict_file(model, path, str(tmp_path / "p.nc"))


def test_pinn_export_refused(tmp_path):
    from pdesurrogate.pinn import SDGD, PINNModule, SineGordon

    torch.manual_seed(0)
    pinn = export_surrogate(PINNModule(SineGordon(3, seed=0), SDGD(2), width=8, depth=2),
                            tmp_path / "pinn")
    path = _write(tmp_path / "d.nc", np.arange(3) * 0.2)
    with pytest.raises(ValueError, match=r"PINN export.*pdesurrogate\.load\(.*\)\.predict\(x\)"):
        predict_file(str(pinn), path, str(tmp_path / "p.nc"))


def test_unavailable_cuda_refused(model, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = _write(tmp_path / "d.nc", np.arange(3) * 0.2)
    with pytest.raises(ValueError, match="device 'cuda': CUDA is not available"):
        predict_file(model, path, str(tmp_path / "p.nc"), device="cuda")


@pytest.mark.parametrize("kw, match", [
    ({"batch_size": 0}, "--batch-size must be an int >= 1, got 0"),
    ({"samples": 0}, "--samples must be an int >= 1, got 0"),
    ({"steps": 0}, "--steps must be an int >= 1, got 0"),
])
def test_bad_options_refused(model, tmp_path, kw, match):
    path = _write(tmp_path / "d.nc", np.arange(3) * 0.2)
    with pytest.raises(ValueError, match=match):
        predict_file(model, path, str(tmp_path / "p.nc"), **kw)


def test_output_paths(model, tmp_path, monkeypatch):
    """A plot type matplotlib cannot write and --out = --input are refused before anything is
    written; missing folders of --out and --plot are created; a failure while plotting leaves
    neither file (nor a temporary one, nor a folder it created) behind."""
    path = _write(tmp_path / "d.nc", np.arange(3) * 0.2)
    before = open(path, "rb").read()
    out = tmp_path / "p.nc"
    with pytest.raises(ValueError, match=r"--plot .*q9\.txt.*cannot write '\.txt'.*\.png"):
        predict_file(model, path, str(out), plot=str(tmp_path / "q9.txt"))
    with pytest.raises(ValueError, match="--out .* is the input file"):
        predict_file(model, path, path)
    with pytest.raises(ValueError, match="--out .* is the input file"):
        predict_file(model, path, os.path.join(tmp_path, ".", "d.nc"))
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["d.nc", "model"]

    rep = predict_file(model, path, str(tmp_path / "new" / "p.nc"),
                       plot=str(tmp_path / "nodir" / "p.png"))
    assert rep.plot == str(tmp_path / "nodir" / "p.png") and os.path.getsize(rep.plot) > 0
    assert os.path.isfile(tmp_path / "new" / "p.nc")

    import pdesurrogate.plots

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pdesurrogate.plots, "rollout_figure", boom)
    with pytest.raises(OSError, match="disk full"):
        predict_file(model, path, str(out), plot=str(tmp_path / "r.png"))
    assert sorted(os.listdir(tmp_path)) == ["d.nc", "model", "new", "nodir"]
    # the folders this failed run created go again; those that were there stay
    with pytest.raises(OSError, match="disk full"):
        predict_file(model, path, str(tmp_path / "a" / "b" / "p.nc"),
                     plot=str(tmp_path / "new" / "c" / "r.png"))
    assert sorted(os.listdir(tmp_path)) == ["d.nc", "model", "new", "nodir"]
    assert sorted(os.listdir(tmp_path / "new")) == ["p.nc"]
    # the plot's folder cannot be made (a file is in the way): the --out folder made just
    # before goes again
    (tmp_path / "afile").write_text("")
    with pytest.raises(OSError):
        predict_file(model, path, str(tmp_path / "x" / "y" / "p.nc"),
                     plot=str(tmp_path / "afile" / "r.png"))
    assert sorted(os.listdir(tmp_path)) == ["afile", "d.nc", "model", "new", "nodir"]


def test_existing_outputs_need_overwrite(model, tmp_path):
    """An existing --out or --plot is refused (untouched) unless overwrite; with it both are
    replaced."""
    path = _write(tmp_path / "d.nc", np.arange(3) * 0.2)
    out, png = tmp_path / "p.nc", tmp_path / "p.png"
    out.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match=r"--out .*p\.nc' exists; pass --overwrite"):
        predict_file(model, path, str(out))
    assert out.read_bytes() == b"keep me"
    png.write_bytes(b"old plot")
    with pytest.raises(FileExistsError, match=r"--plot .*p\.png' exists"):
        predict_file(model, path, str(tmp_path / "q.nc"), plot=str(png))
    assert not (tmp_path / "q.nc").exists()
    rep = predict_file(model, path, str(out), plot=str(png), overwrite=True)
    with open_dataset(rep.out) as data:
        assert data.u.shape[:2] == (N, 3)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_lead_time_steps_a_scot_model_at_the_files_spacing(tmp_path, model):
    """A scOT trained at dt = 0.1 refuses a file 0.2 apart (saying --lead-time would do),
    and with lead_time 0.2 rolls it out step by step exactly as Surrogate.rollout does at
    that lead time; a fixed-step model refuses --lead-time, as does a lead time <= 0."""
    from pdesurrogate.loading import load
    from pdesurrogate.models import ScOT
    from pdesurrogate.training import All2AllModule

    torch.manual_seed(0)
    m = All2AllModule(ScOT(1, 1, embed_dim=8, depths=[1, 1], num_heads=[2, 2],
                           skip_blocks=[0], window_size=4, patch_size=2, n_params=1))
    m.data_info = {"pde": "toy", "grid_shape": [8, 8], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.1}
    scot = str(export_surrogate(m, tmp_path / "scot"))
    x = np.arange(8) / 8
    u = np.random.default_rng(0).standard_normal((2, 4, 1, 8, 8)).astype(np.float32)
    path = tmp_path / "s.nc"
    with DatasetWriter(path, "toy", (x, x), ("y", "x"), [0.0, 0.2, 0.4, 0.6], ["u"], ["nu"],
                       2) as w:
        w.write(0, u, {"nu": np.array([0.1, 0.2])})
    with pytest.raises(ValueError, match=r"0\.2 apart .* dt = 0\.1 \(its config.json 'dt'\).*"
                                         r"or give --lead-time \(this model takes one\)"):
        predict_file(scot, str(path), str(tmp_path / "a.nc"))
    rep = predict_file(scot, str(path), str(tmp_path / "b.nc"), lead_time=np.float32(0.2))
    assert rep.steps == 3 and rep.stride == 1
    ref = load(scot).rollout(u[:, 0], np.array([[0.1], [0.2]], np.float32), steps=3,
                             lead_time=0.2)
    with open_dataset(rep.out) as data:
        np.testing.assert_allclose(data.u[:], ref, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(data.times, [0.0, 0.2, 0.4, 0.6])
    with pytest.raises(ValueError, match=r"--lead-time: the model .* steps a fixed dt = 0\.2; "
                                         r"only lead-time models \(scOT\) take one"):
        predict_file(model, str(path), str(tmp_path / "c.nc"), lead_time=0.2)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="--lead-time must be a finite number > 0"):
            predict_file(scot, str(path), str(tmp_path / "d.nc"), lead_time=bad)


def test_progress_in_batches_and_quiet_in_one(model, tmp_path, capsys):
    """More than one batch: the model steps done are shown on stderr (a plain line when stderr
    is not a terminal, as under pytest or in a Slurm log), and the rollout is the same as in
    one batch; one batch of one step, or progress=False: nothing."""
    data = _write(tmp_path / "d.nc", np.arange(5) * 0.2)
    rep = predict_file(model, data, str(tmp_path / "a.nc"), batch_size=2)
    err = capsys.readouterr().err
    assert f"predicting {N} rollouts of 4 steps: {4 * N}/{4 * N} trajectory steps (100 %)" \
        in err, err
    one = predict_file(model, data, str(tmp_path / "b.nc"), batch_size=N, progress=False)
    quiet = predict_file(model, data, str(tmp_path / "c.nc"), batch_size=2, progress=False)
    predict_file(model, data, str(tmp_path / "e.nc"), batch_size=N, steps=1)
    assert capsys.readouterr().err == ""
    np.testing.assert_allclose(rep.rel_l2, one.rel_l2, rtol=1e-6)
    np.testing.assert_allclose(quiet.rel_l2, one.rel_l2, rtol=1e-6)


def test_one_batch_of_many_steps_shows_its_steps_and_rate(model, tmp_path, capsys,
                                                          monkeypatch):
    """All trajectories in one batch: progress comes step by step, with the rate (a plain line
    at each step here, the 10 s interval set to 0). Before, a single batch showed nothing,
    however long its horizon: 64 trajectories of 10,000 steps ran in silence."""
    import pdesurrogate.datasets.progress as progress

    monkeypatch.setattr(progress, "PLAIN_PROGRESS_S", 0.0)
    data = _write(tmp_path / "d.nc", np.arange(5) * 0.2)
    predict_file(model, data, str(tmp_path / "a.nc"), batch_size=N)
    lines = [" ".join(line.split()) for line in capsys.readouterr().err.splitlines()]
    done = [line.split(": ", 1)[1].split(" trajectory")[0] for line in lines]
    assert done == [f"{k * N}/{4 * N}" for k in range(1, 5)], lines
    assert all("trajectory steps/s" in line for line in lines), lines


def test_a_parameter_blind_model_records_the_inputs_parameters(tmp_path):
    """`predict` with a model exported parameter-blind (n_params = 0, trained on a file with
    'nu'): the rollout passes no parameters to the model, and the output file still records
    the input's nu per trajectory (the config keeps them as data_param_names)."""
    from lightning.pytorch import Trainer

    from pdesurrogate.datasets import generate_dataset
    from pdesurrogate.solvers import make_solver
    from pdesurrogate.training import FieldDataModule

    data = tmp_path / "b.nc"
    generate_dataset(make_solver("burgers1d", n_points=16), data, samples=8,
                     times=[0.0, 0.05, 0.1], seed=0, workers=1, progress=False)
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 4, 1, n_params=0))
    with pytest.warns(UserWarning, match="they are ignored"):
        Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False,
                accelerator="cpu").fit(m, datamodule=FieldDataModule(
                    str(data), batch_size=4, fractions=(0.5, 0.25, 0.25)))
    model = export_surrogate(m, tmp_path / "blind")
    predict_file(str(model), str(data), str(tmp_path / "pred.nc"), progress=False)
    with open_dataset(data) as src, open_dataset(tmp_path / "pred.nc") as out:
        assert list(out.params) == ["nu"]
        np.testing.assert_array_equal(np.asarray(out.params["nu"]),
                                      np.asarray(src.params["nu"]))


def _varied(path, n=10):
    """``n`` different trajectories ``a_i sin(2 pi (x - c_i t))`` at t = 0, 0.2, ..., 0.8,
    with parameter nu."""
    rng = np.random.default_rng(4)
    x, times = np.arange(NX) / NX, np.arange(5) * 0.2
    a, c = rng.uniform(0.5, 2.0, n), rng.uniform(-1, 1, n)
    u = (a[:, None, None] * np.sin(2 * np.pi * (x[None, None] - c[:, None, None]
                                                * times[None, :, None])))[:, :, None]
    with DatasetWriter(path, "burgers1d", (x,), ("x",), times, ["u"], ["nu"], n) as w:
        w.write(0, u.astype(np.float32), {"nu": rng.uniform(0.05, 0.15, n)})
    return str(path)


def _trained_on(data, outdir):
    """``(datamodule, export)``: an (untrained) 1-D FNO exported as if trained on ``data`` split
    (0.6, 0.2, 0.2) with seed 3, so its export records that file and split."""
    from pdesurrogate.training import FieldDataModule

    dm = FieldDataModule(data, fractions=(0.6, 0.2, 0.2), seed=3)
    dm.setup("fit")
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), residual=True)
    m.set_normalization(dm.stats)
    m.data_info = dm.data_info
    return dm, str(export_surrogate(m, outdir))


def test_training_file_warns_and_reports_its_test_split(tmp_path, capsys):
    """predict on the file the model was trained on (or a copy: the same fingerprint) warns in
    one line and reports the error over that file's held-out test split alone, recomputed as
    the datamodule split it: equal to the mean of the per-trajectory errors of exactly those
    trajectories, also stored in the output. Another file (one trajectory regenerated) and an
    export without provenance (older) give neither."""
    import shutil

    from pdesurrogate.cli import main

    data = _varied(tmp_path / "train.nc")
    dm, model = _trained_on(data, tmp_path / "model")

    copy = shutil.copy(data, tmp_path / "copy.nc")
    for i, path in enumerate((data, copy)):
        rep = predict_file(model, path, str(tmp_path / f"p{i}.nc"))
        assert rep.test_indices.tolist() == dm.test_indices.tolist()
        assert rep.note.splitlines()[0] == (
            f"warning: {path!r} is the file the model was trained on (same content "
            "fingerprint): the relative L2 vs truth averages all 10 trajectories, 6 of them "
            "from its training split; its held-out test split alone (2 trajectories) is "
            "reported too")
        with open_dataset(tmp_path / f"p{i}.nc") as out, open_dataset(path) as truth:
            err = np.linalg.norm((out.u[:] - truth.u[:]).reshape(10, 5, -1), axis=-1) \
                / np.linalg.norm(truth.u[:].reshape(10, 5, -1), axis=-1)
            np.testing.assert_allclose(rep.rel_l2, err.mean(axis=0), rtol=1e-5)
            np.testing.assert_allclose(rep.rel_l2_test, err[dm.test_indices].mean(axis=0),
                                       rtol=1e-5)
            assert not np.allclose(rep.rel_l2_test, rep.rel_l2)  # a different number
            np.testing.assert_allclose(out.attrs["rel_l2_vs_truth_test_split"],
                                       rep.rel_l2_test)
            assert list(out.attrs["test_split_indices"]) == dm.test_indices.tolist()
        assert len(rep.note.splitlines()) == 1

    assert main(["predict", "--model", model, "--input", data, "--out",
                 str(tmp_path / "cli.nc")]) == 0
    printed = " ".join("".join(capsys.readouterr()).split())  # rich folds long lines
    # the warning, the error over all trajectories, then the held-out one
    rep = predict_file(model, data, str(tmp_path / "again.nc"))
    held_out = ("relative L2 vs truth on the held-out test split alone (2 trajectories): first "
                f"step {rep.rel_l2_test[1]:.4g}, last step {rep.rel_l2_test[-1]:.4g}, mean "
                f"{rep.rel_l2_test[1:].mean():.4g}")
    assert 0 <= printed.index("warning: ") < printed.index("relative L2 vs truth: first") \
        < printed.index(held_out), printed

    # the first trajectories rolled out hold none of the test split: said, nothing reported
    first_test = int(dm.test_indices.min())
    assert first_test > 0
    rep = predict_file(model, data, str(tmp_path / "few.nc"), samples=first_test)
    assert rep.rel_l2_test is None and "none of its test split's trajectories is among those " \
        "rolled out (see --samples)" in rep.note

    other = tmp_path / "other.nc"
    with open_dataset(data) as d:
        u, nu = d.u[:], d.params["nu"]
    u[0] *= 1.5
    with DatasetWriter(other, "burgers1d", d.grid, ("x",), d.times, ["u"], ["nu"], 10) as w:
        w.write(0, u, {"nu": nu})
    rep = predict_file(model, str(other), str(tmp_path / "o.nc"))
    assert rep.note is None and rep.rel_l2_test is None and rep.rel_l2 is not None
    with open_dataset(tmp_path / "o.nc") as out:
        assert "rel_l2_vs_truth_test_split" not in out.attrs

    cfg_path = tmp_path / "model" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    del cfg["provenance"]
    cfg_path.write_text(json.dumps(cfg))
    rep = predict_file(model, data, str(tmp_path / "old.nc"))
    assert rep.note is None and rep.rel_l2_test is None


def _fno_2d(tmp_path, n, hidden=8):
    """An exported (untrained) 2-D FNO on an ``n`` x ``n`` grid, one parameter nu, dt = 0.2."""
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4, 4], hidden, 2, n_params=1), residual=True)
    m.set_normalization(ChannelStats(mean=[0.0], std=[1.0], spatial_dims=2,
                                     param_names=["nu"], param_mean=[0.1], param_std=[0.02]))
    m.data_info = {"pde": "toy2d", "grid_shape": [n, n], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.2}
    return str(export_surrogate(m, tmp_path / f"fno{n}"))


def _write_2d(path, n, samples, frames=4):
    rng = np.random.default_rng(1)
    x = np.arange(n) / n
    u = rng.standard_normal((samples, frames, 1, n, n)).astype(np.float32)
    with DatasetWriter(path, "toy2d", (x, x), ("y", "x"), np.arange(frames) * 0.2, ["u"],
                       ["nu"], samples) as w:
        w.write(0, u, {"nu": rng.uniform(0.05, 0.15, samples)})
    return str(path)


def test_the_output_is_the_same_for_any_batch_size(model, tmp_path, monkeypatch):
    """What predict does with a batch's rollout (writing it, the errors over all trajectories
    and over the training file's test split) does not depend on how many trajectories are
    rolled out together, bit for bit: the errors were summed batch by batch, which rounds
    differently for each batch size. The rollout is made batch-independent here by rolling
    each trajectory out alone: torch's CPU kernels (conv1d, batched matmul) may round a
    trajectory differently in another batch shape, by a float32 rounding (checked too)."""
    import pdesurrogate.predict as predict

    data = _varied(tmp_path / "d.nc", n=10)
    _, trained_on = _trained_on(data, tmp_path / "trained_on")

    def run(tag, batches):
        reports, outs = [], []
        for batch in batches:
            rep = predict_file(trained_on, data, str(tmp_path / f"{tag}{batch}.nc"),
                               batch_size=batch, progress=False)
            with open_dataset(rep.out) as out:
                outs.append((out.u[:], {k: np.asarray(out.attrs[k]) for k in (
                    "rel_l2_vs_truth", "rel_l2_vs_truth_test_split")}))
            reports.append(rep)
        return reports, outs

    batches = (1, 3, 4, 7, 10, None)
    reports, outs = run("model", batches)
    assert [r.batch_size for r in reports] == [1, 3, 4, 7, 10, 10]  # 10 trajectories
    for rep, (u, _) in zip(reports[1:], outs[1:], strict=True):
        np.testing.assert_allclose(u, outs[0][0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(rep.rel_l2, reports[0].rel_l2, rtol=1e-6)

    one_by_one = predict.Surrogate.iterate

    def iterate(self, u0, params=None, **kw):
        each = [one_by_one(self, u0[i:i + 1], None if params is None else
                           {k: v[i:i + 1] for k, v in params.items()}, **kw)
                for i in range(len(u0))]
        for states in zip(*each, strict=True):
            yield np.concatenate(states)

    monkeypatch.setattr(predict.Surrogate, "iterate", iterate)
    reports, outs = run("alone", batches)
    assert reports[0].rel_l2_test is not None
    for rep, (u, attrs) in zip(reports[1:], outs[1:], strict=True):
        np.testing.assert_array_equal(u, outs[0][0])
        np.testing.assert_array_equal(rep.rel_l2, reports[0].rel_l2)
        np.testing.assert_array_equal(rep.rel_l2_test, reports[0].rel_l2_test)
        for k, v in attrs.items():
            np.testing.assert_array_equal(v, outs[0][1][k])


def test_activation_bytes_sees_the_models_hidden_state(tmp_path):
    """The probe behind the default batch size measures inside the model: an FNO's blocks take
    and return (b, hidden, *grid) float32, and the measure grows with the batch."""
    from pdesurrogate.loading import load
    from pdesurrogate.predict import activation_bytes

    n, hidden = 32, 8
    sur = load(_fno_2d(tmp_path, n, hidden))
    u0 = np.random.default_rng(0).standard_normal((2, 1, n, n)).astype(np.float32)
    nu = {"nu": np.array([0.1, 0.12], np.float32)}
    one = activation_bytes(sur, u0[:1], {"nu": nu["nu"][:1]})
    assert one >= 2 * hidden * n * n * 4
    assert activation_bytes(sur, u0, nu) == 2 * one
    assert not any(m._forward_hooks for m in sur.model.modules())  # the hooks are gone


def test_the_default_batch_fits_the_memory_budget(tmp_path, monkeypatch, capsys):
    """Without batch_size, a batch is as many trajectories as fit in BATCH_MEMORY (their frames
    and the model's measured activations), at least 1 and at most MAX_BATCH: a grid too large
    for 64 at a time gets fewer, and the rollout runs in batches of that size."""
    import pdesurrogate.predict as predict
    from pdesurrogate.loading import load

    n = 32
    model = _fno_2d(tmp_path, n)
    data = _write_2d(tmp_path / "d.nc", n, samples=12)
    sur = load(model)
    u0 = np.zeros((1, 1, n, n), np.float32)
    nu = {"nu": np.array([0.1], np.float32)}
    per = (4 * u0.nbytes * (predict.ROLLOUT_COPIES + predict.TRUTH_COPIES)
           + predict.ACTIVATION_FACTOR * predict.activation_bytes(sur, u0, nu))
    for budget, want in ((per * 5 + per // 2, 5), (per - 1, 1), (per * 1000, predict.MAX_BATCH)):
        assert predict.default_batch_size(sur, u0, nu, frames=4, with_truth=True,
                                          budget=budget) == want
    # without the truth to compare with, fewer copies: more trajectories in the same budget
    assert predict.default_batch_size(sur, u0, nu, frames=4, with_truth=False,
                                      budget=per * 50) > 50

    rolled = []
    monkeypatch.setattr(predict.Surrogate, "iterate", lambda self, u0, *a, _r=predict.Surrogate
                        .iterate, **k: rolled.append(len(u0)) or _r(self, u0, *a, **k))
    monkeypatch.setattr(predict, "BATCH_MEMORY", per * 5)
    rep = predict_file(model, data, str(tmp_path / "p.nc"), progress=False)
    assert rep.batch_size == 5 and rolled == [5, 5, 2]
    from pdesurrogate.cli import main

    assert main(["predict", "--model", model, "--input", data, "--out",
                 str(tmp_path / "cli.nc")]) == 0
    assert rolled[-3:] == [5, 5, 2]
    line = " ".join(capsys.readouterr().err.split())
    assert "12 trajectories x 3 steps, rolled out 5 at a time, in " in line
    # the wall time and the rate (36 trajectory steps over it) close the line
    found = re.search(r"at a time, in ([0-9.]+) s \(([0-9,]+) trajectory steps/s\)", line)
    assert found, line
    seconds, rate = float(found[1]), float(found[2].replace(",", ""))
    assert rep.seconds > 0 and rate > 0
    if seconds >= 0.5:  # printed to 0.1 s: the product is 36 up to that rounding
        assert abs(rate * seconds / 36 - 1) < 0.15, (rate, seconds)
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    # the help quotes the shipped budget (predict_budget, importable without torch), not the
    # one patched above
    from pdesurrogate import predict_budget

    assert (f"(default: as many as fit in about {predict_budget.BATCH_MEMORY // 2**20} MiB for "
            "their rollout, their truth and the model's activations, measured on the first "
            f"trajectory; at most {predict_budget.MAX_BATCH}") in " ".join(
                capsys.readouterr().out.split())
    monkeypatch.setattr(predict, "BATCH_MEMORY", 10 * 2**30)
    rolled.clear()
    rep = predict_file(model, data, str(tmp_path / "q.nc"), progress=False)
    assert rep.batch_size == 12 and rolled == [12]  # MAX_BATCH (64) or fewer if all fit


def _training_record(model, **changes):
    """Edit the export's provenance.data_source (a crafted or an older record)."""
    cfg_path = os.path.join(model, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["provenance"]["data_source"].update(changes)
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)


def test_a_training_record_of_another_size_is_ignored(tmp_path):
    """A record with the file's fingerprint but n_trajectories = 10**12 (crafted: the split
    would be a 7 TiB permutation) is ignored with a warning; the rollout is as without it."""
    data = _varied(tmp_path / "train.nc")
    _, model = _trained_on(data, tmp_path / "model")
    _training_record(model, n_trajectories=10**12)
    with pytest.warns(UserWarning, match=r"train\.nc' has the fingerprint of the model's "
                                         r"training file, but the export records "
                                         r"n_trajectories = 1000000000000 where the file holds "
                                         r"10; its training split is not recomputed"):
        rep = predict_file(model, data, str(tmp_path / "p.nc"))
    assert rep.note is None and rep.rel_l2_test is None and rep.rel_l2 is not None


def test_a_version_1_fingerprint_still_finds_the_training_file(tmp_path):
    """An export made when fingerprints were version 1 (``sha256:<hex>``) still recognises its
    unchanged training file and reports the held-out split; a malformed one matches nothing."""
    from pdesurrogate.datasets.fingerprint import fingerprint

    data = _varied(tmp_path / "train.nc")
    dm, model = _trained_on(data, tmp_path / "model")
    with open_dataset(data) as d:
        v1 = fingerprint(d, version=1)
    assert v1.startswith("sha256:") and not v1.startswith("sha256:v")
    _training_record(model, fingerprint=v1)
    rep = predict_file(model, data, str(tmp_path / "p.nc"))
    assert rep.note.startswith(f"warning: {data!r} is the file the model was trained on")
    assert rep.test_indices.tolist() == dm.test_indices.tolist()

    _training_record(model, fingerprint="sha256:v9:" + "0" * 64)  # a version not known here
    rep = predict_file(model, data, str(tmp_path / "q.nc"))
    assert rep.note is None and rep.rel_l2_test is None


def test_planted_links_at_temporary_names_are_never_followed(model, tmp_path,
                                                             plant_temp_names):
    """Links planted at the very names the rollout and plot temporaries draw (the name
    generator made to return them first) are refused by the exclusive create: predict draws
    other names, the linked file stays as it was, the links stay links, and the outputs are
    files of their own."""
    from pdesurrogate.datasets import ourformat

    path = _write(tmp_path / "d.nc", np.arange(3) * 0.2)
    out, png = tmp_path / "p.nc", tmp_path / "p.png"
    victim = tmp_path / "victim"
    victim.write_text("precious")
    planted = {out: tmp_path / ".p.nc.planted", png: tmp_path / ".p.png.planted.png"}
    for link in planted.values():
        link.symlink_to(victim)
    # the plot's name (open_temp_file) and the rollout's (DatasetWriter)
    drawn = plant_temp_names(planted, ourformat)
    predict_file(model, path, str(out), plot=str(png))
    assert sorted(drawn) == sorted(planted.values())  # both planted names were drawn
    assert victim.read_text() == "precious"
    assert all(link.is_symlink() and link.resolve() == victim for link in planted.values())
    assert not out.is_symlink() and not png.is_symlink()
    assert png.read_bytes()[:4] == b"\x89PNG"
    with open_dataset(out) as d:
        assert d.u.shape[:2] == (N, 3)


def test_a_kill_between_the_renames_never_pairs_the_new_rollout_with_the_old_plot(
        model, tmp_path, monkeypatch):
    """With --overwrite, the old plot is gone before the new rollout is renamed in: a run
    stopped between the two renames leaves the new rollout without a plot, not beside the
    old plot."""
    path = _write(tmp_path / "d.nc", np.arange(3) * 0.2)
    out, png = tmp_path / "p.nc", tmp_path / "p.png"
    predict_file(model, path, str(out), plot=str(png), samples=1)
    real = os.replace

    def stopped(src, dst):
        if os.fspath(dst) == str(png):
            raise KeyboardInterrupt  # as a kill there would
        return real(src, dst)

    monkeypatch.setattr(os, "replace", stopped)
    with pytest.raises(KeyboardInterrupt):
        predict_file(model, path, str(out), plot=str(png), overwrite=True)
    monkeypatch.undo()
    with open_dataset(out) as d:
        assert d.u.shape[0] == N  # the new rollout (all samples, the old had one)
    assert not png.exists()
    assert sorted(os.listdir(tmp_path)) == ["d.nc", "model", "p.nc"]


def test_temporaries_of_killed_runs_are_removed(model, tmp_path):
    """The rollout and plot temporaries a killed predict left (its process gone) are removed by
    the next run writing the same outputs, with a warning each; a live one's stay."""
    path = _write(tmp_path / "d.nc", np.arange(3) * 0.2)
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    left = [tmp_path / f".p.nc.{HOST}.{p.pid}.0011223344556677.tmp",
            tmp_path / f".p.png.{HOST}.{p.pid}.0011223344556677.tmp.png"]
    mine = tmp_path / f".p.nc.{HOST}.{os.getpid()}.8899aabbccddeeff.tmp"
    for f in (*left, mine):
        f.write_bytes(b"half")
    with pytest.warns(UserWarning, match=rf"removed .*process {p.pid}") as caught:
        predict_file(model, path, str(tmp_path / "p.nc"), plot=str(tmp_path / "p.png"))
    removed = [str(w.message) for w in caught if "removed" in str(w.message)]
    assert len(removed) == 2 and all(any(f.name in m for m in removed) for f in left)
    assert sorted(os.listdir(tmp_path)) == sorted(["d.nc", "model", "p.nc", "p.png", mine.name])


def test_an_error_before_the_new_rollout_is_in_keeps_the_old_plot(model, tmp_path, monkeypatch):
    """With --overwrite, a failure renaming the new rollout in leaves the old rollout and its
    plot as they were, and no temporaries."""
    path = _write(tmp_path / "d.nc", np.arange(3) * 0.2)
    out, png = tmp_path / "p.nc", tmp_path / "p.png"
    predict_file(model, path, str(out), plot=str(png), samples=1)
    old_plot, old_rollout = png.read_bytes(), out.read_bytes()
    real = os.replace

    def full_disk(src, dst):
        if os.fspath(dst) == str(out):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        predict_file(model, path, str(out), plot=str(png), overwrite=True)
    monkeypatch.undo()
    assert png.read_bytes() == old_plot and out.read_bytes() == old_rollout
    assert sorted(os.listdir(tmp_path)) == ["d.nc", "model", "p.nc", "p.png"]


def test_the_set_aside_old_plot_goes_once_the_new_one_is_in(model, tmp_path):
    path = _write(tmp_path / "d.nc", np.arange(3) * 0.2)
    out, png = tmp_path / "p.nc", tmp_path / "p.png"
    predict_file(model, path, str(out), plot=str(png), samples=1)
    png.write_bytes(b"old plot")
    predict_file(model, path, str(out), plot=str(png), overwrite=True)
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert sorted(os.listdir(tmp_path)) == ["d.nc", "model", "p.nc", "p.png"]


def test_a_file_lacking_the_models_parameter_names_what_it_holds(model, tmp_path):
    """A user's own file whose parameter has another name (k for nu): the error lists the
    file's names beside the missing ones, so the rename is plain."""
    x = np.arange(NX) / NX
    u = np.ones((N, 2, 1, NX), np.float32)
    path = str(tmp_path / "k.nc")
    with DatasetWriter(path, "burgers1d", (x,), ("x",), [0.0, 0.2], ["u"], ["k"], N) as w:
        w.write(0, u, {"k": np.full(N, 0.1)})
    with pytest.raises(ValueError, match=r"k\.nc'? lacks the parameter\(s\) \['nu'\] the "
                                         r"model needs; it holds \['k'\]"):
        predict_file(model, path, str(tmp_path / "p.nc"), progress=False)
