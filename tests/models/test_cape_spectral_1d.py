"""CAPE's 1-D SpectralConv on single Fourier modes against the analytic action of its weights:
``cos(2 pi k x)`` -> ``Re(w_k exp(2 pi i k x))`` for ``k < modes``; the zero and Nyquist
frequencies, whose rFFT bins are real, keep only ``Re(w_k)``; frequencies at or above
``modes`` give 0; a coarse grid uses the same weight for a frequency as a fine one."""

import math

import pytest
import torch

from pdesurrogate.models.cape import SpectralConv

MODES = 4


def _conv() -> SpectralConv:
    torch.manual_seed(0)
    conv = SpectralConv(1, 1, 1, MODES).double()
    with torch.no_grad():  # O(1) weights, every one different
        conv.weight.copy_(torch.randn_like(conv.weight))
    return conv


@pytest.mark.parametrize("n, k", [(n, k) for n in (16, 6, 5, 4) for k in range(n // 2 + 1)])
def test_single_mode_output(n, k):
    conv = _conv()
    theta = 2 * math.pi * k * torch.arange(n, dtype=torch.float64) / n
    with torch.no_grad():
        out = conv(torch.cos(theta)[None, None])[0, 0]
    if k >= MODES:
        want = torch.zeros(n, dtype=torch.float64)
    else:
        w = complex(torch.view_as_complex(conv.weight.detach()[0, 0, 0])[k])
        real_bin = k == 0 or 2 * k == n
        want = w.real * torch.cos(theta) - (0.0 if real_bin else w.imag) * torch.sin(theta)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-12)
