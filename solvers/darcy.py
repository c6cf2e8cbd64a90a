"""2-D steady Darcy flow with a piecewise-constant permeability (FNO's Darcy benchmark).

    -div(a grad u) = 1    on (0, 1)^2,    u = 0 on the boundary.

Grid: the ``n x n`` interior nodes ``x_i = i h``, ``i = 1..n``, ``h = 1/(n+1)`` (boundary nodes
are not stored). The state has two channels, ``(B, 2, n, n)``: channel 0 the coefficient ``a`` at
the nodes, channel 1 the pressure ``u``. ``sample`` returns ``[a, 0]`` and ``advance(state,
params, 0)`` (or ``solve``) returns ``[a, u]``.

``a`` follows Li et al. (2021): ``a_pos`` where a periodic Gaussian random field
N(0, (-lap + tau^2)^-alpha) (``tau = 3``, ``alpha = 2``) on the same ``n x n`` nodes is >= 0,
``a_neg`` elsewhere (FNO uses a Neumann-basis field; the periodic one gives the same kind of
blobs).

Discretisation: 5-point finite volumes with ``a`` on each face the harmonic mean of its two nodes
(the exact flux coefficient for a 1-D interface between two constant layers, second order where
``a`` is smooth); a boundary face takes its interior node's value. The system is solved by
red-black SOR in float64 with the same omega/tuner/logging/stall policy as :mod:`.heat` (by
default the ``"chebcb"`` tuner chooses omega; give ``omega`` for a fixed one); the tuner context
is the mean contrast ``a_pos / a_neg`` of the batch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Params, Solver, check_int, check_positive, check_range, seeded_generator, uniform
from .linear.redblack import RedBlackResult, Stencil, redblack_sor
from .linear.tuned_solve import LinearSolveLog, linear_controls
from .linear.tuners import Tuner
from .random_fields import gaussian_random_field


def harmonic_faces(a: Tensor) -> tuple[Tensor, Tensor]:
    """Face coefficients from node values ``a`` ``(B, ny, nx)``: ``kx`` ``(B, ny, nx + 1)`` and
    ``ky`` ``(B, ny + 1, nx)``, harmonic means inside, the adjacent node's value on the boundary."""
    inner_x = 2 * a[..., :, :-1] * a[..., :, 1:] / (a[..., :, :-1] + a[..., :, 1:])
    inner_y = 2 * a[..., :-1, :] * a[..., 1:, :] / (a[..., :-1, :] + a[..., 1:, :])
    kx = torch.cat([a[..., :, :1], inner_x, a[..., :, -1:]], dim=-1)
    ky = torch.cat([a[..., :1, :], inner_y, a[..., -1:, :]], dim=-2)
    return kx, ky


def darcy_operator(a: Tensor, h: float) -> Stencil:
    """The stencil of ``-div(a grad .)`` for node coefficients ``a`` ``(B, ny, nx)``."""
    return Stencil.diffusion(*harmonic_faces(a), h)


def darcy_solve(
    a: Tensor,
    f: Tensor,
    h: float,
    omega: float | Tensor | None = None,
    rtol: float = 1e-10,
    max_iter: int = 100000,
    x0: Tensor | None = None,
) -> RedBlackResult:
    """Solve ``-div(a grad u) = f`` with zero Dirichlet data for a batch.

    ``a`` ``(B, ny, nx)`` positive coefficient at the interior nodes, ``f`` ``(B, ny, nx)`` right
    side, ``h`` grid spacing (nodes ``i h``, ``i = 1..n``). ``omega`` defaults to the Poisson
    optimum ``2 / (1 + sin(pi h))`` for the spacing ``h``. Returns the red-black result (``x`` is
    ``u``), in ``f``'s dtype.
    """
    if a.shape != f.shape or a.ndim != 3:
        raise ValueError(
            f"a and f must both be (B, ny, nx), got {tuple(a.shape)} and {tuple(f.shape)}")
    if not bool((a > 0).all()):
        raise ValueError("a must be positive everywhere")
    if omega is None:
        omega = poisson_omega(h)
    st = darcy_operator(a.to(f.dtype), h)
    return redblack_sor(st, f, x0=x0, omega=omega, rtol=rtol, max_iter=max_iter)


def poisson_omega(h: float) -> float:
    """Optimal SOR factor ``2 / (1 + sin(pi h))`` of the 5-point Laplacian with spacing ``h``."""
    return 2.0 / (1.0 + math.sin(math.pi * h))


class Darcy2D(LinearSolveLog, Solver):
    """Steady Darcy flow ``-div(a grad u) = 1`` with a two-valued random permeability.

    Nondimensional: lengths in units of the square's side, the source is 1, and the pressure
    ``u`` comes in units of (source x side^2 / permeability), so it scales as ``1 / a``.

    Args:
        n: interior nodes per side (``h = 1/(n+1)``), >= 2.
        a_pos_range, a_neg_range: ranges (uniform) of the (nondimensional) permeability inside
            and outside the random blobs; FNO uses 12 and 3.
        tau, alpha: the thresholded field's inverse length scale and smoothness.
        omega: a fixed SOR factor in (0, 2) for every solve; None (default) lets ``tuner``
            choose it.
        tuner: None (default: ``"chebcb"``, or ``"fixed"`` when ``omega`` is given),
            ``"fixed"`` (``omega``, else the Poisson optimum ``2/(1 + sin(pi h))``),
            ``"chebcb"``, ``"tsallis_inf"`` or a tuner object; not together with ``omega``.
        rtol, max_iter: as in :class:`~.heat.Heat2D`.

    Parameters: ``a_pos``, ``a_neg``, each ``(B,)``.
    """

    name = "darcy2d"
    channels = 2
    channel_names = ("a", "u")
    param_names = ("a_pos", "a_neg")
    steady = True
    divergence_hint = "raise max_iter, or give a fixed omega in (0, 2)"
    # the state holds the coefficient a and the pressure, which scales as 1/a: the default
    # bound (1e6) called a_pos = 2e6 or a_neg = 1e-8 a divergence; a solve that goes wrong
    # shows in its residual (SOR's own check), so only a far-off value counts here
    blowup = 1e30

    def __init__(
        self,
        n: int = 64,
        a_pos_range: tuple[float, float] = (12.0, 12.0),
        a_neg_range: tuple[float, float] = (3.0, 3.0),
        tau: float = 3.0,
        alpha: float = 2.0,
        omega: float | None = None,
        tuner: str | Tuner | None = None,
        rtol: float = 1e-8,
        max_iter: int = 10000,
    ):
        n = check_int("n", n, 2)
        self.n = n
        self.a_pos_range = check_range("a_pos_range", a_pos_range, positive=True)
        self.a_neg_range = check_range("a_neg_range", a_neg_range, positive=True)
        self.tau = check_positive("tau", tau)
        self.alpha = check_positive("alpha", alpha)
        self.h = 1.0 / (n + 1)
        self.omega, self.tuner, self.rtol, self.max_iter = linear_controls(
            omega, tuner, rtol, max_iter, default_omega=poisson_omega(self.h))
        nodes = torch.arange(1, n + 1, dtype=torch.float64) * self.h
        self.grid = (nodes, nodes.clone())
        self.linear_stats = []

    def sample(self, n: int, seed: int, dtype: torch.dtype = torch.float32,
               device: str | torch.device = "cpu") -> tuple[Tensor, Params]:
        """``n`` states ``[a, 0]`` ``(n, 2, self.n, self.n)`` (``self.n``: the constructor's grid
        size) and ``{"a_pos", "a_neg"}`` each ``(n,)``."""
        n = self.check_sample_args(n, dtype)
        gen = seeded_generator(seed)
        a_pos = uniform(gen, n, self.a_pos_range)
        a_neg = uniform(gen, n, self.a_neg_range)
        # only the sign of the field matters, so its amplitude is left at 1
        field = gaussian_random_field(n, (self.n, self.n), gen, sigma=1.0, tau=self.tau,
                                      alpha=self.alpha)
        a = torch.where(field >= 0, a_pos.reshape(-1, 1, 1), a_neg.reshape(-1, 1, 1))
        state = torch.stack([a, torch.zeros_like(a)], dim=1)
        params = {"a_pos": a_pos, "a_neg": a_neg}
        return (state.to(device=device, dtype=dtype),
                {k: v.to(device=device, dtype=dtype) for k, v in params.items()})

    def advance(self, u: Tensor, params: Params, duration: float = 0.0) -> Tensor:
        """Solve for the pressure: ``[a, u_old]`` -> ``[a, u]`` ``(B, 2, n, n)``; ``u_old`` is the
        initial guess and ``duration`` is ignored (steady problem), though it must be a finite
        number >= 0 as for the time-dependent solvers."""
        params = self.check_inputs(u, params)
        self.check_duration(duration)
        # a NaN in a or in the initial guess would only show as a NaN residual after max_iter
        # sweeps (and a NaN a would pass for a non-positive one): report it as it stands
        self.check_finite(u, 0.0)
        a_pos = torch.as_tensor(params["a_pos"], dtype=torch.float64)
        a_neg = torch.as_tensor(params["a_neg"], dtype=torch.float64)
        if not bool(((a_pos > 0) & (a_neg > 0)).all()):
            raise ValueError(f"{self.name}: a_pos and a_neg must be positive, got {params}")
        a = u[:, 0].to(torch.float64)
        if not bool((a > 0).all()):
            raise ValueError(f"{self.name}: channel 0 (the coefficient a) must be positive")
        stencil = darcy_operator(a, self.h)
        rhs = torch.ones_like(a)
        context = float((a_pos / a_neg).mean())
        res = self._linear_solve(stencil, rhs, u[:, 1].to(torch.float64), context, 0.0)
        return torch.stack([u[:, 0], res.x.to(u.dtype)], dim=1)
