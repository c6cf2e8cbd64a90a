"""Fourier helpers shared by the periodic solvers: wavenumbers, 2/3 rule, ETDRK4 factors."""

import math

import pytest
import torch

from pdesurrogate.solvers.spectral import (
    burgers_flux,
    dealias_mask,
    dealiased_modes,
    derivative_symbol,
    equal_substeps,
    etdrk4_coefficients,
    etdrk4_step,
    quantize_step,
    wavenumbers,
)


def phi(k: int, z: torch.Tensor, terms: int = 40) -> torch.Tensor:
    """φ_k(z) = sum_j z^j / (j + k)! (valid for small |z|)."""
    out = torch.zeros_like(z)
    for j in reversed(range(terms)):
        out = out * z + 1.0 / math.factorial(j + k)
    return out


def test_wavenumbers_and_mask():
    """rFFT wavenumbers are 2πk/L, k = 0..n/2; the 2/3 rule keeps exactly 3k < n (n = 12: k <= 3,
    n = 1024: k <= 341), also per axis in 2-D."""
    k = wavenumbers(12, 3.0, real=True)
    assert torch.allclose(k, 2 * math.pi / 3.0 * torch.arange(7, dtype=torch.float64))
    assert dealias_mask((12,)).tolist() == [True] * 4 + [False] * 3
    assert dealiased_modes(12) == 4 and dealiased_modes(1024) == 342 and dealiased_modes(256) == 86
    m2 = dealias_mask((12, 8))
    assert m2.shape == (12, 5)
    assert m2[3, 2] and not m2[4, 2] and not m2[3, 3] and m2[-3, 0] and not m2[-4, 0]


def test_derivative_symbol_is_ik_with_the_even_nyquist_mode_zeroed():
    """d/dx is i·2πk/L on every mode but the Nyquist mode of an even n (its derivative of a real
    field is not on the grid), in rFFT and FFT layout; an odd n has no Nyquist mode to drop."""
    length = 3.0
    w = 2 * math.pi / length
    d = derivative_symbol(8, length)
    assert d.dtype == torch.complex128 and d.shape == (5,)
    assert torch.allclose(d.imag, w * torch.tensor([0.0, 1, 2, 3, 0], dtype=torch.float64))
    assert bool((d.real == 0).all())
    full = derivative_symbol(8, length, real=False)
    assert torch.allclose(full.imag, w * torch.tensor([0.0, 1, 2, 3, 0, -3, -2, -1],
                                                      dtype=torch.float64))
    odd = derivative_symbol(9, length, real=False)
    assert torch.allclose(odd.imag, w * torch.tensor([0.0, 1, 2, 3, 4, -4, -3, -2, -1],
                                                     dtype=torch.float64))


def test_etdrk4_coefficients_match_phi_functions():
    """Contour-integral factors equal the φ-function forms (Q = h φ1(z/2)/2, f1 = h(φ1−3φ2+4φ3),
    f2 = h(φ2−2φ3), f3 = h(−φ2+4φ3)) to 1e-13 relative: by Taylor series for |z| <= 0.5
    (including z = 0, where direct formulas lose every digit) and by the closed forms for
    3 <= |z| <= 500, real and complex z."""
    h = 0.3
    small = torch.tensor([0.0, 1e-9, -1e-5, 0.2, -0.5, 0.3 + 0.2j, -0.1j], dtype=torch.complex128)
    big = torch.tensor([-3.0, 4.0, -40.0, -500.0, -5 + 3j, 2 - 7j], dtype=torch.complex128)
    for z in (small, big):
        c = etdrk4_coefficients(z / h, h)
        if z is small:
            p1, p2, p3 = phi(1, z), phi(2, z), phi(3, z)
            q = 0.5 * phi(1, z / 2)
        else:
            ez = torch.exp(z)
            p1 = (ez - 1) / z
            p2 = (ez - 1 - z) / z**2
            p3 = (ez - 1 - z - z**2 / 2) / z**3
            q = (torch.exp(z / 2) - 1) / z
        for got, want in [(c.Q, q), (c.f1, p1 - 3 * p2 + 4 * p3), (c.f2, p2 - 2 * p3),
                          (c.f3, -p2 + 4 * p3), (c.E, torch.exp(z))]:
            want = h * want if got is not c.E else want
            assert torch.allclose(got, want, rtol=1e-13, atol=1e-300), (got, want)


def test_etdrk4_coefficients_real_symbol_gives_real_factors():
    """A real symbol gives real float64 factors equal to the complex computation's real part."""
    lin = torch.tensor([[0.5, -2.0, -1e4]], dtype=torch.float64)
    c = etdrk4_coefficients(lin, 0.1)
    cc = etdrk4_coefficients(lin.to(torch.complex128), 0.1)
    assert c.f1.dtype == torch.float64
    assert torch.allclose(c.f2, cc.f2.real, rtol=1e-14, atol=0)


def test_etdrk4_exact_for_constant_forcing():
    """v' = λv + c has v(h) = e^{hλ} v + (e^{hλ} − 1) c / λ; ETDRK4 reproduces it to 1e-14
    relative for stiff, mild and growing λ."""
    lam = torch.tensor([-1e5, -3.0, 0.7, 1e-10], dtype=torch.float64)
    v0 = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    cst = torch.tensor([2.0, 1.0, -1.0, 0.25], dtype=torch.float64)
    h = 0.4
    out = etdrk4_step(v0, lambda v: cst, etdrk4_coefficients(lam, h))
    exact = torch.exp(h * lam) * v0 + torch.expm1(h * lam) / lam * cst
    assert torch.allclose(out, exact, rtol=1e-14, atol=1e-15)


def test_burgers_flux_is_alias_free():
    """For u with modes |k| < n/3 the pseudo-spectral −(u²/2)_x equals the exact one (computed on
    a 4x finer grid) on the kept modes, to 1e-12; modes past n/3 are ignored by the 2/3 rule,
    while without it the product of mode 10 with itself aliases onto mode 4 (error > 1e-3)."""
    n, length = 24, 2.0
    x = torch.arange(n, dtype=torch.float64) * length / n
    xf = torch.arange(4 * n, dtype=torch.float64) * length / (4 * n)
    w = 2 * math.pi / length

    def low(x):
        return torch.sin(w * x) + 0.7 * torch.cos(7 * w * x + 0.3)

    def field(x):
        return low(x) + 0.5 * torch.sin(10 * w * x)

    kf = wavenumbers(4 * n, length, real=True)

    def exact(f):
        return -0.5j * kf * torch.fft.rfft(f(xf) ** 2) / 4  # /4: FFT normalisation of 4n points

    m = dealiased_modes(n)
    got = burgers_flux(n, length, m)(torch.fft.rfft(field(x))[:m])
    assert torch.allclose(got, exact(low)[:m], atol=1e-12)
    full = burgers_flux(n, length, n // 2 + 1)(torch.fft.rfft(field(x)))
    assert (full[:m] - exact(field)[:m]).abs().max() > 1e-3


def test_substeps_and_quantize():
    """equal_substeps covers the duration exactly with the fewest steps <= dt_max (3 * 0.1 is 3
    steps despite rounding) and rejects negative/NaN durations; quantize_step rounds down to a
    power of 2^(1/4)."""
    assert equal_substeps("s", 0.30000000000000004, 0.1) == (3, 0.30000000000000004 / 3)
    assert equal_substeps("s", 0.31, 0.1)[0] == 4
    assert equal_substeps("s", 0.0, 0.1) == (0, 0.0)
    for bad in (-1.0, math.nan, math.inf, "1"):
        with pytest.raises(ValueError, match="duration"):
            equal_substeps("s", bad, 0.1)
    for dt in (0.3, 1.0, 1e-4, 7.7):
        q = quantize_step(dt)
        assert dt / 2**0.25 < q <= dt
        assert abs(4 * math.log2(q) - round(4 * math.log2(q))) < 1e-9
