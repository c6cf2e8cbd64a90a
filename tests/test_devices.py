"""The same work on every device this machine has: CPU always, CUDA and Apple's MPS where
torch sees them (``scripts/device_check.sh`` runs this file on a GPU machine). Each test
computes on the device and compares with the CPU: solvers advance states, exported surrogates
roll out, and a tiny FNO trains with Lightning and exports from the device's weights.

On a CPU-only machine only the ``cpu`` cases run; they check the comparisons themselves
(the reference is computed independently of the device path)."""

import math

import pytest
import torch
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO, CAPEModule, CAPEWrapper, DilatedResNet, ScOT, UNet
from pdesurrogate.solvers import SOLVERS, make_solver
from pdesurrogate.training import All2AllModule, NextStepModule
from pdesurrogate.training.refiner import pearson_correlation

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) + (
    ["mps"] if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    else [])
# Lightning's name for each device
ACCELERATOR = {"cpu": "cpu", "cuda": "gpu", "mps": "mps"}
SMALL = {"advection1d": {"n_points": 32}, "burgers1d": {"n_points": 32},
         "ks1d": {"n_points": 32}, "navier_stokes2d": {"n": 16}, "heat2d": {"n": 12},
         "darcy2d": {"n": 12}}
ITERATIVE = {"heat2d", "darcy2d"}  # their steps solve linear systems with SOR to a tolerance


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| over the whole tensors, on the CPU in float64."""
    a, b = a.detach().cpu().double(), b.detach().cpu().double()
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def dtype_for(device: str) -> torch.dtype:
    """float64 where the device has it (MPS has not)."""
    return torch.float32 if device == "mps" else torch.float64


def test_every_solver_is_covered():
    assert set(SMALL) == set(SOLVERS)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_solver_advances_on_the_device_as_on_the_cpu(name, device):
    """Two advances of two samples, by two solvers built alike (one's tuner must not learn from
    the other's solves): the device's states stay on the device and equal the CPU's to
    rounding, or to the linear solves' tolerance where steps solve systems iteratively
    (``rtol`` 1e-8)."""
    dtype = dtype_for(device)
    solver = make_solver(name, **SMALL[name])
    u, params = solver.sample(2, seed=0, dtype=dtype)
    ref = solver.advance(solver.advance(u, params, 0.01), params, 0.01)
    solver = make_solver(name, **SMALL[name])
    ud = u.to(device)
    pd = {k: v.to(device) for k, v in params.items()}
    got = solver.advance(solver.advance(ud, pd, 0.01), pd, 0.01)
    assert got.device.type == device and got.dtype == dtype
    tol = 1e-4 if dtype == torch.float32 else 1e-6 if name in ITERATIVE else 1e-10
    assert rel_l2(got, ref) <= tol


def _next_step(model) -> NextStepModule:
    m = NextStepModule(model, residual=True)
    m.set_normalization(ChannelStats(mean=[0.5], std=[2.0], spatial_dims=1,
                                     param_names=["nu"], param_mean=[0.1], param_std=[0.02]))
    return m


def _surrogates():
    """(name, module, grid, n_params) of tiny models, one per family."""
    torch.manual_seed(0)
    fno1 = _next_step(FNO(1, 1, [4], 8, 2, n_params=1))
    fno1.data_info = {"pde": "toy", "grid_shape": [16], "channel_names": ["u"],
                      "param_names": ["nu"], "k": 1, "dt": 0.1}
    cape = _next_step(CAPEWrapper(FNO(2, 1, [4], 8, 2, n_params=1),
                                  CAPEModule(1, 1, 1, modes=3, hidden=4)))
    cape.data_info = dict(fno1.data_info)
    unet = _next_step(UNet(1, 1, 1, 4, 2, n_params=1))
    unet.data_info = dict(fno1.data_info)
    dilresnet = _next_step(DilatedResNet(1, 1, 1, hidden_channels=4, n_blocks=1, n_params=1))
    dilresnet.data_info = dict(fno1.data_info)
    scot = All2AllModule(ScOT(1, 1, embed_dim=8, depths=[1, 1], num_heads=[2, 2],
                              skip_blocks=[0], window_size=4, patch_size=2))
    scot.data_info = {"pde": "toy", "grid_shape": [8, 8], "channel_names": ["u"],
                      "param_names": [], "k": 1, "dt": 0.1}
    return [("fno", fno1, (16,), 1), ("cape_fno", cape, (16,), 1), ("unet", unet, (16,), 1),
            ("dilresnet", dilresnet, (16,), 1), ("scot", scot, (8, 8), 0)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (CPU module, export folder, grid, n_params)."""
    root = tmp_path_factory.mktemp("exports")
    return {name: (m, export_surrogate(m, root / name), grid, n)
            for name, m, grid, n in _surrogates()}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["fno", "cape_fno", "unet", "dilresnet", "scot"])
def test_an_exported_surrogate_rolls_out_on_the_device_as_its_module_on_the_cpu(
        exported, name, device):
    """``load(DIR, device)``: the rollout of device inputs stays on the device and equals the
    module's own CPU rollout to float32 rounding (TF32 convolutions on CUDA included)."""
    module, out, grid, n_params = exported[name]
    g = torch.Generator().manual_seed(1)
    u = torch.randn(3, 1, *grid, generator=g)
    p = 0.1 + 0.02 * torch.randn(3, n_params, generator=g) if n_params else None
    module.eval()
    ref = module.rollout(u, p, 3)
    sur = load(out, device=device)
    got = sur.rollout(u.to(device), None if p is None else p.to(device), 3)
    assert got.device.type == device and got.shape == ref.shape
    assert rel_l2(got, ref) <= 5e-3


class Losses(Callback):
    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def shift_pairs(n: int = 8, nx: int = 32) -> list[dict]:
    """``target = roll(input, 1)``: a Fourier multiplier, which an FNO represents exactly."""
    g = torch.Generator().manual_seed(0)
    x = torch.arange(nx) / nx
    a = torch.randn(n, 3, generator=g)
    u = sum(a[:, m, None] * torch.sin(2 * math.pi * (m + 1) * x + m) for m in range(3))
    return [{"input": u[i, None], "target": torch.roll(u[i, None], 1, -1),
             "params": torch.zeros(0)} for i in range(n)]


@pytest.mark.parametrize("device", DEVICES)
def test_a_tiny_fno_trains_on_the_device_and_exports_from_it(tmp_path, device):
    """Lightning on the device: the train loss of 8 shifted sine sums falls >= 100x in 200
    steps; the module's weights are on the device, and its export loads on the CPU with the
    same predictions."""
    torch.manual_seed(0)
    module = NextStepModule(FNO(1, 1, [8], 16, 2, grid_embedding=False), lr=1e-2,
                            weight_decay=0.0)
    rec = Losses()
    Trainer(max_epochs=200, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, accelerator=ACCELERATOR[device], devices=1,
            callbacks=[rec]).fit(module, DataLoader(shift_pairs(), batch_size=8))
    assert len(rec.losses) == 200
    assert rec.losses[-1] <= rec.losses[0] / 100, (rec.losses[0], rec.losses[-1])
    assert next(module.parameters()).device.type == device
    module.data_info = {"pde": "toy", "grid_shape": [32], "channel_names": ["u"],
                        "param_names": [], "k": 1, "dt": 0.1}
    sur = load(export_surrogate(module, tmp_path / "fno"))
    u = torch.stack([d["input"] for d in shift_pairs()])
    with torch.no_grad():
        ref = module.to("cpu").eval().rollout(u, None, 2)
    assert rel_l2(sur.rollout(u, None, 2), ref) <= 1e-6


@pytest.mark.parametrize("device", DEVICES)
def test_the_refiners_correlation_metric_runs_on_the_device(device):
    """PDE-Refiner's per-sample Pearson correlation (validation's high-correlation time) on
    the device equals the CPU's to float32 rounding (it computes in float64 where the device
    has it; MPS has not), and a constant field has correlation 0."""
    g = torch.Generator().manual_seed(2)
    pred, target = torch.randn(3, 1, 16, generator=g), torch.randn(3, 1, 16, generator=g)
    pred[2] = 1.0
    ref = pearson_correlation(pred, target)
    got = pearson_correlation(pred.to(device), target.to(device))
    assert got.device.type == device and got.dtype == torch.float32
    torch.testing.assert_close(got.cpu(), ref, atol=1e-6, rtol=1e-5)
    assert float(got[2]) == 0.0
