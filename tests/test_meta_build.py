"""meta_build: every model kind (and a model of one's own code, initialised by hand) built on the
meta device with the names, shapes and dtypes of a real build, without importing torch._dynamo
or sympy (1-2 s of every load, predict, export and info), and nothing left behind."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.overrides import _get_current_function_mode_stack

from pdesurrogate.meta_build import meta_build
from pdesurrogate.models import build_model
from pdesurrogate.pinn.mlp import PINNMLP
from pdesurrogate.pinn.problems import build_problem


def _fno(**k):
    return {"class": "fno", "init_args": {"in_channels": 2, "out_channels": 2, "n_modes": [4],
                                          "hidden_channels": 8, "n_layers": 2, "n_params": 1,
                                          **k}}


_UNET = {"class": "unet", "init_args": {"dim": 1, "in_channels": 4, "out_channels": 2,
                                        "hidden_channels": 4, "n_levels": 2}}
_CAPE = {"class": "cape_module", "init_args": {"dim": 1, "channels": 2, "n_params": 1,
                                               "modes": 3, "kernel_size": 5, "hidden": 4}}
# one spec per model kind an export names (FNO/TFNO 1-D and 2-D, CAPE around an FNO and a
# U-Net, scOT, PDE-Refiner, DilResNet)
SPECS = {
    "fno1d": _fno(),
    "fno2d": _fno(n_modes=[4, 4], domain_padding=0.125),
    "tfno": _fno(factorization="tucker", rank=0.5),
    "cape_fno": {"class": "cape", "init_args": {"base": _fno(in_channels=4), "cape": _CAPE}},
    "cape_unet": {"class": "cape", "init_args": {"base": _UNET, "cape": _CAPE}},
    "scot": {"class": "scot", "init_args": {"in_channels": 1, "out_channels": 1,
                                            "embed_dim": 8, "depths": [1, 1],
                                            "num_heads": [2, 2], "skip_blocks": [0],
                                            "window_size": 4, "patch_size": 2}},
    "refiner": {"class": "pde_refiner", "init_args": {
        "backbone": {"class": "modern_unet", "init_args": {
            "dim": 1, "in_channels": 2, "out_channels": 1, "hidden_channels": 8,
            "channel_mults": [1, 2], "n_blocks": 1, "n_params": 1, "cond": True}},
        "n_refine_steps": 2, "sigma_min": 0.1}},
    "dilresnet": {"class": "dilresnet", "init_args": {"dim": 1, "in_channels": 2,
                                                      "out_channels": 2, "hidden_channels": 4,
                                                      "n_blocks": 1}},
}


class HandInit(nn.Module):
    """A model of someone's own code, initialised by hand the ways models are."""

    def __init__(self, n: int = 6):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.a = nn.Parameter(0.02 * torch.randn(n, n, generator=g))
        self.b = nn.Parameter(torch.rand(n) / n - 1)
        self.c = nn.Parameter(1 - torch.randn(n, 2, dtype=torch.float64).float())
        self.z = nn.Parameter(1j * torch.randn(n))  # complex: the number's dtype wins
        self.lin = nn.Linear(n, n)
        nn.init.normal_(self.lin.weight, std=0.1)
        nn.init.xavier_normal_(self.lin.weight)
        self.lin.bias.data.normal_(0, 0.1)
        k = torch.ones(n, dtype=torch.long)
        self.register_buffer("k", k * 2.0)
        self.register_buffer("i", 3 - k)
        self.register_buffer("f", 1 / (k + 1))


def _pinn():
    holder = nn.Module()
    holder.net = PINNMLP(dim=5, width=8, depth=2)
    holder.problem = build_problem({"name": "sine_gordon", "dim": 5, "seed": 4})
    return holder


BUILDS = {**{k: (lambda s=s: build_model(s, "model")) for k, s in SPECS.items()},
          "pinn": _pinn, "own": HandInit}


def _signature(model: nn.Module) -> list:
    return [(n, tuple(t.shape), t.dtype, t.requires_grad)
            for n, t in [*model.named_parameters(), *model.named_buffers()]]


@pytest.mark.parametrize("kind", sorted(BUILDS))
def test_meta_build_has_the_shapes_and_dtypes_of_a_real_build(kind):
    with meta_build():
        meta = BUILDS[kind]()
    real = BUILDS[kind]()
    assert all(t.is_meta for t in [*meta.parameters(), *meta.buffers()])
    assert _signature(meta) == _signature(real)


def test_no_model_kind_imports_dynamo_or_sympy():
    # a fresh interpreter: this one may have imported them for another test
    child = ("import json, sys\n"
             "from tests.test_meta_build import BUILDS, meta_build\n"
             "with meta_build():\n"
             "    for build in BUILDS.values():\n"
             "        build()\n"
             "print(json.dumps(sorted({'torch._dynamo', 'sympy'} & set(sys.modules))))\n")
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         timeout=300, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_nothing_is_left_behind():
    """After the block, also one left by an error, no mode is pushed, the default device is
    the CPU again and draws are random."""
    stack = list(_get_current_function_mode_stack())
    with pytest.raises(ValueError, match="inside"), meta_build():
        assert torch.randn(2).is_meta
        raise ValueError("inside")
    assert list(_get_current_function_mode_stack()) == stack
    assert torch.get_default_device().type == "cpu"
    x = torch.randn(1000)
    assert x.device.type == "cpu" and x.std() > 0.5
    assert (2.0 * x).sub(x).allclose(x)
