"""Model shapes, argument checks, CAPE behaviour and the spec round trip (tiny models, CPU)."""

import subprocess
import sys
import warnings

import pytest
import torch

from pdesurrogate.models import (
    FNO,
    MODELS,
    CAPEModule,
    CAPEWrapper,
    SpectralConv,
    UNet,
    build_model,
    model_spec,
)


@pytest.mark.parametrize("grid", [(24,), (12, 10)])
def test_fno_shapes(grid):
    """(B, C_in, *grid) -> (B, C_out, *grid) in 1-D and 2-D, with parameters as channels."""
    torch.manual_seed(0)
    m = FNO(2, 3, [4] * len(grid), hidden_channels=8, n_layers=2, n_params=2)
    y = m(torch.randn(5, 2, *grid), torch.randn(5, 2))
    assert y.shape == (5, 3, *grid)
    # the parameters reach the output
    u = torch.randn(1, 2, *grid)
    assert not torch.allclose(m(u, torch.zeros(1, 2)), m(u, torch.ones(1, 2)))


def test_fno_checks():
    """Bad constructor arguments and bad inputs are ValueErrors that say what was expected."""
    with pytest.raises(ValueError, match="n_modes"):
        FNO(1, 1, [], 8)
    with pytest.raises(ValueError, match="hidden_channels"):
        FNO(1, 1, [4], 0)
    m = FNO(1, 1, [4], 8, 1, n_params=2)
    with pytest.raises(ValueError, match=r"params of shape \(3, 2\)"):
        m(torch.randn(3, 1, 16), None)
    with pytest.raises(ValueError, match="spatial axes"):
        m(torch.randn(3, 1, 16, 16), torch.zeros(3, 2))


def test_fno_state_dict_is_tensors_only():
    """neuralop's '_metadata' entry (holds a function) is not in our state_dict."""
    sd = FNO(1, 1, [4], 8, 1).state_dict()
    assert all(isinstance(v, torch.Tensor) for v in sd.values())


@pytest.mark.parametrize("grid", [(24,), (12, 10)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_fno_spectral_convs_take_low_precision_input(grid, dtype):
    """CUDA autocast (bf16-mixed / 16-mixed on a GPU) hands the Fourier layers the lifting's
    bfloat16/float16 output and, unlike CPU autocast, leaves the FFT in that dtype (cuFFT
    refuses bfloat16, and float16 off power-of-two grids). Fed such a tensor directly, as
    there, every spectral convolution computes in float32: the same as for the float32 copy
    of its input, and gradients reach its weights."""
    torch.manual_seed(0)
    m = FNO(1, 1, [4] * len(grid), hidden_channels=8, n_layers=2)
    convs = list(m.net.fno_blocks.convs)
    assert len(convs) == 2
    x = torch.randn(3, 8, *grid).to(dtype)
    for conv in convs:
        y = conv(x)
        assert y.dtype == torch.float32
        torch.testing.assert_close(y, conv(x.float()), rtol=0, atol=0)
        y.square().mean().backward()
        grads = [q.grad for q in conv.parameters() if q.grad is not None]
        assert grads and all(bool(torch.isfinite(g).all()) for g in grads)


@pytest.mark.parametrize("dim,grid", [(1, (17,)), (2, (12, 9))])
@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
def test_unet_shapes(dim, grid, padding_mode):
    """Any grid size (not only powers of 2) keeps its shape; 1-D and 2-D."""
    m = UNet(dim, 2, 1, hidden_channels=4, n_levels=3, n_params=1, padding_mode=padding_mode)
    assert m(torch.randn(2, 2, *grid), torch.randn(2, 1)).shape == (2, 1, *grid)


def test_unet_checks():
    with pytest.raises(ValueError, match="dim must be 1 or 2"):
        UNet(3, 1, 1)
    with pytest.raises(ValueError, match="padding_mode"):
        UNet(1, 1, 1, padding_mode="wrap")
    with pytest.raises(ValueError, match="at least 4 points"):
        UNet(1, 1, 1, 4, n_levels=3)(torch.randn(1, 1, 3))


@pytest.mark.parametrize("grid", [(16,), (8, 12)])
def test_spectral_conv_commutes_with_periodic_shift(grid):
    """A Fourier multiplier is translation equivariant: S(roll(x)) = roll(S(x)) to 1e-5."""
    torch.manual_seed(0)
    conv = SpectralConv(len(grid), 3, 2, modes=3)
    x = torch.randn(2, 3, *grid)
    shift = tuple(range(2, 2 + len(grid)))
    a = conv(torch.roll(x, (3,) * len(grid), shift))
    b = torch.roll(conv(x), (3,) * len(grid), shift)
    assert a.shape == (2, 2, *grid)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("grid", [(32,), (8, 32)])
def test_spectral_conv_keeps_float64(grid):
    """A float64 model computes in float64: with unit weight on wavenumber 1 of the last axis
    and zero elsewhere, sin(2 pi x) passes through to 1e-12 (float32 FFTs give about 1e-7)."""
    conv = SpectralConv(len(grid), 1, 1, modes=3).double()
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, ..., 1, 0] = 1.0
    n = grid[-1]
    x = torch.sin(2 * torch.pi * torch.arange(n, dtype=torch.float64) / n)
    x = x.expand(2, 1, *grid).clone()
    if len(grid) == 2:  # only the first-axis zero frequency is set: keep x constant in y
        conv.weight.data[0, 0, 0, 1:] = 0.0
    y = conv(x)
    assert y.dtype == torch.float64
    assert (y - x).abs().max() < 1e-12


@pytest.mark.parametrize("grid", [(20,), (8, 10)])
def test_cape_module(grid):
    """Untrained CAPE returns its input exactly (zero projection); the attention weights are a
    softmax over the 3 paths (sum to 1 within 1e-6) and depend on the parameters."""
    torch.manual_seed(0)
    cape = CAPEModule(len(grid), 2, 3, modes=4, kernel_size=3, hidden=8, gate="softmax")
    u, p = torch.randn(4, 2, *grid), torch.randn(4, 3)
    assert torch.equal(cape(u, p), u)
    a = cape.attention_weights(p)
    assert a.shape == (4, 3, 8)
    torch.testing.assert_close(a.sum(1), torch.ones(4, 8), atol=1e-6, rtol=0)
    assert not torch.allclose(a[0], a[1])
    torch.nn.init.normal_(cape.proj.weight)
    out = cape(u, p)
    assert out.shape == u.shape and not torch.allclose(out, u)
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        CAPEModule(1, 1, 1, kernel_size=4)
    with pytest.raises(ValueError, match="gate must be one of"):
        CAPEModule(1, 1, 1, gate="sigmoid")
    with pytest.raises(ValueError, match="n_params"):
        CAPEModule(1, 1, 0)


def test_cape_linear_gate():
    """gate="linear": the path weights are the parameter MLPs' outputs themselves, not
    normalised over the paths (so a parameter can scale how strongly a path acts); the module
    output changes with them; the setting survives the spec round trip."""
    torch.manual_seed(0)
    cape = CAPEModule(1, 1, 1, modes=4, kernel_size=3, hidden=8, gate="linear")
    p = torch.linspace(-2, 2, 5)[:, None]
    a = cape.attention_weights(p)
    torch.testing.assert_close(a, torch.stack([mlp(p) for mlp in cape.attention], 1),
                               atol=0, rtol=0)
    assert (a.sum(1) - 1).abs().max() > 0.1
    torch.nn.init.normal_(cape.proj.weight)
    u = torch.randn(1, 1, 16).expand(5, 1, 16)
    out = cape(u, p)
    assert not torch.allclose(out[0], out[-1])
    spec = model_spec(cape)
    assert spec["init_args"]["gate"] == "linear"
    assert build_model(spec).gate == "linear"


@pytest.mark.parametrize("base_name", ["fno", "unet"])
@pytest.mark.parametrize("grid", [(16,), (8, 8)])
def test_cape_wrapper(base_name, grid):
    """Base sees 2C channels; output (B, C, *grid); cape_output holds CAPE(u, p)."""
    dim = len(grid)
    base = (FNO(4, 2, [3] * dim, 8, 2) if base_name == "fno"
            else UNet(dim, 4, 2, 4, n_levels=2))
    cape = CAPEModule(dim, 2, 1, modes=3, hidden=4)
    m = CAPEWrapper(base, cape)
    u, p = torch.randn(3, 2, *grid), torch.randn(3, 1)
    assert m(u, p).shape == (3, 2, *grid)
    torch.testing.assert_close(m.cape_output, cape(u, p), atol=0, rtol=0)
    with pytest.raises(ValueError, match="in_channels must be 2"):
        CAPEWrapper(FNO(2, 2, [3] * dim, 8), cape)


def test_spec_round_trip():
    """model_spec -> build_model rebuilds an identical model (exact outputs after copying
    weights); unknown/missing arguments and unknown classes are ValueErrors naming them."""
    torch.manual_seed(0)
    m = CAPEWrapper(UNet(1, 2, 1, 4, 2, n_params=1), CAPEModule(1, 1, 1, modes=2, hidden=4))
    spec = model_spec(m)
    assert spec["class"] == "cape" and spec["init_args"]["base"]["class"] == "unet"
    m2 = build_model(spec)
    m2.load_state_dict(m.state_dict())
    u, p = torch.randn(2, 1, 8), torch.randn(2, 1)
    assert torch.equal(m(u, p), m2(u, p))
    assert set(MODELS) >= {"fno", "unet", "cape"}
    bad = {"class": "fno", "init_args": {"in_channel": 1, "out_channels": 1, "n_modes": [2]}}
    with pytest.raises(ValueError, match="in_channel"):
        build_model(bad)
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model({"class": "resnet", "init_args": {}})
    with pytest.raises(ValueError, match="Linear: constructor argument 'bias' is stored as a "
                                         "Parameter, which is not JSON-friendly"):
        model_spec(torch.nn.Linear(2, 2))


def test_only_fno_imports_neuralop():
    """``import pdesurrogate.models`` and building and running the other models leave neuralop
    (most of a second to import) out; FNO brings it in when built. In a fresh interpreter."""
    script = """
import sys
import torch
from pdesurrogate.models import FNO, MODELS, CAPEWrapper, CAPEModule, UNet, build_model, model_spec
m = CAPEWrapper(UNet(1, 2, 1, 4, 2, n_params=1), CAPEModule(1, 1, 1, modes=2, hidden=4))
m = build_model(model_spec(m))
m(torch.randn(2, 1, 8), torch.randn(2, 1))
print(sorted(MODELS), "neuralop" in sys.modules)
FNO(1, 1, [2], 4, 1)(torch.randn(1, 1, 8))
print("neuralop" in sys.modules)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    *_, before, after = run.stdout.strip().splitlines()
    assert before == f"{sorted(MODELS)} False" and after == "True", run.stdout


def _fno(modes):
    return FNO(1, 1, modes, 4, 1)


def _cape(dim, modes):
    cape = CAPEModule(dim, 1, 1, modes=modes, hidden=4)
    torch.nn.init.normal_(cape.proj.weight)  # zero at init: no gradient would reach the paths
    return cape


def _spectral_weight(model):
    """The first spectral weight and its axes that are not Fourier modes (CAPE's blocks of
    positive and negative first-axis frequencies stay apart: each has its own unused ones)."""
    if isinstance(model, FNO):
        return next(p for k, p in model.net.fno_blocks.convs[0].named_parameters()
                    if k.startswith("weight")), (0, 1)  # (in, out, *modes)
    return model.paths[0].weight, (1, 2, -1)  # (blocks, in, out, *modes, (real, imaginary))


@pytest.mark.parametrize("make, grid, unused", [
    (lambda: _fno([32]), (32,), False),
    (lambda: _fno([33]), (32,), False),  # 33 // 2 + 1 = 17 rFFT coefficients, all there are
    (lambda: _fno([34]), (32,), True),
    (lambda: _fno([100]), (32,), True),
    (lambda: _fno([16, 32]), (16, 32), False),
    (lambda: _fno([17, 32]), (16, 32), True),
    (lambda: _cape(1, 17), (32,), False),
    (lambda: _cape(1, 18), (32,), True),
    (lambda: _cape(1, 40), (32,), True),
    (lambda: _cape(2, 8), (16, 32), False),
    (lambda: _cape(2, 9), (16, 32), True),  # 9 > 16 // 2 on the first axis
], ids=["fno32", "fno33", "fno34", "fno100", "fno2d", "fno2d-first-axis", "cape17", "cape18",
        "cape40", "cape2d", "cape2d-first-axis"])
def test_modes_beyond_the_grid_warn_once(make, grid, unused):
    """A model whose Fourier modes exceed what the grid resolves warns once per instance, naming
    the model, the modes and the grid; it warns exactly when some spectral weights get no
    gradient (are unused), so the limit it states is the real one."""
    torch.manual_seed(0)
    model = make()
    u, p = torch.randn(2, 1, *grid), torch.randn(2, 1)
    args = (u, p) if isinstance(model, CAPEModule) else (u,)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(*args).square().sum().backward()
        model(*args)
    weight, other_axes = _spectral_weight(model)
    per_mode = weight.grad.abs().sum(dim=other_axes)
    assert bool((per_mode == 0).any()) == unused
    messages = [str(w.message) for w in caught]
    if not unused:
        assert messages == []
        return
    assert len(messages) == 1, messages
    name, setting = ("FNO", f"n_modes={model.n_modes}") if isinstance(model, FNO) else \
        ("CAPEModule", f"modes={model.modes}")
    assert messages[0].startswith(f"{name}: {setting} asks for more Fourier modes than the grid "
                                  f"{grid} resolves")
    # once per instance: another instance warns again
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        make()(*args)
    assert len(again) == 1


def test_modes_warning_comes_at_the_first_forward_on_a_grid_too_coarse():
    model = FNO(1, 1, [40], 4, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(torch.randn(1, 1, 64))
        assert caught == []
        model(torch.randn(1, 1, 32))
    assert len(caught) == 1 and "grid (32,)" in str(caught[0].message)
