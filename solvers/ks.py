"""Kuramoto–Sivashinsky equation on a periodic interval:
``u_t + u u_x + u_xx + ν u_xxxx = 0`` on [0, L).

Pseudo-spectral in space (rFFT; ``u u_x = (u²/2)_x`` squared on the grid, 2/3 rule unless
``dealias=False``), ETDRK4 in time (Cox & Matthews) with the linear symbol ``k² − ν k⁴`` treated
exactly and the Kassam–Trefethen contour-integral coefficients. Fourth order in time.

The automatic step is ``min(0.25, 2 dx / max|u|)`` (the second term rounded down to a power of
2^(1/4), so cached operators are reused): 0.25 is the step Kassam and Trefethen use for
L = 32π, n = 128; the advective bound keeps fine grids and large amplitudes stable (about 0.16
on the attractor at the defaults n = 256, L = 64). ``max|u|`` grows as the chaos develops, so
the bound is checked again every ``step_recheck`` (8) steps within an ``advance`` and the steps
left are halved until they meet it when it has dropped below the step in use (picking the
step once from the starting state ran a long advance from a small state at 0.25 whatever n:
results then depended on how often frames were saved, 1e-3 apart at n = 1024). Time stepping
with stiff modes shows the known order reduction of ETDRK4: measured order ≈ 3 when
``h ν k_max⁴ ≫ 1``, → 4 as h shrinks.
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

_DT_MAX = 0.25
_COURANT = 2.0
# "grf" initial condition: (−Δ + τ²)^−2 with τ = 2π·_GRF_MODE / L, scaled to unit variance
_GRF_MODE = 4.0


class KS1D(PseudoSpectral1D):
    """Batched Kuramoto–Sivashinsky solver; state ``(B, 1, n_points)``, parameter ``nu``
    ``(B,)`` (the coefficient of ``u_xxxx``).

    Args:
        n_points: grid points (even, >= 8); cell positions ``x_j = j L / n``.
        length: period ``L`` (e.g. 64 or 32π); modes with ``2πk/L < 1/√ν`` are unstable.
        nu_range: range of ν, sampled log-uniformly by :meth:`sample`.
        ic: ``"sines"``: sum of 3 sines with wavenumbers 1..4 (in units of 2π/L), |A| <= 1;
            ``"grf"``: Gaussian random field ∝ (−Δ + τ²)^−2, τ = 8π/L, unit variance.
        dt: fixed upper bound on the internal step; None picks it (module docstring).
        dealias: apply the 2/3 rule to the nonlinear term.
    """

    name = "ks1d"
    channels = 1
    param_names = ("nu",)
    divergence_hint = ("lower dt (dt=None picks a stable step), raise n_points or the low end "
                       "of nu_range, or keep dealias=True")
    step_recheck = 8

    def __init__(
        self,
        n_points: int = 256,
        length: float = 64.0,
        nu_range: tuple[float, float] = (0.8, 1.2),
        ic: str = "sines",
        dt: float | None = None,
        dealias: bool = True,
    ):
        self.n_points = check_n_points("n_points", n_points)
        self.length = check_positive("length", length)
        self.nu_range = check_range("nu_range", nu_range, positive=True)
        self.ic = check_choice("ic", ic, ("sines", "grf"))
        self.dt = None if dt is None else check_positive("dt", dt)
        if not isinstance(dealias, bool):
            raise ValueError(f"dealias must be True or False, got {dealias!r}")
        self.dealias = dealias
        self.n_modes = dealiased_modes(n_points) if dealias else n_points // 2 + 1
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
            tau = 2 * math.pi * _GRF_MODE / self.length
            k = wavenumbers(self.n_points, self.length)[1:]
            # variance of the field at a point: sum over modes of the eigenvalues / L
            var = float(((k**2 + tau**2) ** -2.0).sum()) / self.length
            u0 = gaussian_random_field(n, (self.n_points,), gen, sigma=1 / math.sqrt(var),
                                       tau=tau, alpha=2.0, length=self.length)
        else:
            u0 = sine_sum(n, self.grid, gen, n_waves=3, k_max=4, amplitude=1.0,
                          length=self.length)
        return (u0.unsqueeze(1).to(dtype=dtype, device=device),
                {"nu": nu.to(dtype=dtype, device=device)})

    # -- internals ---------------------------------------------------------------------------
    def step_bound(self, amax: float) -> float:
        """Largest internal step for a state with ``max|u| = amax`` (``dt`` if set)."""
        if self.dt is not None:
            return self.dt
        if amax == 0:
            return _DT_MAX
        return min(_DT_MAX, quantize_step(_COURANT * (self.length / self.n_points) / amax))

    def symbol(self, params: dict[str, Tensor]) -> Tensor:
        """Linear symbol ``k² − ν k⁴``, ``(B, 1, nk)`` float64."""
        k2 = wavenumbers(self.n_points, self.length, real=True) ** 2
        return k2 - params["nu"].reshape(-1, 1, 1) * k2**2

    def check_params(self, params: dict[str, Tensor]) -> None:
        nu = params["nu"]
        if bool((nu <= 0).any()):
            raise ValueError(f"{self.name}: parameter 'nu' must be positive, got {nu.tolist()}")
