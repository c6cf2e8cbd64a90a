"""Linear advection on a periodic interval: ``u_t + β u_x = 0`` on [0, L).

Solved exactly in Fourier space: each rFFT mode is multiplied by ``exp(−i k β t)``, which shifts
the grid's trigonometric interpolant by ``β t``. For band-limited data (e.g. the sine sums of
``ic="sines"``) this is the exact solution up to round-off, for any shift, integer or not; other
data is advected as its trigonometric interpolant. With ``dt=None`` one step covers any
duration; a fixed ``dt`` (kept for symmetry with the other solvers) splits it into equal steps,
whose product is again one shift, taken at once, so any ``dt`` costs the same time.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import (
    Params,
    Solver,
    check_choice,
    check_positive,
    check_range,
    seeded_generator,
    uniform,
)
from .random_fields import gaussian_random_field, sine_sum
from .spectral import check_n_points, equal_substeps, wavenumbers


class Advection1D(Solver):
    """Batched linear advection; state ``(B, 1, n_points)``, parameter ``beta`` ``(B,)``
    (velocity, length/time; either sign).

    Args:
        n_points: grid points (even, >= 8); cell positions ``x_j = j L / n``.
        length: period ``L``.
        beta_range: velocity range, sampled uniformly by :meth:`sample`.
        ic: ``"sines"``: PDEBench-style sum of 2 sines, wavenumbers 1..4, |A| <= 1;
            ``"grf"``: Gaussian random field N(0, 625 (−Δ + 25 I)^−2), mean removed.
        dt: None (exact single step) or a step bound splitting each advance into equal steps.
    """

    name = "advection1d"
    channels = 1
    param_names = ("beta",)
    divergence_hint = "the initial state must be finite and within blowup"

    def __init__(
        self,
        n_points: int = 256,
        length: float = 1.0,
        beta_range: tuple[float, float] = (0.1, 1.0),
        ic: str = "sines",
        dt: float | None = None,
    ):
        self.n_points = check_n_points("n_points", n_points)
        self.length = check_positive("length", length)
        self.beta_range = check_range("beta_range", beta_range)
        self.ic = check_choice("ic", ic, ("sines", "grf"))
        self.dt = None if dt is None else check_positive("dt", dt)
        self.grid = (torch.arange(n_points, dtype=torch.float64) * (self.length / n_points),)

    def sample(self, n: int, seed: int, dtype: torch.dtype = torch.float32,
               device: str | torch.device = "cpu") -> tuple[Tensor, Params]:
        """``n`` initial states ``(n, 1, n_points)`` and ``{"beta": (n,)}``; β is drawn first,
        then the fields, from one CPU generator seeded with ``seed``."""
        n = self.check_sample_args(n, dtype)
        gen = seeded_generator(seed)
        beta = uniform(gen, n, self.beta_range)
        if self.ic == "grf":
            u0 = gaussian_random_field(n, (self.n_points,), gen, sigma=25.0, tau=5.0, alpha=2.0,
                                       length=self.length)
        else:
            u0 = sine_sum(n, self.grid, gen, n_waves=2, k_max=4, amplitude=1.0,
                          length=self.length)
        return (u0.unsqueeze(1).to(dtype=dtype, device=device),
                {"beta": beta.to(dtype=dtype, device=device)})

    def advance(self, u: Tensor, params: Params, duration: float) -> Tensor:
        """Advance ``u`` ``(B, 1, n_points)`` by ``duration``; same dtype/device as ``u``.

        The shift is exact and keeps ``max|u|`` within rounding, so only a state that is
        non-finite or past ``blowup`` on input raises :class:`~.base.SolverDivergedError`
        (at t = 0), as ``solve`` does."""
        params = self.check_inputs(u, params)
        steps, h = equal_substeps(self.name, duration, self.dt or math.inf)
        self.check_finite(u, 0.0)
        if steps == 0:
            return u.clone()
        # the phase k·β·h is formed in float64 with the shift reduced modulo L, so float32 states
        # lose no accuracy over long times; only the final factor is cast to u's dtype
        beta = torch.as_tensor(params["beta"]).detach().to(u.device, torch.float64)
        shift = torch.remainder(beta * (h * steps), self.length).reshape(-1, 1, 1)
        k = wavenumbers(self.n_points, self.length, real=True, device=u.device)
        # every step is an exact shift, so their product is the shift by β·duration, formed
        # at once: a loop over the steps took 6 s for dt = 1e-9 over 1e-3 and hung for
        # dt = 1e-12 over 1
        factor = torch.polar(torch.ones_like(shift * k), -shift * k)
        v = torch.fft.rfft(u)
        return torch.fft.irfft(v * factor.to(v.dtype), n=self.n_points)
