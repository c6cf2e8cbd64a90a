"""2-D incompressible Navier–Stokes in vorticity form on the periodic unit square.

    w_t + u . grad w = nu lap w + f,      u = (d psi/dy, -d psi/dx),      lap psi = -w

on ``[0, 1)^2`` with ``n x n`` nodes ``x_j = j / n`` (the FNO / PDEBench setting). The state is
the vorticity ``w`` ``(B, 1, n, n)``, or with ``channels=3`` ``(B, 3, n, n)``: ``w`` and the
velocity ``(vx, vy) = (d psi/dy, -d psi/dx)`` derived from it; axis -2 is y and axis -1 is x.
Time and length are dimensionless, ``nu`` is the kinematic viscosity.

Pseudo-spectral in space (``rfft2``; products in physical space, the 2/3 rule of
:func:`~.spectral.dealias_mask` (``3|k| < n`` per axis) on both the product's factors and the
product) and exponential time differencing in time, ETDRK2 (Cox & Matthews 2002): with
``L = -nu k^2`` (``k^2 = (2 pi)^2 |k|^2``), ``g(w) = f - u . grad w`` and ``z = L dt`` per mode,

    a       = e^z w^n + dt phi1(z) g(w^n)
    w^{n+1} = a + dt phi2(z) (g(a) - g(w^n))

with ``phi1(z) = (e^z - 1) / z`` and ``phi2(z) = (e^z - 1 - z) / z^2``. Diffusion is integrated
exactly, so every mode decays at its exact rate whatever ``nu dt k^2`` (Crank–Nicolson, used
before, multiplied stiff modes by nearly -1 per step: at ``nu = 0.1`` a (20, 20) mode that
decays by e^-69 over t = 0.05 kept an O(1) amplitude); the nonlinear part is second order and,
for modes where ``z`` is small, the scheme is Heun's method, so the advective CFL number alone
limits the step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import (
    Params,
    Solver,
    SolverDivergedError,
    check_choice,
    check_int,
    check_positive,
    check_range,
    is_int,
    seeded_generator,
    uniform,
)
from .random_fields import gaussian_random_field, sine_sum
from .spectral import dealias_mask


class _Spectral2D:
    """Wavenumbers and masks of a periodic ``n x n`` grid on one device and dtype."""

    def __init__(self, n: int, device: torch.device, dtype: torch.dtype):
        two_pi = 2 * math.pi
        ky = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64).reshape(-1, 1)
        kx = torch.fft.rfftfreq(n, d=1.0 / n, dtype=torch.float64).reshape(1, -1)
        k2 = two_pi**2 * (kx**2 + ky**2)
        inv = torch.where(k2 > 0, 1.0 / torch.where(k2 > 0, k2, 1.0), 0.0)
        keep = dealias_mask((n, n), real=True)
        put = dict(device=device, dtype=dtype)
        cdtype = _complex(dtype)
        self.dx = (1j * two_pi * kx).to(device=device, dtype=cdtype)
        self.dy = (1j * two_pi * ky).to(device=device, dtype=cdtype)
        self.minus_dx = -self.dx  # the velocity's -d/dx, negated once instead of every step
        self.k2 = k2.to(device=device)  # float64 whatever the dtype: the ETD factors use it
        # rounded to the real dtype, then stored complex: they multiply spectra, and torch
        # promotes a real factor to a complex copy at every multiplication (same values)
        self.inv_lap = inv.to(**put).to(cdtype)  # psi_hat = w_hat / k^2 (zero mean)
        self.keep = keep.to(**put).to(cdtype)
        self.n = n


def _etd2_factors(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(e^z, phi1(z), phi2(z))`` elementwise for real ``z <= 0`` (float64), with
    ``phi1 = (e^z - 1) / z`` and ``phi2 = (e^z - 1 - z) / z^2`` (1 and 1/2 at ``z = 0``).

    ``phi2`` loses digits to cancellation for small ``|z|`` (about ``eps / |z|``); for
    ``|z| < 0.1`` it comes from its Taylor series ``sum_j z^j / (j + 2)!`` up to ``j = 10``,
    whose remainder is below 1e-20.
    """
    em1 = torch.expm1(z)
    small = z.abs() < 0.1
    phi1 = torch.where(z == 0, torch.ones_like(z), em1 / torch.where(z == 0, 1.0, z))
    series = torch.zeros_like(z)
    for j in range(10, -1, -1):
        series = series * z + 1 / math.factorial(j + 2)
    safe = torch.where(small, torch.ones_like(z), z)
    phi2 = torch.where(small, series, (em1 - z) / safe**2)
    return em1 + 1, phi1, phi2


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


class NavierStokes2D(Solver):
    """Vorticity–stream function Navier–Stokes on ``[0, 1)^2`` (FNO's 2-D benchmark).

    Args:
        n: grid size (``n x n`` nodes, even, >= 8).
        nu_range: viscosity range, sampled log-uniformly.
        forcing: ``"fno"`` for ``f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`` (Li et al. 2021)
            or ``"none"``.
        ic: ``"grf"`` for FNO's Gaussian random field (sigma = 7^1.5, tau = 7, alpha = 2.5) or
            ``"sines"`` for sums of random sine waves.
        dt: fixed internal step (shortened so equal steps cover each ``advance`` exactly);
            ``None`` picks it from the CFL condition ``dt = cfl * (1/n) / max|u|`` (max over
            the batch), capped at ``dt_max``, at the start of every ``advance`` and again every
            ``recheck`` steps; each pick covers the time still left with equal steps.
        cfl: advective Courant number for the automatic step. The scheme is Heun's method on
            the modes advection limits, which is only weakly unstable on the imaginary axis
            (growth ``sqrt(1 + theta^4 / 4)`` per step for a phase ``theta`` per step); 0.25
            keeps the growth per step of the highest retained mode along an axis below 1 %,
            and of the diagonal mode, whose phase is sqrt(2) times larger, near 3.7 %.
        dt_max: cap on the automatic step (accuracy when the flow is slow).
        recheck: steps between two estimates of the automatic step.
        channels: state channels: 1 (default: the vorticity) or 3 (the vorticity and the
            velocity ``vx``, ``vy`` computed from it, spectrally, at every stored time; for a
            surrogate of the velocity field). Either way the solver evolves the vorticity
            alone: ``advance`` reads channel 0 and recomputes the velocity.

    Parameters: ``nu`` ``(B,)``.
    """

    name = "navier_stokes2d"
    channels = 1
    channel_names = ("vorticity",)
    param_names = ("nu",)
    divergence_hint = "lower dt, or cfl with dt=None, raise n or the low end of nu_range"

    def __init__(
        self,
        n: int = 64,
        nu_range: tuple[float, float] = (1e-4, 1e-3),
        forcing: str = "fno",
        ic: str = "grf",
        dt: float | None = None,
        cfl: float = 0.25,
        dt_max: float = 1e-2,
        recheck: int = 50,
        channels: int = 1,
    ):
        if not is_int(n) or n < 8 or n % 2:
            raise ValueError(f"n must be an even int >= 8, got {n!r}")
        n = int(n)
        if not is_int(channels) or channels not in (1, 3):
            raise ValueError(f"channels must be 1 (vorticity) or 3 (vorticity, vx, vy), got "
                             f"{channels!r}")
        channels = int(channels)
        self.n = n
        self.nu_range = check_range("nu_range", nu_range, positive=True)
        self.forcing = check_choice("forcing", forcing, ("fno", "none"))
        self.ic = check_choice("ic", ic, ("grf", "sines"))
        self.dt = None if dt is None else check_positive("dt", dt)
        self.cfl = check_positive("cfl", cfl)
        self.dt_max = check_positive("dt_max", dt_max)
        self.recheck = check_int("recheck", recheck, 1)
        self.channels = channels
        self.channel_names = ("vorticity", "vx", "vy")[:channels]
        coord = torch.arange(n, dtype=torch.float64) / n
        self.grid = (coord, coord.clone())
        self._cache: dict[tuple, tuple[_Spectral2D, Tensor]] = {}

    # -- contract ------------------------------------------------------------------------------
    def sample(self, n: int, seed: int, dtype: torch.dtype = torch.float32,
               device: str | torch.device = "cpu") -> tuple[Tensor, Params]:
        """``n`` vorticity fields ``(n, 1, self.n, self.n)`` (``self.n``: the constructor's grid
        size; ``(n, 3, ...)`` with their velocity for ``channels=3``) and ``{"nu": (n,)}``,
        deterministic per seed."""
        n = self.check_sample_args(n, dtype)
        gen = seeded_generator(seed)
        nu = uniform(gen, n, self.nu_range, log=True)
        if self.ic == "grf":
            w = gaussian_random_field(n, (self.n, self.n), gen, sigma=7**1.5, tau=7.0, alpha=2.5)
        else:
            w = sine_sum(n, self.grid, gen)
        w = w.unsqueeze(1).to(device=device, dtype=dtype)
        return self._with_velocity(w), {"nu": nu.to(device=device, dtype=dtype)}

    def advance(self, u: Tensor, params: Params, duration: float) -> Tensor:
        """Advance vorticity ``u`` ``(B, 1, n, n)`` by ``duration``; same dtype and device.
        With ``channels=3``, ``u`` is ``(B, 3, n, n)``: channel 0 is advanced and the velocity
        of the result recomputed (the input's velocity channels are not read).

        Raises :class:`~.base.SolverDivergedError` (``time``: since the start of this call) for
        vorticity that is non-finite or past ``blowup`` on input (t = 0) or on output
        (t = ``duration``), or a non-finite velocity at a step estimate, as ``solve`` does.
        """
        params = self.check_inputs(u, params)
        duration = self.check_duration(duration)
        nu = self.param(params, "nu", u).reshape(-1, 1, 1)
        nu64 = nu.to(torch.float64)
        if not bool((nu > 0).all()):
            raise ValueError(f"{self.name}: nu must be positive, got {params['nu']}")
        self.check_finite(u, 0.0)
        if duration == 0:
            return u.clone()
        u = u[:, :1]
        sp, f_hat = self._spectral(u)
        w_hat = torch.fft.rfft2(u[:, 0])
        left = duration
        while left > 0:
            # the automatic step is re-estimated every `recheck` steps as the flow speeds up;
            # each estimate splits the time still left into equal steps
            dt = self.dt if self.dt is not None else self._auto_dt(w_hat, sp, duration - left)
            steps = max(1, math.ceil(left / dt - 1e-9))
            dt = left / steps
            block = steps if self.dt is not None else min(steps, self.recheck)
            decay, phi1, phi2 = (c.to(u.dtype) for c in _etd2_factors(-dt * nu64 * sp.k2))
            cdtype = sp.dx.dtype  # complex, as the spectra they multiply (see _Spectral2D)
            decay, phi1, phi2 = decay.to(cdtype), (dt * phi1).to(cdtype), (dt * phi2).to(cdtype)
            for _ in range(block):
                g0 = f_hat - self._advection_hat(w_hat, sp)
                a = decay * w_hat + phi1 * g0
                w_hat = a + phi2 * (f_hat - self._advection_hat(a, sp) - g0)
            left = 0.0 if block == steps else left - block * dt
        out = torch.fft.irfft2(w_hat, s=(self.n, self.n)).unsqueeze(1).to(u.dtype)
        self.check_finite(out, duration)
        return self._with_velocity(out)

    # -- helpers -------------------------------------------------------------------------------
    def velocity(self, w: Tensor) -> tuple[Tensor, Tensor]:
        """Velocity ``(u_x, u_y)`` of vorticity ``w`` ``(B, 1, n, n)``, each ``(B, n, n)``."""
        sp, _ = self._spectral(w)
        w_hat = torch.fft.rfft2(w[:, 0])
        psi_hat = w_hat * sp.inv_lap
        s = (self.n, self.n)
        return (torch.fft.irfft2(sp.dy * psi_hat, s=s),
                torch.fft.irfft2(sp.minus_dx * psi_hat, s=s))

    def _with_velocity(self, w: Tensor) -> Tensor:
        """The state of vorticity ``w`` ``(B, 1, n, n)``: ``w`` itself, or for ``channels=3``
        ``[w, vx, vy]`` ``(B, 3, n, n)``."""
        if self.channels == 1:
            return w
        vx, vy = self.velocity(w)
        return torch.cat([w, vx.unsqueeze(1), vy.unsqueeze(1)], dim=1)

    def _spectral(self, like: Tensor) -> tuple[_Spectral2D, Tensor]:
        key = (like.device, like.dtype)
        if key not in self._cache:
            sp = _Spectral2D(self.n, like.device, like.dtype)
            x, y = self.grid[1].reshape(1, -1), self.grid[0].reshape(-1, 1)
            if self.forcing == "fno":
                f = 0.1 * (torch.sin(2 * math.pi * (x + y)) + torch.cos(2 * math.pi * (x + y)))
            else:
                f = torch.zeros(self.n, self.n, dtype=torch.float64)
            f_hat = torch.fft.rfft2(f.to(device=like.device, dtype=like.dtype))
            self._cache[key] = (sp, f_hat)
        return self._cache[key]

    def _advection_hat(self, w_hat: Tensor, sp: _Spectral2D) -> Tensor:
        """Fourier coefficients of ``u . grad w``, dealiased by the 2/3 rule.

        Computed as ``div(u w)`` (equal since ``div u = 0`` holds exactly for the spectral
        velocity): three inverse and two forward transforms instead of four and one, and an
        inverse real transform costs about twice a forward one.
        """
        w_hat = w_hat * sp.keep
        psi_hat = w_hat * sp.inv_lap
        s = (self.n, self.n)
        w = torch.fft.irfft2(w_hat, s=s)
        ux = torch.fft.irfft2(sp.dy * psi_hat, s=s)
        uy = torch.fft.irfft2(sp.minus_dx * psi_hat, s=s)
        flux = sp.dx * torch.fft.rfft2(ux * w) + sp.dy * torch.fft.rfft2(uy * w)
        return flux * sp.keep

    def _auto_dt(self, w_hat: Tensor, sp: _Spectral2D, time: float) -> float:
        """The CFL step for ``w_hat``; ``time`` (since the start of the ``advance``) names the
        moment in the SolverDivergedError raised when the velocity is not finite."""
        psi_hat = w_hat * sp.inv_lap
        s = (self.n, self.n)
        speed = torch.sqrt(torch.fft.irfft2(sp.dy * psi_hat, s=s) ** 2
                           + torch.fft.irfft2(sp.dx * psi_hat, s=s) ** 2)
        vmax = speed.reshape(speed.shape[0], -1).amax(dim=1)
        if not bool(torch.isfinite(vmax).all()):
            i = int(torch.nonzero(~torch.isfinite(vmax))[0])
            raise SolverDivergedError(self.name, i, time, "non-finite velocity")
        top = float(vmax.max())
        return self.dt_max if top == 0 else min(self.dt_max, self.cfl / (self.n * top))
