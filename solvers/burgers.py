"""Viscous Burgers' equation on a periodic interval: ``u_t + (u²/2)_x = ν u_xx`` on [0, L).

Pseudo-spectral in space (rFFT, the quadratic flux squared on the grid with the 2/3 rule), the
stiff diffusion ``−ν k²`` treated exactly or implicitly, the flux explicitly:

* ``scheme="etdrk4"`` (default): exponential time differencing RK4 (Cox & Matthews) with the
  Kassam–Trefethen contour-integral coefficients; fourth order in time.
* ``scheme="imex"``: the IMEX Runge–Kutta scheme ARS(2,2,2) of Ascher, Ruuth & Spiteri (1997):
  L-stable SDIRK for the diffusion, two explicit flux evaluations per step; second order in
  time, about half the cost per step of ETDRK4.

The automatic step is an advective CFL condition ``dt = cfl · dx / max|u|`` (the maximum
principle keeps ``max|u|`` from growing during one ``advance``), rounded down to a power of
2^(1/4) so that successive ``advance`` calls reuse the cached step operators; diffusion needs no
limit. Each ``advance`` takes the fewest equal steps of at most that size covering its duration.

The PDE cannot raise ``max|u|``; a run in which it grows is wrong
(:meth:`~.spectral.PseudoSpectral1D.check_growth`): by more than 1 % a RuntimeWarning (an
under-resolved shock: ν = 1e-4 at 64 points overshoots by 5 %), by more than 2x a
:class:`~.base.SolverDivergedError` (a fixed ``dt`` far past the stable step).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Params, check_choice, check_positive, check_range, seeded_generator, uniform
from .random_fields import gaussian_random_field, sine_sum
from .spectral import (
    PseudoSpectral1D,
    check_n_points,
    dealiased_modes,
    quantize_step,
    wavenumbers,
)


class Burgers1D(PseudoSpectral1D):
    """Batched viscous Burgers solver; state ``(B, 1, n_points)``, parameter ``nu`` ``(B,)``.

    Args:
        n_points: grid points (even, >= 8); cell positions ``x_j = j L / n``.
        length: period ``L`` (length units).
        nu_range: viscosity range sampled log-uniformly by :meth:`sample` (length²/time).
        ic: ``"grf"``: the FNO paper's field N(0, 625 (−Δ + 25 I)^−2) (mean removed) on
            [0, L); ``"sines"``: PDEBench-style sum of 2 sines, wavenumbers 1..4, |A| <= 1.
        scheme: ``"etdrk4"`` or ``"imex"`` (see the module docstring).
        dt: fixed upper bound on the internal step (time units); None picks it by CFL.
        cfl: Courant number ``max|u| dt / dx`` of the automatic step.
    """

    name = "burgers1d"
    channels = 1
    param_names = ("nu",)
    max_principle = True
    divergence_hint = ("raise n_points or the low end of nu_range, or lower cfl (dt=None) or "
                       "dt")

    def __init__(
        self,
        n_points: int = 1024,
        length: float = 1.0,
        nu_range: tuple[float, float] = (0.01, 0.1),
        ic: str = "grf",
        scheme: str = "etdrk4",
        dt: float | None = None,
        cfl: float = 0.5,
    ):
        self.n_points = check_n_points("n_points", n_points)
        self.length = check_positive("length", length)
        self.nu_range = check_range("nu_range", nu_range, positive=True)
        self.ic = check_choice("ic", ic, ("grf", "sines"))
        self.scheme = check_choice("scheme", scheme, ("etdrk4", "imex"))
        self.dt = None if dt is None else check_positive("dt", dt)
        self.cfl = check_positive("cfl", cfl)
        self.n_modes = dealiased_modes(n_points)
        self._init_spectral()

    # -- contract ----------------------------------------------------------------------------
    def sample(self, n: int, seed: int, dtype: torch.dtype = torch.float32,
               device: str | torch.device = "cpu") -> tuple[Tensor, Params]:
        """``n`` initial states ``(n, 1, n_points)`` and ``{"nu": (n,)}``; ν is drawn first,
        then the fields, from one CPU generator seeded with ``seed``."""
        n = self.check_sample_args(n, dtype)
        gen = seeded_generator(seed)
        nu = uniform(gen, n, self.nu_range, log=True)
        if self.ic == "grf":
            u0 = gaussian_random_field(n, (self.n_points,), gen, sigma=25.0, tau=5.0, alpha=2.0,
                                       length=self.length)
        else:
            u0 = sine_sum(n, self.grid, gen, n_waves=2, k_max=4, amplitude=1.0,
                          length=self.length)
        return (u0.unsqueeze(1).to(dtype=dtype, device=device),
                {"nu": nu.to(dtype=dtype, device=device)})

    # -- internals ---------------------------------------------------------------------------
    def step_bound(self, amax: float) -> float:
        """Largest internal step for a state with ``max|u| = amax``: ``dt`` if set, else the
        CFL step rounded down by :func:`quantize_step` (unbounded for a zero state)."""
        if self.dt is not None:
            return self.dt
        if amax == 0:
            return math.inf
        return quantize_step(self.cfl * (self.length / self.n_points) / amax)

    def symbol(self, params: dict[str, Tensor]) -> Tensor:
        """Diffusion symbol ``−ν k²``, ``(B, 1, nk)`` float64."""
        k = wavenumbers(self.n_points, self.length, real=True)
        return -params["nu"].reshape(-1, 1, 1) * k**2

    def check_params(self, params: dict[str, Tensor]) -> None:
        nu = params["nu"]
        if bool((nu <= 0).any()):
            raise ValueError(f"{self.name}: parameter 'nu' must be positive, got {nu.tolist()}")
