"""FNO ``domain_padding``: the Fourier layers see the lifted field with zeros beyond both ends
of each axis, so they no longer treat the axis as a circle (non-periodic domains such as the
heat equation's Dirichlet walls); the output keeps the input's grid and the setting survives
an export's spec."""

import math

import pytest
import torch

from pdesurrogate.models import FNO, build_model, model_spec


@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan, True, "0.1", None])
def test_bad_domain_padding_is_refused_by_name(value):
    with pytest.raises(ValueError, match=r"domain_padding must be a number in \[0, 1\]"):
        FNO(1, 1, [4], hidden_channels=4, n_layers=1, domain_padding=value)


def test_fourier_layers_see_the_padded_grid_and_the_output_does_not():
    """0.125 of (32, 24) points is 4 and 3 zeros per end: the Fourier blocks get (40, 30)."""
    torch.manual_seed(0)
    m = FNO(1, 2, [8, 8], hidden_channels=4, n_layers=2, n_params=1, domain_padding=0.125)
    seen = []
    m.net.fno_blocks.register_forward_pre_hook(lambda mod, args: seen.append(args[0].shape))
    y = m(torch.randn(3, 1, 32, 24), torch.rand(3, 1))
    assert y.shape == (3, 2, 32, 24)
    assert seen and all(s[-2:] == (40, 30) for s in seen), seen


@pytest.mark.parametrize("padding,periodic", [(0.0, True), (0.25, False)])
def test_only_the_unpadded_fno_treats_the_axis_as_a_circle(padding, periodic):
    """Without grid coordinates an unpadded FNO is a circular operator: rolling the input
    round the axis rolls the output the same way, to rounding. With padding the ends no
    longer meet through the FFT, and the roll changes the output by far more than rounding."""
    torch.manual_seed(0)
    m = FNO(1, 1, [16], hidden_channels=8, n_layers=2, grid_embedding=False,
            domain_padding=padding)
    u = torch.randn(2, 1, 32)
    with torch.no_grad():
        rolled_first = m(torch.roll(u, 11, dims=-1))
        rolled_after = torch.roll(m(u), 11, dims=-1)
    gap = (rolled_first - rolled_after).norm() / rolled_after.norm()
    assert (gap < 1e-5) if periodic else (gap > 1e-2), float(gap)


def test_spec_records_the_padding_and_rebuilds_the_same_model():
    torch.manual_seed(0)
    m = FNO(1, 1, [8, 8], hidden_channels=4, n_layers=1, n_params=2, domain_padding=0.2)
    spec = model_spec(m)
    assert spec["init_args"]["domain_padding"] == 0.2
    again = build_model(spec)
    again.load_state_dict(m.state_dict())
    u, p = torch.randn(2, 1, 20, 20), torch.rand(2, 2)
    with torch.no_grad():
        assert torch.equal(again(u, p), m(u, p))
        spec["init_args"]["domain_padding"] = 0.0
        unpadded = build_model(spec)
        unpadded.load_state_dict(m.state_dict())
        assert not torch.allclose(unpadded(u, p), m(u, p), atol=1e-4)
