"""The speed-ups of the ETDRK4 path give the reference's numbers: factors of a real symbol from
half the contour points (conjugate pairs), factors stored complex, and batched solves equal to
one-sample solves."""

import math

import pytest
import torch

from pdesurrogate.solvers.burgers import Burgers1D
from pdesurrogate.solvers.ks import KS1D
from pdesurrogate.solvers.spectral import etdrk4_coefficients, etdrk4_step

NAMES = ("E", "E2", "Q", "f1", "f2", "f3")


def closed_forms(z: torch.Tensor, h: float) -> dict[str, torch.Tensor]:
    """The six factors from their closed forms (accurate for |z| >= 3, float64)."""
    ez = torch.exp(z)
    p1 = (ez - 1) / z
    p2 = (ez - 1 - z) / z**2
    p3 = (ez - 1 - z - z**2 / 2) / z**3
    return {"E": ez, "E2": torch.exp(z / 2), "Q": h * (torch.exp(z / 2) - 1) / z,
            "f1": h * (p1 - 3 * p2 + 4 * p3), "f2": h * (p2 - 2 * p3), "f3": h * (-p2 + 4 * p3)}


@pytest.mark.parametrize("n_contour", [32, 16, 31])
def test_real_symbol_factors_equal_the_full_contour_and_the_closed_forms(n_contour):
    """A real symbol's factors (the conjugate-pair half of the contour when ``n_contour`` is
    even) equal the complex computation over every point to 1e-12 relative, and the closed
    forms to 1e-12 where those are accurate."""
    h = 0.25
    z = torch.tensor([-3.0, -7.5, -40.0, -500.0, 3.0, 6.0], dtype=torch.float64)
    real = etdrk4_coefficients(z / h, h, n_contour=n_contour)
    full = etdrk4_coefficients((z / h).to(torch.complex128), h, n_contour=n_contour)
    want = closed_forms(z, h)
    for name in NAMES:
        got = getattr(real, name)
        assert got.dtype == torch.float64
        torch.testing.assert_close(got, getattr(full, name).real, rtol=1e-12, atol=0)
        if n_contour == 32:  # fewer points are less accurate at |z| = 500, equally for both
            torch.testing.assert_close(got, want[name], rtol=1e-12, atol=0)


def test_small_real_symbol_factors_equal_the_full_contour():
    """Near z = 0 (where the closed forms lose every digit) the pair sum equals the full one."""
    h = 0.1
    z = torch.tensor([0.0, -1e-9, 1e-6, -0.3, 0.5, -1.0], dtype=torch.float64)
    real = etdrk4_coefficients(z / h, h)
    full = etdrk4_coefficients((z / h).to(torch.complex128), h)
    for name in NAMES:
        torch.testing.assert_close(getattr(real, name), getattr(full, name).real,
                                   rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("scheme", ["etdrk4", "imex"])
def test_step_factors_are_complex_and_step_as_the_real_ones(scheme):
    """The cached step factors are in the spectrum's complex dtype (a real factor is promoted
    to a complex copy at every multiplication), and a step with them is bit for bit the step
    with the real float32 factors."""
    s = Burgers1D(n_points=64, scheme=scheme, dt=1e-3)
    u0, params = s.sample(3, seed=5)
    s.advance(u0, params, 2e-3)
    (ops, _tail), = [value for _, _, value in s._cache._entries]
    factors = [getattr(ops, n) for n in NAMES] if scheme == "etdrk4" else list(ops)
    assert all(f.dtype == torch.complex64 for f in factors)
    real_factors = [f.real.contiguous() for f in factors]
    v = torch.fft.rfft(u0)[..., :s.n_modes]
    flux = s._flux(v.dtype, v.device)
    if scheme == "etdrk4":
        new = etdrk4_step(v, flux, ops)
        old = etdrk4_step(v, flux, type(ops)(*real_factors))
    else:
        from pdesurrogate.solvers.spectral import imex_step
        new = imex_step(v, flux, ops, 1e-3)
        old = imex_step(v, flux, tuple(real_factors), 1e-3)
    assert torch.equal(new, old)


@pytest.mark.parametrize("make", [
    lambda: Burgers1D(n_points=128, dt=2e-3),
    lambda: Burgers1D(n_points=128, dt=2e-3, scheme="imex"),
    lambda: KS1D(n_points=64, length=32.0, dt=0.05),
], ids=["burgers-etdrk4", "burgers-imex", "ks"])
def test_batched_solve_equals_one_sample_solves(make):
    """With a fixed step a batch of samples (two sharing a parameter, so the factors of
    distinct rows are gathered) gives each sample's own solve to float32 round-off."""
    s = make()
    u0, params = s.sample(4, seed=11)
    nu = params["nu"].clone()
    nu[3] = nu[1]
    params = {"nu": nu}
    times = [0.0, 0.1, 0.3]
    batch = s.solve(u0, params, times)
    for i in range(4):
        alone = make().solve(u0[i:i + 1], {"nu": nu[i:i + 1]}, times)
        scale = float(alone.abs().amax())
        torch.testing.assert_close(batch[i:i + 1], alone, rtol=0, atol=1e-5 * scale)
    assert math.isfinite(float(batch.abs().amax()))
