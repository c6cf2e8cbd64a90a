"""DilatedResNet (Stachenfeld et al. 2022, PDEArena's DilResNet): shapes on any grid, parameters
as channels, exact commuting with periodic shifts, the receptive field it documents, training
through NextStepModule, export -> load, argument checks and the shipped config."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader

import pdesurrogate
from pdesurrogate.cli import main
from pdesurrogate.datasets import ChannelStats, generate_dataset
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import MODELS, DilatedResNet, build_model, model_spec
from pdesurrogate.solvers import Burgers1D
from pdesurrogate.training import NextStepModule
from tests.test_devices import Losses

ROOT = Path(__file__).resolve().parents[2]


def _net(dim: int, **kw) -> DilatedResNet:
    torch.manual_seed(0)
    args = dict(hidden_channels=6, n_blocks=2)
    return DilatedResNet(dim, 2, 3, **{**args, **kw}).double()


@pytest.mark.parametrize("grid", [(37,), (64,), (1,), (5,), (12, 9), (3, 1)])
@pytest.mark.parametrize("padding_mode", ["circular", "zeros", "replicate"])
def test_any_grid_keeps_its_shape_and_every_weight_learns(grid, padding_mode):
    """(B, C_in, *grid) -> (B, C_out, *grid) in 1-D and 2-D, grids shorter than the widest
    padding (8) included; every parameter gets a gradient."""
    m = _net(len(grid), n_params=2, padding_mode=padding_mode)
    u = torch.randn(2, 2, *grid, dtype=torch.float64)
    y = m(u, torch.randn(2, 2, dtype=torch.float64))
    assert y.shape == (2, 3, *grid) and torch.isfinite(y).all()
    y.square().sum().backward()
    assert all(q.grad is not None and q.grad.abs().sum() > 0 for q in m.parameters())


@pytest.mark.parametrize("dim", [1, 2])
def test_parameters_are_channels(dim):
    """The encoder sees C_in + P channels, the P being the parameters, constant over the grid:
    the output changes with them, and a params tensor of the wrong shape is refused."""
    m = _net(dim, n_params=2)
    assert m.encoder[0].in_channels == 4
    u = torch.randn(1, 2, *(8,) * dim, dtype=torch.float64)
    a = m(u, torch.zeros(1, 2, dtype=torch.float64))
    b = m(u, torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    assert (a - b).abs().max() > 1e-6
    with pytest.raises(ValueError, match=r"params of shape \(1, 2\)"):
        m(u, None)
    with pytest.raises(ValueError, match="spatial axes"):
        m(torch.randn(1, 2, *(8,) * (3 - dim), dtype=torch.float64), torch.zeros(1, 2))


@pytest.mark.parametrize("grid", [(40,), (5,), (24, 20), (6, 3)])
@pytest.mark.parametrize("norm", [False, True])
def test_circular_padding_commutes_with_rolls(grid, norm):
    """Periodic PDEs do not care where the grid starts: f(roll(u)) = roll(f(u)) to float64
    round-off, for every shift and also on grids shorter than a dilation (5 and 3 points: the
    padding wraps more than once); zero padding does not commute."""
    m = _net(len(grid), n_params=1, norm=norm)
    torch.manual_seed(1)
    u = torch.randn(2, 2, *grid, dtype=torch.float64)
    p = torch.randn(2, 1, dtype=torch.float64)
    dims = tuple(range(2, u.ndim))
    with torch.no_grad():
        ref = m(u, p)
        for s in range(1, max(grid)):
            shift = tuple(s % n for n in grid)
            torch.testing.assert_close(m(torch.roll(u, shift, dims), p),
                                       torch.roll(ref, shift, dims), rtol=0, atol=1e-12)
        zeros = _net(len(grid), n_params=1, norm=norm, padding_mode="zeros")
        shift = (1,) * len(grid)
        assert (zeros(torch.roll(u, shift, dims), p)
                - torch.roll(zeros(u, p), shift, dims)).abs().max() > 1e-6


@pytest.mark.parametrize("grid", [(5,), (3, 7)])
def test_short_periodic_grids_match_the_same_field_tiled(grid):
    """On a grid shorter than a dilation the periodic padding wraps several times; the result
    is the periodic convolution all the same: the same as on the field tiled 8 times over
    (where no padding wraps more than once), cut back to one period."""
    m = _net(len(grid))
    torch.manual_seed(2)
    u = torch.randn(2, 2, *grid, dtype=torch.float64)
    tiled = u.repeat(1, 1, *(8,) * len(grid))
    with torch.no_grad():
        long = m(tiled)[(..., *(slice(0, n) for n in grid))]
        torch.testing.assert_close(m(u), long, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dim,n_blocks,dilations,kernel_size,expected", [
    (1, 2, [1, 2, 4, 8, 4, 2, 1], 3, 44),  # 2 blocks * 22
    (1, 4, [1, 2, 4, 8, 4, 2, 1], 3, 88),  # the default: 4 * 22
    (1, 1, [1, 3], 5, 8),                  # (1 + 3) * 2
    (2, 1, [1, 2, 4, 8, 4, 2, 1], 3, 22),
])
def test_receptive_field_is_what_the_dilations_reach(dim, n_blocks, dilations, kernel_size,
                                                      expected):
    """An output point depends on exactly the input points within ``n_blocks * sum(dilations)
    * (kernel_size - 1) / 2`` along each axis (a square in 2-D): its gradient with respect to
    the input is nonzero there and exactly zero elsewhere (zero padding, a grid wider than
    that reach, so no edge takes part). With norm=True the statistics reach every point."""
    m = _net(dim, n_blocks=n_blocks, dilations=dilations, kernel_size=kernel_size,
             padding_mode="zeros")
    assert m.receptive_field == expected
    n = 2 * expected + 12
    centre = n // 2
    u = torch.randn(1, 2, *(n,) * dim, dtype=torch.float64, requires_grad=True)
    m(u)[(0, 0, *(centre,) * dim)].backward()
    reached = u.grad.abs().sum(1)[0] > 0
    offsets = torch.arange(n) - centre
    inside = offsets.abs() <= expected
    want = inside if dim == 1 else inside[:, None] & inside[None, :]
    assert torch.equal(reached, want)

    normed = _net(dim, n_blocks=1, norm=True, padding_mode="zeros")
    u.grad = None
    normed(u)[(0, 0, *(centre,) * dim)].backward()
    assert bool((u.grad.abs().sum(1) > 0).all())


def test_each_block_adds_its_input():
    """A block is ``x + layers(x)``: with the last convolution of every block zeroed (its
    output act(0) = 0) the blocks pass their input through, and the model is its encoder
    followed by its decoder, point by point."""
    m = _net(1, norm=True)
    with torch.no_grad():
        for block in m.blocks:
            block.layers[-1].conv.weight.zero_()
            block.layers[-1].conv.bias.zero_()
        u = torch.randn(2, 2, 16, dtype=torch.float64)
        torch.testing.assert_close(m(u), m.decoder(m.encoder(u)), rtol=0, atol=0)
    assert len(m.blocks) == 2 and all(len(b.layers) == 7 for b in m.blocks)


@pytest.mark.parametrize("padding_mode,constant", [
    ("circular", True), ("replicate", True), ("reflect", True), ("zeros", False)])
def test_a_constant_field_stays_constant_unless_padded_with_zeros(padding_mode, constant):
    """Circular, replicate and reflect padding extend a constant field by the same constant,
    so every layer's output is constant over the grid; zero padding makes the edges differ."""
    m = _net(1, padding_mode=padding_mode)
    with torch.no_grad():
        y = m(torch.full((1, 2, 20), 1.5, dtype=torch.float64))
    spread = float((y - y[..., :1]).abs().max())
    assert (spread < 1e-12) if constant else (spread > 1e-6), spread


@pytest.mark.parametrize("activation", ["gelu", "relu", "silu"])
def test_each_dilated_convolution_sees_normalised_input_and_the_activation_asked_for(
        activation):
    """norm=True: what every dilated convolution convolves (its input inside the padding) has
    mean 0 and variance 1 per sample (the one-group GroupNorm at its initial affine; its eps
    of 1e-5 takes up to 1e-2 off a variance of 1e-3); each
    layer's output is its activation's: never negative for ReLU, somewhere negative else."""
    m = _net(2, norm=True, activation=activation)
    seen, outs = [], []
    for block in m.blocks:
        for layer in block.layers:
            w = layer.width
            layer.conv.register_forward_pre_hook(
                lambda mod, args, w=w: seen.append(args[0][..., w:-w, w:-w]))
            layer.register_forward_hook(lambda mod, args, out: outs.append(out))
    with torch.no_grad():
        m(3.0 + 2.0 * torch.randn(2, 2, 20, 20, dtype=torch.float64))
    assert len(seen) == len(outs) == 14
    for x in seen:
        torch.testing.assert_close(x.mean((1, 2, 3)), torch.zeros(2, dtype=torch.float64),
                                   rtol=0, atol=1e-10)
        torch.testing.assert_close(x.var((1, 2, 3), unbiased=False),
                                   torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-2)
    negative = any(bool((o < 0).any()) for o in outs)
    assert negative == (activation != "relu")


def _pairs(n: int = 4, nx: int = 32) -> list[dict]:
    """``target = u - 0.5 u u_x dx``-like local update of sine sums: a nonlinear map within
    the receptive field."""
    g = torch.Generator().manual_seed(0)
    x = torch.arange(nx) / nx
    a = torch.randn(n, 3, generator=g)
    u = sum(a[:, m, None] * torch.sin(2 * torch.pi * (m + 1) * x + m) for m in range(3))
    target = u - 0.5 * u * (torch.roll(u, -1, -1) - torch.roll(u, 1, -1))
    return [{"input": u[i, None], "target": target[i, None], "params": torch.zeros(0)}
            for i in range(n)]


def test_overfits_a_handful_of_samples_through_next_step_module():
    """Four 1-D pairs, full batch, 300 steps: NextStepModule's relative L2 loss falls >= 100x
    (650x when written)."""
    torch.manual_seed(0)
    module = NextStepModule(DilatedResNet(1, 1, 1, hidden_channels=16, n_blocks=2),
                            lr=5e-3, weight_decay=0.0, scheduler="cosine")
    rec = Losses()
    Trainer(max_epochs=300, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, accelerator="cpu", devices=1,
            callbacks=[rec]).fit(module, DataLoader(_pairs(), batch_size=4))
    assert len(rec.losses) == 300
    assert rec.losses[-1] <= rec.losses[0] / 100, (rec.losses[0], rec.losses[-1])


def test_export_load_predicts_identically(tmp_path):
    """export_surrogate -> pdesurrogate.load rebuilds the model from its spec (class
    'dilresnet', every constructor argument) and rolls out bit for bit as the module."""
    torch.manual_seed(0)
    net = DilatedResNet(1, 1, 1, hidden_channels=8, n_blocks=2, dilations=[1, 3, 1],
                        kernel_size=5, n_params=1, padding_mode="zeros", activation="silu",
                        norm=True)
    module = NextStepModule(net, residual=True)
    module.set_normalization(ChannelStats(mean=[0.5], std=[2.0], spatial_dims=1,
                                          param_names=["nu"], param_mean=[0.1],
                                          param_std=[0.02]))
    module.data_info = {"pde": "toy", "grid_shape": [16], "channel_names": ["u"],
                        "param_names": ["nu"], "k": 1, "dt": 0.1}
    sur = load(export_surrogate(module, tmp_path / "dil"))
    assert sur.config["model"] == model_spec(net)
    assert sur.config["model"]["class"] == "dilresnet"
    assert sur.config["model"]["init_args"]["dilations"] == [1, 3, 1]
    u, p = torch.randn(3, 1, 16), 0.1 + 0.02 * torch.randn(3, 1)
    module.eval()
    with torch.no_grad():
        ref = module.rollout(u, p, 3)
    torch.testing.assert_close(sur.rollout(u, p, 3), ref, rtol=0, atol=0)


def test_registered_and_the_spec_round_trips():
    assert MODELS["dilresnet"] is DilatedResNet
    m = _net(2, dilations=(1, 2, 1), activation="relu")
    spec = model_spec(m)
    assert spec["init_args"]["dilations"] == [1, 2, 1]
    m2 = build_model(spec)
    m2.load_state_dict(m.state_dict())
    u = torch.randn(1, 2, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(m2.double()(u), m(u), rtol=0, atol=0)


@pytest.mark.parametrize("kw,match", [
    (dict(dim=3), "dim must be 1 or 2, got 3"),
    (dict(in_channels=0), "in_channels must be an int >= 1, got 0"),
    (dict(hidden_channels=2.5), "hidden_channels must be an int >= 1, got 2.5"),
    (dict(n_blocks=0), "n_blocks must be an int >= 1, got 0"),
    (dict(dilations=[]), r"dilations must be a non-empty list of ints >= 1"),
    (dict(dilations=4), r"dilations must be a non-empty list of ints >= 1 .*got 4"),
    (dict(dilations=[1, 0, 1]), r"dilations\[1\] must be an int >= 1, got 0"),
    (dict(kernel_size=4), "kernel_size must be odd"),
    (dict(n_params=-1), "n_params must be an int >= 0, got -1"),
    (dict(padding_mode="periodic"), "padding_mode must be one of .*'circular'.*'periodic'"),
    (dict(activation="tanh"), r"activation must be one of \('gelu', 'relu', 'silu'\)"),
    (dict(norm="yes"), "norm must be true or false, got 'yes'"),
])
def test_bad_arguments_say_what_was_expected(kw, match):
    args = dict(dim=1, in_channels=1, out_channels=1)
    with pytest.raises(ValueError, match=match):
        DilatedResNet(**{**args, **kw})


def test_reflect_padding_needs_a_grid_wider_than_its_padding():
    """Only reflect padding limits the grid (widest padding 8: 9 points); the check names the
    need, at forward and through check_grid."""
    m = DilatedResNet(1, 1, 1, hidden_channels=4, n_blocks=1, padding_mode="reflect")
    assert m(torch.randn(1, 1, 9)).shape == (1, 1, 9)
    with pytest.raises(ValueError, match=r"needs at least 9 points per axis, got a grid of "
                                         r"\(8,\)"):
        m(torch.randn(1, 1, 8))
    for mode in ("circular", "zeros", "replicate"):
        DilatedResNet(2, 1, 1, padding_mode=mode).check_grid((1, 1))


def test_shipped_config_trains_exports_and_loads(tmp_path):
    """configs/fit/dilresnet_burgers.yaml (the model as shipped) on a tiny file of the real
    Burgers solver: two optimiser steps, export, load; the exported spec holds the config's
    constructor arguments one to one, and the surrogate uses nu."""
    config = ROOT / "configs" / "fit" / "dilresnet_burgers.yaml"
    data = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), data, samples=10,
                     times=np.linspace(0, 1, 4), seed=0, workers=1, progress=False)
    root = tmp_path / "run"
    assert main(["fit", "--config", str(config), "--data.init_args.path", str(data),
                 "--data.init_args.batch_size", "4", "--trainer.max_steps", "2",
                 "--trainer.limit_val_batches", "1", "--trainer.default_root_dir", str(root),
                 "--trainer.enable_progress_bar", "false",
                 "--trainer.enable_model_summary", "false"]) == 0
    (ckpt,) = root.rglob("last.ckpt")
    assert main(["export", str(ckpt), str(tmp_path / "model")]) == 0
    sur = pdesurrogate.load(tmp_path / "model")
    shipped = yaml.safe_load(config.read_text())["model"]["init_args"]["model"]
    assert shipped["class_path"] == "pdesurrogate.models.DilatedResNet"
    assert sur.config["model"] == {"class": "dilresnet", "init_args": shipped["init_args"]}
    u0 = torch.randn(2, 1, 32)
    slow = sur.predict(u0, torch.full((2, 1), 0.02))
    fast = sur.predict(u0, torch.full((2, 1), 0.09))
    assert torch.isfinite(slow).all() and not torch.equal(slow, fast)
