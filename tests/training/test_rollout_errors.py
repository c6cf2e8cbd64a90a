"""``test``'s PDEBench-style errors (pdesurrogate.training.rollout_errors): closed-form values
through a Lightning test, none in validation, the maximum and the means taken over the ranks
with the right reductions, and the same numbers as ``pdesurrogate predict`` prints for the
same exported model and the same held-out trajectories."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader

from pdesurrogate.cli import main
from pdesurrogate.datasets import DatasetWriter, generate_dataset, open_dataset
from pdesurrogate.metrics import NAMES
from pdesurrogate.predict import predict_file
from pdesurrogate.solvers import Burgers1D
from pdesurrogate.training import NextStepModule
from pdesurrogate.training.evaluation import TrajectoryMeans
from pdesurrogate.training.rollout_errors import add_rollout_errors

NX, STEPS = 32, 3
X = np.arange(NX) / NX
PHI = 2 + np.sin(2 * np.pi * X)


class Scale(nn.Module):
    """``u -> a u`` (in normalised units; the module has no statistics, so physical too)."""

    def __init__(self, a: float):
        super().__init__()
        self.a = a

    def forward(self, u, params=None):
        return self.a * u


def _trajectory(c: float) -> dict:
    """``u_s = (1 + c s) phi``, s = 0..STEPS, one channel."""
    phi = torch.tensor(PHI, dtype=torch.float32)
    return {"u": torch.stack([(1 + c * s) * phi for s in range(STEPS + 1)])[:, None],
            "params": torch.zeros(0)}


def _trainer() -> Trainer:
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", devices=1)


def test_test_logs_each_error_in_closed_form_and_validation_none():
    """The identity model on ``u_s = (1 + c s) phi`` (c = 1, 3, 0, batches of 2 and 1): step s
    errs by ``e = -c s phi``, so with ``g = mean_s c s`` per trajectory: rmse and frmse_low
    ``g rms(phi)`` (phi has modes 0 and 1 only: mid and high are 0), nrmse ``mean_s
    c s / (1 + c s)``, vrmse ``mean_s c s rms(phi) / sqrt((1 + c s)**2 var(phi) + 1e-7)``,
    crmse ``g mean(phi)``, brmse ``g rms(phi at x_0, x_31)``, each averaged
    over the 3 trajectories (the lone one of the second batch counted once); max_error the
    largest ``c S max(phi)`` = 3 * 3 * 3."""
    cs = [1.0, 3.0, 0.0]
    module = NextStepModule(Scale(1.0))
    loader = DataLoader([_trajectory(c) for c in cs], batch_size=2)
    (got,) = _trainer().test(module, loader, verbose=False)
    steps = np.arange(1, STEPS + 1)
    g = np.mean([np.mean(c * steps) for c in cs])
    rms = math.sqrt(np.mean(PHI**2))
    want = {"rmse": g * rms, "frmse_low": g * rms, "frmse_mid": 0.0, "frmse_high": 0.0,
            "nrmse": np.mean([np.mean(c * steps / (1 + c * steps)) for c in cs]),
            # the truth of step s spreads as (1 + c s) phi: var (1 + c s)**2 var(phi)
            "vrmse": np.mean([np.mean(c * steps * rms / np.sqrt((1 + c * steps)**2 * PHI.var()
                                                                + 1e-7)) for c in cs]),
            "crmse": g * PHI.mean(), "brmse": g * math.sqrt((PHI[0]**2 + PHI[-1]**2) / 2),
            "max_error": 3.0 * STEPS * PHI.max()}
    assert PHI.max() == 3.0
    for name in NAMES:
        assert got[f"test/{name}"] == pytest.approx(want[name], rel=1e-6, abs=1e-6), name
    (val,) = _trainer().validate(module, loader, verbose=False)
    assert "val/rel_l2" in val and not any(f"val/{n}" in val for n in NAMES), sorted(val)


class _Ranks:
    """A trainer of two ranks whose other rank holds ``other``: reduce combines with it."""

    world_size = 2

    def __init__(self, other: TrajectoryMeans, module):
        self.other, self.module = other, module
        self.strategy = self
        self.ops = []

    def reduce(self, t, reduce_op):
        self.ops.append(reduce_op)
        theirs = self.other
        if reduce_op == "sum":
            keys = sorted(theirs._sums)
            o = torch.stack([torch.stack([theirs._sums[k][0],
                                          theirs._sums[k][0].new_tensor(theirs._sums[k][1])])
                             for k in keys])
            return t + o
        assert reduce_op == "max", reduce_op
        return torch.maximum(t, torch.stack([theirs._maxima[k] for k in sorted(theirs._maxima)]))


def test_the_ranks_add_sums_and_counts_and_take_the_largest_maximum():
    """Rank 0 tests 2 trajectories, rank 1 one: the logged mean weights each trajectory once
    (not the mean of the ranks' means) and max_error is the largest of both ranks'."""
    mine, theirs = TrajectoryMeans(), TrajectoryMeans()
    t = torch.tensor(PHI, dtype=torch.float64)
    truth = torch.stack([torch.stack([t, t])[:, None]] * 3)  # (3, 2 frames, 1, NX)
    pred = truth.clone()
    pred[:, 1] += torch.tensor([1.0, 2.0, 5.0]).reshape(3, 1, 1)  # constant errors 1, 2, 5
    add_rollout_errors(mine, "test", pred[:2], truth[:2])
    add_rollout_errors(theirs, "test", pred[2:], truth[2:])

    class Module:
        device = torch.device("cpu")
        logged = {}

        def log(self, k, v, **kw):
            self.logged[k] = v

    module = Module()
    module._trainer = ranks = _Ranks(theirs, module)
    out = mine.log(module)
    assert sorted(ranks.ops) == ["max", "sum"]
    assert out["test/rmse"] == pytest.approx(8 / 3) and out["test/crmse"] == pytest.approx(8 / 3)
    assert out["test/max_error"] == 5.0
    assert module.logged == out


def test_a_non_finite_rollout_gives_nan_not_an_error():
    """A diverged trajectory makes the errors NaN, as test/rel_l2 is, instead of stopping the
    test with metrics' ValueError."""
    means = TrajectoryMeans()
    truth = torch.ones(2, 2, 1, 8)
    pred = truth.clone()
    pred[0, 1, 0, 3] = float("nan")
    add_rollout_errors(means, "test", pred, truth)
    assert torch.isnan(means._sums["test/rmse"][0]) and torch.isnan(means._maxima["test/max_error"])
    with pytest.raises(ValueError, match="another reduce"):
        means.add("test/rmse", torch.zeros(1), reduce="max")


def test_the_cli_test_equals_predict_on_the_held_out_trajectories(tmp_path, capsys):
    """A tiny FNO fitted one epoch on 10 Burgers trajectories, exported; ``pdesurrogate test``
    on its test split and ``predict_file`` on a file of just those trajectories give the same
    errors (predict's table mean: over trajectories per step, then over steps; test: over steps,
    then trajectories): equal to rounding. Without these metrics in test, the keys are missing."""
    data = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), data,
                     samples=10, times=np.linspace(0, 0.3, 4), seed=0, workers=1)
    root = tmp_path / "runs"
    common = ["--data.init_args.path", str(data), "--data.init_args.batch_size", "4",
              "--data.init_args.fractions", "[0.5, 0.2, 0.3]",
              "--model.init_args.model.init_args.hidden_channels", "8",
              "--model.init_args.model.init_args.n_layers", "1",
              "--model.init_args.model.init_args.n_modes", "[4]",
              "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
              "--trainer.enable_progress_bar", "false"]
    config = str(Path(__file__).resolve().parents[2] / "configs" / "fit" / "fno_burgers.yaml")
    assert main(["fit", "--config", config, *common, "--trainer.max_epochs", "1",
                 "--trainer.num_sanity_val_steps", "0",
                 "--trainer.default_root_dir", str(root)]) == 0, capsys.readouterr().err
    run = root / "csv" / "version_0"
    ckpt = run / "checkpoints" / "last.ckpt"
    assert main(["test", "--config", str(run / "config.yaml"), "--ckpt_path", str(ckpt)]) == 0, \
        capsys.readouterr().err
    # the test opens the run folder after the fit's
    logged = pd.read_csv(root / "csv" / "version_1" / "metrics.csv").iloc[-1]
    model = tmp_path / "model"
    assert main(["export", str(ckpt), str(model)]) == 0, capsys.readouterr().err

    # the held-out split, as predict recomputes it for the training file
    full = predict_file(str(model), str(data), str(tmp_path / "all.nc"), progress=False)
    held = full.test_indices
    assert len(held) == 3
    with open_dataset(str(data)) as src:
        u = np.asarray(src.u[:])[held]
        params = {p: np.asarray(src.params[p])[held] for p in src.params}
        sub = tmp_path / "held.nc"
        with DatasetWriter(sub, src.pde, src.grid, src.grid_names, src.times,
                           list(src.channel_names), list(params), len(held)) as w:
            w.write(0, u, params)
    rep = predict_file(str(model), str(sub), str(tmp_path / "held_pred.nc"), progress=False)
    np.testing.assert_allclose(logged["test/rel_l2"], rep.rel_l2[1:].mean(), rtol=1e-5)
    for name in NAMES:
        values = rep.metrics[name][1:]
        want = values.max() if name == "max_error" else values.mean()
        assert logged[f"test/{name}"] == pytest.approx(want, rel=1e-5), name


class _Lead(nn.Module):
    """A pointwise lead-time model: ``u * (1 + lead_time)``."""

    out_channels = 1

    def forward(self, u, params=None, lead_time=None):
        lead = torch.as_tensor(lead_time, dtype=u.dtype).reshape(-1, *(1,) * (u.ndim - 1))
        return u * (1 + lead)


def test_all2all_logs_the_errors_of_its_autoregressive_rollout_with_ar():
    """All2AllModule's test scores its autoregressive rollout (what predict rolls out) under
    ``test/<name>_ar``: rolled out by lead 0.5 from ``u_0``, step s is ``1.5^s u_0`` against
    the truth ``u_0`` (constant), so max_error_ar is ``(1.5^S - 1) max|u_0|``; validation logs
    none of them."""
    from pdesurrogate.training import All2AllModule

    m = All2AllModule(_Lead())
    m.data_info = {"dt": 0.5}
    u0 = torch.tensor(PHI, dtype=torch.float32)[None, None]
    u = torch.stack([u0] * (STEPS + 1), dim=1)  # (1, T, 1, NX)
    times = torch.arange(STEPS + 1, dtype=torch.float32)[None] * 0.5
    m._evaluate({"u": u, "params": torch.zeros(1, 0), "times": times}, "test")
    assert float(m._means._maxima["test/max_error_ar"]) == pytest.approx(
        (1.5**STEPS - 1) * PHI.max(), rel=1e-6)
    assert "test/nrmse_ar" in m._means._sums and "test/nrmse" not in m._means._sums
    m._means.reset()
    m._evaluate({"u": u, "params": torch.zeros(1, 0), "times": times}, "val")
    assert not any(k.endswith("_ar") and "rel_l2" not in k for k in m._means._sums)


RANKS_SCRIPT = '''
import json, math, sys
import torch
from lightning.pytorch import Trainer
from torch import nn
from pdesurrogate.training import NextStepModule
from pdesurrogate.training.evaluation import evaluation_loader

class Identity(nn.Module):
    def forward(self, u, params=None):
        return u

class Module(NextStepModule):
    def test_dataloader(self):
        phi = 2 + torch.sin(2 * math.pi * torch.arange(16) / 16)
        trajs = [{"u": torch.stack([(1 + c * s) * phi for s in range(3)])[:, None],
                  "params": torch.zeros(0)} for c in (1.0, 3.0, 0.5)]
        return evaluation_loader(trajs, 1, self.trainer, "test")

devices = int(sys.argv[2])
trainer = Trainer(accelerator="cpu", devices=devices, logger=False, enable_progress_bar=False,
                  enable_model_summary=False, enable_checkpointing=False,
                  **({"strategy": "ddp"} if devices > 1 else {}))
(got,) = trainer.test(Module(Identity()), verbose=False)
if trainer.global_rank == 0:
    with open(f"{sys.argv[1]}/metrics_{devices}.json", "w") as f:
        json.dump(got, f)
'''


@pytest.mark.slow  # two processes on CPU (gloo): ~15 s on 2 cores
def test_two_ranks_log_what_one_process_logs(tmp_path):
    """3 test trajectories on 2 ranks (rank 0 holds 2, rank 1 the one with the largest error):
    every logged error equals the single process's; a mean of the ranks' means, or rank 0's
    own maximum, would not."""
    import json

    from .ddp_script import run_ranks

    for devices in (1, 2):
        rc, out, err = run_ranks(RANKS_SCRIPT, tmp_path, devices)
        assert rc == 0, err[-3000:]
    one, two = (json.loads((tmp_path / f"metrics_{d}.json").read_text()) for d in (1, 2))
    assert set(one) == set(two) and all(f"test/{n}" in one for n in NAMES)
    for key in one:
        # nan_ok: the grid's high Fourier band holds no mode, so frmse_high is NaN on both
        assert two[key] == pytest.approx(one[key], rel=1e-6, nan_ok=True), key
