"""NavierStokes2D's speed-ups give the reference's numbers: the real spectral factors stored
complex step bit for bit as the real ones, and a batch equals its samples solved alone."""

import pytest
import torch

from pdesurrogate.solvers.navier_stokes import NavierStokes2D


def reference_advection_hat(w_hat: torch.Tensor, keep, inv_lap, dx, dy, n: int) -> torch.Tensor:
    """``u . grad w`` dealiased, as computed with real ``keep`` and ``inv_lap`` factors."""
    w_hat = w_hat * keep
    psi_hat = w_hat * inv_lap
    s = (n, n)
    w = torch.fft.irfft2(w_hat, s=s)
    ux = torch.fft.irfft2(dy * psi_hat, s=s)
    uy = torch.fft.irfft2(-dx * psi_hat, s=s)
    return (dx * torch.fft.rfft2(ux * w) + dy * torch.fft.rfft2(uy * w)) * keep


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spectral_factors_are_complex_and_give_the_real_factors_advection(dtype):
    n = 16
    s = NavierStokes2D(n=n)
    w, _ = s.sample(3, seed=2, dtype=dtype)
    sp, _ = s._spectral(w)
    assert sp.keep.dtype == sp.inv_lap.dtype == sp.dx.dtype
    assert sp.keep.is_complex() and torch.equal(sp.minus_dx, -sp.dx)
    w_hat = torch.fft.rfft2(w[:, 0])
    got = s._advection_hat(w_hat, sp)
    want = reference_advection_hat(w_hat, sp.keep.real.to(dtype), sp.inv_lap.real.to(dtype),
                                   sp.dx, sp.dy, n)
    assert torch.equal(got, want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batched_solve_equals_one_sample_solves(dtype):
    """With a fixed step (the automatic one is taken over the batch) each sample of a batch
    follows its own solve to round-off."""
    s = NavierStokes2D(n=16, dt=0.01, channels=3)
    u0, params = s.sample(3, seed=4, dtype=dtype)
    times = [0.0, 0.1, 0.25]
    batch = s.solve(u0, params, times)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for i in range(3):
        alone = NavierStokes2D(n=16, dt=0.01, channels=3).solve(
            u0[i:i + 1], {"nu": params["nu"][i:i + 1]}, times)
        torch.testing.assert_close(batch[i:i + 1], alone, rtol=0,
                                   atol=tol * float(alone.abs().amax()))
