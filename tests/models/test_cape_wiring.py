"""How CAPE's parts connect: each path's attention weight gates that path and no other, and
CAPEWrapper hands its base exactly ``[u, CAPE(u, p)]`` and the parameters."""

import pytest
import torch
from torch import nn

from pdesurrogate.models import CAPEModule, CAPEWrapper


def _cape(dim: int = 1) -> CAPEModule:
    torch.manual_seed(0)
    cape = CAPEModule(dim, 2, 1, modes=3, kernel_size=3, hidden=4).double()
    torch.nn.init.normal_(cape.proj.weight)  # zero at init: CAPE(u, p) = u hides everything
    return cape


def _perturb(module: nn.Module) -> None:
    with torch.no_grad():
        for w in module.parameters():
            w.add_(torch.randn_like(w))


@pytest.mark.parametrize("on", [0, 1, 2])
def test_a_paths_attention_weight_gates_that_path_only(on):
    """With every parameter MLP but path ``on``'s made to output 0, the output moves when path
    ``on``'s convolution changes and not when another path's does."""
    cape = _cape()
    with torch.no_grad():
        for i, mlp in enumerate(cape.attention):
            if i != on:
                mlp[-1].weight.zero_()
                mlp[-1].bias.zero_()
    u = torch.randn(2, 2, 16, dtype=torch.float64)
    p = torch.randn(2, 1, dtype=torch.float64)
    with torch.no_grad():
        before = cape(u, p)
        for i, path in enumerate(cape.paths):
            if i != on:
                _perturb(path)
        torch.testing.assert_close(cape(u, p), before, rtol=0, atol=0)
        _perturb(cape.paths[on])
        assert (cape(u, p) - before).abs().max() > 1e-3


class _Recorder(nn.Module):
    """A base of our interface that keeps what it was given and returns its first C channels."""

    def __init__(self, channels: int, dim: int, n_params: int):
        super().__init__()
        self.in_channels, self.out_channels = 2 * channels, channels
        self.dim, self.n_params = dim, n_params
        self.seen: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        self.seen = (x, params)
        return x[:, : self.out_channels]


@pytest.mark.parametrize("grid", [(16,), (6, 8)])
def test_wrapper_feeds_the_base_the_state_and_capes_estimate(grid):
    cape = _cape(len(grid))
    base = _Recorder(2, len(grid), 1)
    model = CAPEWrapper(base, cape)
    u = torch.randn(3, 2, *grid, dtype=torch.float64)
    p = torch.randn(3, 1, dtype=torch.float64)
    with torch.no_grad():
        model(u, p)
        want = cape(u, p)
    assert not torch.allclose(want, u)  # CAPE's estimate is not the state itself
    x, params = base.seen
    torch.testing.assert_close(x, torch.cat([u, want], dim=1), rtol=0, atol=0)
    torch.testing.assert_close(params, p, rtol=0, atol=0)
    torch.testing.assert_close(model.cape_output, want, rtol=0, atol=0)
