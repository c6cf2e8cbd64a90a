"""CAPE's depth-wise path at the grid's edges: periodic (``padding_mode="circular"``, the
default) or zero Dirichlet (``"zeros"``), checked on a delta against the kernel itself, and the
whole module's commuting with periodic shifts."""

import pytest
import torch

from pdesurrogate.models import CAPEModule, build_model, model_spec

K = 5  # kernel size; radius 2


def _cape(dim: int, **kw) -> CAPEModule:
    torch.manual_seed(0)
    cape = CAPEModule(dim, 1, 1, modes=3, kernel_size=K, hidden=4, **kw).double()
    torch.nn.init.normal_(cape.proj.weight)  # zero at init: the paths would not show
    return cape


def _delta_response(kernel: torch.Tensor, n: int, periodic: bool) -> torch.Tensor:
    """What a 1-D cross-correlation with ``kernel`` (length K, centred) makes of a delta at
    index 0 of ``n`` points: ``out[j] = kernel[r - j]`` for ``|j| <= r``, where ``j = -1, -2``
    are the last points when periodic and outside the grid (dropped) otherwise."""
    r = K // 2
    out = torch.zeros(n, dtype=kernel.dtype)
    for j in range(-r, r + 1):
        if j >= 0 or periodic:
            out[j % n] = kernel[r - j]
    return out


@pytest.mark.parametrize("mode", ["circular", "zeros"])
def test_depthwise_path_on_a_delta_at_the_edge(mode):
    cape = _cape(1, padding_mode=mode)
    depthwise = cape.paths[2]
    n = 12
    z = torch.zeros(1, 4, n, dtype=torch.float64)
    z[:, :, 0] = 1.0
    with torch.no_grad():
        out = depthwise(z)[0] - depthwise.bias[:, None]
    for c in range(4):
        want = _delta_response(depthwise.weight[c, 0].detach(), n, mode == "circular")
        torch.testing.assert_close(out[c], want, rtol=0, atol=1e-14)


def test_depthwise_path_2d_delta_in_a_corner_wraps_to_the_other_three():
    """The 2-D kernel is an outer shape: a delta at (0, 0) reaches ``(-1, -1)`` with the
    kernel's entry ``(r + 1, r + 1)``, and so on."""
    cape = _cape(2)
    depthwise = cape.paths[2]
    z = torch.zeros(1, 4, 8, 10, dtype=torch.float64)
    z[:, :, 0, 0] = 1.0
    with torch.no_grad():
        out = depthwise(z)[0] - depthwise.bias[:, None, None]
    r = K // 2
    w = depthwise.weight[:, 0].detach()
    want = torch.zeros_like(out)
    for i in range(-r, r + 1):
        for j in range(-r, r + 1):
            want[:, i % 8, j % 10] = w[:, r - i, r - j]
    torch.testing.assert_close(out, want, rtol=0, atol=1e-14)


@pytest.mark.parametrize("grid", [(24,), (9, 12)])
def test_module_commutes_with_periodic_shifts(grid):
    """Periodic PDEs do not care where the grid starts: CAPE(shift u) = shift CAPE(u) for the
    default padding, up to round-off (every path, the lift and the projection commute)."""
    cape = _cape(len(grid))
    torch.manual_seed(1)
    u = torch.randn(2, 1, *grid, dtype=torch.float64)
    p = torch.randn(2, 1, dtype=torch.float64)
    dims = tuple(range(2, u.ndim))
    shift = (3,) * len(dims)
    with torch.no_grad():
        a = cape(torch.roll(u, shift, dims), p)
        b = torch.roll(cape(u, p), shift, dims)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_padding_mode_is_checked_and_round_trips():
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        CAPEModule(1, 1, 1, padding_mode="reflect")
    cape = CAPEModule(1, 1, 1, modes=2, hidden=4, padding_mode="zeros")
    spec = model_spec(cape)
    assert spec["init_args"]["padding_mode"] == "zeros"
    assert build_model(spec).paths[2].padding_mode == "zeros"
    assert CAPEModule(1, 1, 1).paths[2].padding_mode == "circular"


def test_a_spec_saved_before_padding_mode_builds_the_zero_padded_module(tmp_path):
    """An export written before ``padding_mode`` existed has no such argument in its spec; it
    loads with the zero padding it was trained with and predicts as the saved module did,
    while a new spec keeps its circular padding."""
    import json

    import torch

    from pdesurrogate.export import export_surrogate
    from pdesurrogate.loading import load
    from pdesurrogate.models import FNO, CAPEWrapper
    from pdesurrogate.training import NextStepModule

    torch.manual_seed(0)
    cape = CAPEModule(1, 1, 1, modes=3, hidden=4, padding_mode="zeros")
    module = NextStepModule(CAPEWrapper(FNO(2, 1, [4], 8, 2, n_params=1), cape))
    module.data_info = {"pde": "toy", "grid_shape": [16], "channel_names": ["u"],
                        "param_names": ["nu"], "k": 1, "dt": 0.1}
    out = export_surrogate(module, tmp_path / "old")
    config = json.loads((out / "config.json").read_text())
    args = config["model"]["init_args"]["cape"]["init_args"]
    del args["padding_mode"]  # as written before the argument existed
    (out / "config.json").write_text(json.dumps(config))
    sur = load(out)
    assert sur.model.cape.paths[2].padding_mode == "zeros"
    u, p = torch.randn(2, 1, 16), torch.rand(2, 1)
    torch.testing.assert_close(sur.rollout(u, p, 2), module.rollout(u, p, 2), atol=0, rtol=0)
    spec = model_spec(CAPEModule(1, 1, 1))
    assert build_model(spec).paths[2].padding_mode == "circular"


def test_a_grid_axis_shorter_than_the_periodic_padding_is_a_clear_error():
    """kernel_size 5 pads 2 points on each side: a 1-point axis cannot wrap around (torch's
    own message named neither CAPE nor a way out); 2 points can, and zero padding any size."""
    import torch

    u, p = torch.randn(2, 1, 1), torch.rand(2, 1)
    with pytest.raises(ValueError, match=r"shape \(1,\).*kernel_size=5.*padding_mode='zeros'"):
        CAPEModule(1, 1, 1, modes=1, hidden=4)(u, p)
    assert CAPEModule(1, 1, 1, modes=1, hidden=4, padding_mode="zeros")(u, p).shape == u.shape
    assert CAPEModule(1, 1, 1, modes=1, hidden=4)(torch.randn(2, 1, 2), p).shape == (2, 1, 2)
