"""CAPE's SpectralConv against hand-computed outputs for single Fourier modes.

1-D: ``cos(2 pi k x)`` -> ``Re(w_k exp(2 pi i k x))`` for ``k < modes``; the zero and Nyquist
frequencies, whose rFFT bins are real, keep only ``Re(w_k)``; frequencies at or above ``modes``
give 0. 2-D: a mode with a negative first-axis frequency gets the negative-frequency weights
(block 1). In both, a frequency has the same weight on every grid."""

import math

import pytest
import torch

from pdesurrogate.models.cape import SpectralConv

MODES = 4


def _conv(dim: int = 2) -> SpectralConv:
    torch.manual_seed(0)
    conv = SpectralConv(dim, 1, 1, MODES).double()
    with torch.no_grad():  # O(1) weights, every one different
        conv.weight.copy_(torch.randn_like(conv.weight))
    return conv


def _weight(conv: SpectralConv, ky: int, kx: int) -> complex:
    """The weight of frequency ``(ky, kx)``: block 0 holds ``ky = 0 .. MODES - 1``, block 1
    ``ky = -MODES .. -1`` (index ``MODES + ky``)."""
    block, row = (0, ky) if ky >= 0 else (1, MODES + ky)
    w = torch.view_as_complex(conv.weight.detach()[block, 0, 0])
    return complex(w[row, kx])


@pytest.mark.parametrize("n, ky", [(n, ky) for n in (16, 6) for ky in (1, -1, 2, -2)]
                         + [(7, 3), (7, -3), (5, 2), (5, -2)])
def test_single_mode_output(n, ky):
    """Input ``cos(2 pi (ky y + x))`` on an n x n grid: the rFFT holds it at ``(ky, 1)`` (and
    the implied conjugate), so the output is exactly ``Re(w_{ky,1} exp(2 pi i (ky y + x)))``.
    n = 6 resolves |ky| <= 3 < MODES on the first axis: the weights of ky = -4 (and 3) go
    unused there, those of -1 and -2 are the same as on a fine grid. An odd n resolves
    ky = -(n // 2) .. n // 2, the positive n // 2 too (7: ky = 3 < MODES has its own weight)."""
    conv = _conv()
    g = torch.arange(n, dtype=torch.float64) / n
    y, x = torch.meshgrid(g, g, indexing="ij")
    theta = 2 * math.pi * (ky * y + x)
    out = conv(torch.cos(theta)[None, None])[0, 0]
    w = _weight(conv, ky, 1)
    want = w.real * torch.cos(theta) - w.imag * torch.sin(theta)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-12)


def test_single_row_keeps_the_zero_first_axis_frequency():
    """A 1 x n grid resolves only first-axis frequency 0: ``cos(2 pi x)`` comes out as
    ``Re(w_{0,1} exp(2 pi i x))``, with the block-0 weight of ``(0, 1)``."""
    conv = _conv()
    theta = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    out = conv(torch.cos(theta)[None, None, None])[0, 0, 0]
    w = _weight(conv, 0, 1)
    torch.testing.assert_close(out, w.real * torch.cos(theta) - w.imag * torch.sin(theta),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("n, k", [(n, k) for n in (16, 6, 5, 4) for k in range(n // 2 + 1)])
def test_single_mode_output_1d(n, k):
    conv = _conv(1)
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
