"""Random initial conditions shared by the solvers.

* :func:`gaussian_random_field`: periodic Gaussian random field N(0, sigma² (−Δ + tau² I)^−alpha)
  on [0, L)^d, sampled spectrally (the FNO paper's initial conditions: Burgers uses
  sigma² = 625, tau² = 25, alpha = 2 on [0, 1); Navier–Stokes sigma = 7^{3/2}, tau = 7, alpha = 2.5;
  Darcy thresholds tau = 3, alpha = 2).
* :func:`sine_sum`: PDEBench-style sums of sines with random integer wavenumbers, amplitudes and
  phases.

Both draw on the CPU from a ``torch.Generator`` so results do not depend on the device.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def gaussian_random_field(
    n: int,
    shape: tuple[int, ...],
    gen: torch.Generator,
    sigma: float,
    tau: float,
    alpha: float,
    length: float = 1.0,
    zero_mean: bool = True,
) -> Tensor:
    """``n`` samples (float64, CPU) of the periodic GRF N(0, sigma²(−Δ+tau²)^−alpha) on ``shape``.

    The covariance operator has eigenvalues ``sigma² (4π²|k|²/L² + tau²)^−alpha`` on the Fourier
    modes ``exp(2πi k·x / L)``; the field is white noise coloured by the square root of these.
    ``zero_mean`` removes the k = 0 mode (as the FNO Burgers data does).
    """
    d = len(shape)
    white = torch.randn((n, *shape), generator=gen, dtype=torch.float64)
    what = torch.fft.fftn(white, dim=tuple(range(1, d + 1)))
    k2 = torch.zeros(shape, dtype=torch.float64)
    for axis, m in enumerate(shape):
        k = torch.fft.fftfreq(m, d=1.0 / m, dtype=torch.float64)
        k2 = k2 + (k.reshape([-1 if a == axis else 1 for a in range(d)]) ** 2)
    lam = sigma**2 * (4 * math.pi**2 * k2 / length**2 + tau**2) ** (-alpha)
    if zero_mean:
        lam.reshape(-1)[0] = 0.0
    # u_j = sum_k sqrt(lam_k) xi_k e_k(x_j), e_k orthonormal on [0, L)^d; fft of white noise has
    # variance prod(shape) per mode, hence the sqrt(prod(shape)) / L^{d/2} factor.
    npts = math.prod(shape)
    u = torch.fft.ifftn(what * lam.sqrt(), dim=tuple(range(1, d + 1))).real
    return u * math.sqrt(npts) / length ** (d / 2)


def sine_sum(
    n: int,
    grid: tuple[Tensor, ...],
    gen: torch.Generator,
    n_waves: int = 2,
    k_max: int = 4,
    amplitude: float = 1.0,
    length: float = 1.0,
) -> Tensor:
    """``n`` fields (float64, CPU) ``sum_i A_i sin(2π k_i·x / L + phi_i)`` on the given grid.

    ``k_i`` integer wavenumbers with components in [-k_max, k_max] (first component >= 1 so each
    wave is non-constant), ``A_i ~ U(-amplitude, amplitude)``, ``phi_i ~ U(0, 2π)``.
    """
    d = len(grid)
    mesh = torch.meshgrid(*[g.to(torch.float64) for g in grid], indexing="ij")
    out = torch.zeros((n, *mesh[0].shape), dtype=torch.float64)
    for _ in range(n_waves):
        amp = (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1) * amplitude
        phase = 2 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
        ks = [torch.randint(1, k_max + 1, (n,), generator=gen)]
        ks += [torch.randint(-k_max, k_max + 1, (n,), generator=gen) for _ in range(d - 1)]
        arg = phase.reshape(-1, *([1] * d)).clone()
        for axis in range(d):
            k = ks[axis].to(torch.float64).reshape(-1, *([1] * d))
            arg = arg + 2 * math.pi / length * k * mesh[axis]
        out = out + amp.reshape(-1, *([1] * d)) * torch.sin(arg)
    return out
