"""scOT's ``TimeLayerNorm`` is its docstring's formula, ``(a0 + a1 t) * x_hat + (b0 + b1 t)``
with ``x_hat`` the LayerNorm of ``x`` over its last axis, checked against a LayerNorm computed by
hand with set (not random) parameters, so that a saved model's ``a1, b1`` keep their meaning."""

import torch

from pdesurrogate.models.scot import TimeLayerNorm


def test_time_layer_norm_is_linear_in_the_lead_time_as_documented():
    torch.manual_seed(0)
    d = 4
    norm = TimeLayerNorm(d)
    with torch.no_grad():
        norm.scale.copy_(torch.tensor([1.0, 1.5, 0.5, 2.0]))
        norm.scale_t.copy_(torch.tensor([0.2, -0.1, 0.0, 0.3]))
        norm.shift.copy_(torch.tensor([0.0, -0.1, 0.4, 1.0]))
        norm.shift_t.copy_(torch.tensor([0.3, 0.5, -0.2, 0.1]))
    x, t = torch.randn(3, 5, d, dtype=torch.float64), torch.tensor([0.0, 0.5, 2.0])
    norm = norm.double()
    mean = x.mean(-1, keepdim=True)
    x_hat = (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + norm.eps)
    tt = t[:, None, None].double()
    want = (norm.scale + norm.scale_t * tt) * x_hat + (norm.shift + norm.shift_t * tt)
    torch.testing.assert_close(norm(x, t), want, rtol=1e-12, atol=1e-12)
