"""scOT: shapes and gradients, the time-conditioned norm, shifted-window masking, presets and
argument checks (tiny models, CPU, seconds)."""

import pytest
import torch

from pdesurrogate.models import SCOT_PRESETS, ScOT, build_model, model_spec
from pdesurrogate.models.scot import SwinBlock, TimeLayerNorm


def _tiny(**kw) -> ScOT:
    torch.manual_seed(0)
    args = dict(in_channels=2, out_channels=1, embed_dim=8, depths=[2, 2, 1],
                num_heads=[2, 2, 4], skip_blocks=[1, 0], window_size=4, patch_size=2,
                n_params=1, time_scale=10.0)
    return ScOT(**{**args, **kw})


@pytest.mark.parametrize("grid", [(16, 16), (8, 32)])
def test_forward_backward(grid):
    """(B, C_in, H, W) -> (B, C_out, H, W) on square and non-square grids; every parameter
    gets a finite gradient."""
    m = _tiny()
    u, p = torch.randn(3, 2, *grid), torch.randn(3, 1)
    y = m(u, p, torch.tensor([0.0, 0.5, 3.0]))
    assert y.shape == (3, 1, *grid)
    y.square().mean().backward()
    for name, q in m.named_parameters():
        assert q.grad is not None and torch.isfinite(q.grad).all(), name
    # a scalar lead time broadcasts to the batch
    torch.testing.assert_close(m(u, p, 2.0), m(u, p, torch.full((3,), 2.0)))


def test_time_layer_norm_depends_on_lead_time():
    """LN(x; t) = (a0 + a1 t) x_hat + (b0 + b1 t): exactly linear in t, and not constant."""
    torch.manual_seed(0)
    norm = TimeLayerNorm(6)
    x = torch.randn(2, 5, 6)
    y0, y1, y3 = (norm(x, torch.full((2,), t)) for t in (0.0, 1.0, 3.0))
    assert not torch.allclose(y0, y1)
    torch.testing.assert_close(y3 - y0, 3 * (y1 - y0), atol=1e-5, rtol=1e-5)
    # at t = 0 it is a plain LayerNorm with unit scale and zero shift
    torch.testing.assert_close(y0, torch.nn.functional.layer_norm(x, (6,)))


def test_lead_time_enters_only_through_the_norms():
    """The model's output changes with the lead time; with every norm's time coefficients
    zeroed it no longer does (so the norms are the conditioning path), and the time scale
    divides the lead time."""
    m = _tiny()
    u, p = torch.randn(2, 2, 16, 16), torch.randn(2, 1)
    with torch.no_grad():
        assert (m(u, p, 0.0) - m(u, p, 5.0)).abs().max() > 1e-4
        twice = _tiny(time_scale=20.0)
        twice.load_state_dict(m.state_dict())
        torch.testing.assert_close(twice(u, p, 10.0), m(u, p, 5.0))
        norms = [mod for mod in m.modules() if isinstance(mod, TimeLayerNorm)]
        # embedding, 2 per Swin block (x2 for the decoder), merges, unmerges, ConvNeXt blocks
        assert len(norms) == 1 + 2 * 2 * 5 + 2 + 2 + 1
        for n in norms:
            n.scale_t.zero_()
            n.shift_t.zero_()
        torch.testing.assert_close(m(u, p, 0.0), m(u, p, 5.0))


def test_shifted_window_mask_blocks_wraparound():
    """In a shifted block, the cyclic roll puts the field's first and last rows/columns into
    one window; the mask must keep them apart. Without the shift they are in different
    windows; tokens of one window do see each other."""
    torch.manual_seed(0)
    x = torch.randn(1, 8, 8, 8)
    t = torch.zeros(1)
    for shifted in (False, True):
        blk = SwinBlock(8, 2, window_size=4, shifted=shifted, mlp_ratio=2.0)
        dx = torch.zeros_like(x)
        dx[0, 0, 0] = 1.0
        with torch.no_grad():
            delta = (blk(x + dx, t) - blk(x, t)).abs().sum(-1)[0]
        assert delta[7, 7] == 0, f"shifted={shifted}: corner tokens interacted"
        assert delta[1, 1] > 0 if not shifted else delta[0, 1] > 0


def test_presets_parameter_counts():
    """Poseidon's sizes: tiny about 21M (Poseidon-T: 20.8M), base 158M, large 629M parameters
    (built on the meta device: no memory)."""
    counts = {}
    for name in SCOT_PRESETS:
        with torch.device("meta"):
            m = ScOT.from_preset(name, 4, 4)
        counts[name] = sum(q.numel() for q in m.parameters()) / 1e6
    assert 20 < counts["tiny"] < 22
    assert 150 < counts["base"] < 165
    assert 600 < counts["large"] < 650
    assert counts["tiny"] < counts["small"] < counts["base"]
    with pytest.raises(ValueError, match="unknown scOT preset"):
        ScOT.from_preset("huge", 1, 1)


def test_spec_round_trip():
    m = _tiny()
    m2 = build_model(model_spec(m))
    m2.load_state_dict(m.state_dict())
    u, p = torch.randn(1, 2, 16, 16), torch.randn(1, 1)
    torch.testing.assert_close(m2(u, p, 1.0), m(u, p, 1.0), atol=0, rtol=0)


def test_checks():
    """Bad arguments and inputs are ValueErrors that say what was expected."""
    with pytest.raises(ValueError, match="num_heads must be 3 ints"):
        _tiny(num_heads=[2, 2])
    with pytest.raises(ValueError, match="skip_blocks must be 2 ints"):
        _tiny(skip_blocks=[1, 1, 1])
    with pytest.raises(ValueError, match=r"num_heads\[1\] = 3 must divide"):
        _tiny(num_heads=[2, 3, 4])
    with pytest.raises(ValueError, match="time_scale"):
        _tiny(time_scale=0.0)
    m = _tiny()
    with pytest.raises(ValueError, match="multiples of 8"):
        m(torch.randn(1, 2, 12, 16), torch.zeros(1, 1), 1.0)
    with pytest.raises(ValueError, match="needs lead_time"):
        m(torch.randn(1, 2, 16, 16), torch.zeros(1, 1))
    with pytest.raises(ValueError, match=r"lead_time of shape \(2,\)"):
        m(torch.randn(2, 2, 16, 16), torch.zeros(2, 1), torch.zeros(3))
    with pytest.raises(ValueError, match="cannot be cut into"):
        _tiny(window_size=3)(torch.randn(1, 2, 16, 16), torch.zeros(1, 1), 1.0)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), torch.tensor([0.5, -1.0])])
def test_bad_lead_time_refused(bad):
    """Lead times are t_j - t_i >= 0 in training: negative or non-finite ones are refused
    (NaN gave NaN fields)."""
    m = _tiny()
    with pytest.raises(ValueError, match="lead_time must be finite and >= 0"):
        m(torch.randn(2, 2, 16, 16), torch.zeros(2, 1), bad)


def test_training_after_a_first_forward_in_inference_mode():
    """Lightning's ``validate``/``test`` run under ``torch.inference_mode``; a model validated
    before it is fit (a notebook) caches its window tables there first. The training forward
    that follows still backpropagates, to the position-bias MLP too, and gives what a model
    that never saw inference mode gives."""
    m, fresh = _tiny(), _tiny()
    u, p, t = torch.randn(2, 2, 16, 16), torch.randn(2, 1), torch.tensor([0.0, 1.0])
    with torch.inference_mode():
        m(u, p, t)
    y = m(u, p, t)
    y.square().mean().backward()
    fresh(u, p, t).square().mean().backward()
    for (name, q), q0 in zip(m.named_parameters(), fresh.parameters(), strict=True):
        torch.testing.assert_close(q.grad, q0.grad, msg=name)
