"""2-D heat equation with a variable diffusivity, implicit in time, solved by red-black SOR.

    u_t = div(kappa grad u) + f    on (0, 1)^2,    u = 0 on the boundary,
    kappa(x, y) = kappa0 (1 + kappa_var sin(pi x) sin(pi y))

Grid: the ``n x n`` interior nodes ``x_i = i h``, ``y_i = i h``, ``i = 1..n``, ``h = 1/(n+1)``;
the boundary nodes carry the zero Dirichlet value and are not stored. The state is ``u``
``(B, 1, n, n)`` (axis -2 is y, axis -1 is x).

Space: 5-point finite volumes with ``kappa`` evaluated exactly at the face midpoints, second
order. Time: the theta scheme on ``L = -div(kappa grad .)``,

    (I + theta dt L) u^{n+1} = (I - (1 - theta) dt L) u^n + dt f,

``theta = 1/2`` (Crank–Nicolson, second order) or ``theta = 1`` (backward Euler, first order,
L-stable). Each step's linear system is solved by :func:`~.linear.redblack.redblack_sor`
warm-started from ``u^n``.

Crank–Nicolson is A-stable but not L-stable: a mode of ``L`` with eigenvalue ``lam`` is
multiplied by ``(1 - lam dt / 2) / (1 + lam dt / 2)`` per step, which tends to -1 when
``lam dt >> 1``, so stiff components of the initial data flip sign from step to step instead of
decaying (at ``dt = h``, ``kappa = 1000``, the mode ``sin(pi x) sin(pi y)`` kept 97 % of its
amplitude at ``t = 0.1`` instead of ``e^{-1974}``). Hence Rannacher start-up: the first step
from a new initial state is taken as ``STARTUP_SUBSTEPS`` backward-Euler steps of
``dt / STARTUP_SUBSTEPS``, which damp every stiff mode by ``(1 + lam dt / 4)^-4``; its local
error is O(dt^2) and it happens once, so the scheme stays second order. ``advance`` decides
by value whether its input is a new initial state: it keeps a copy of the last
``RECENT_STATES`` (4) states it returned, with their parameters, and an input equal to one of
them (for the same parameters) continues that trajectory, as in ``solve`` and in a loop
``u = advance(u, ...)``, also after ``.clone()``, a dtype cast or a move to another device, and
with up to 4 trajectories interleaved on one solver. There the damped state simply goes on
with Crank–Nicolson steps, whose factor has modulus below 1, so the stiff modes stay damped.
Any other input, an edited state included, gets the start-up. ``advance(..., restart=)``
overrides the choice (see :meth:`Heat2D.advance`).

The time stepping runs in float64 whatever the state's dtype (a float32 residual cannot reach
the default ``rtol = 1e-8``); the result is cast back.

The relaxation factor is either fixed or learnt, set by ``omega`` and ``tuner``:

* neither given: the ``"chebcb"`` tuner (the contextual bandit of :mod:`.linear.tuners`) learns
  it over the solves;
* ``omega`` given (``tuner`` left None, or ``"fixed"``): every solve uses that ``omega``;
* ``tuner="fixed"`` alone: a fixed default (1.5 here; the Poisson optimum for Darcy);
* ``tuner`` a name (``"chebcb"``, ``"tsallis_inf"``) or an object: the tuner chooses;
  ``omega`` must then be left out (giving both is a ValueError naming both).

A tuner is asked ``omega = tuner.choose(d)`` before each solve, with context the diffusion
number ``d = mean(kappa0) theta dt / h^2``, and told ``tuner.observe(iterations, converged)``
after, ``iterations`` being the batch's largest count (``max_iter`` when a system did not
converge) and ``converged`` whether every system reached ``rtol``. ``settings()`` records what
is used: ``tuner="fixed"`` with the ``omega`` of every solve, or the tuner with ``omega=None``.
Each solve is logged in ``linear_stats`` (the most recent ones: see
:class:`~.linear.tuned_solve.LinearSolveLog`).

A solve that does not reach ``rtol`` within ``max_iter`` sweeps is logged with
``converged=False``, warned about (a RuntimeWarning) and the run goes on as long as every
system's relative residual is at most ``sqrt(rtol)`` (half the requested digits: a slow omega
costs time, not a wrong sample);
beyond that :class:`~.base.SolverDivergedError` names the first such sample and says to raise
``max_iter``, or that SOR diverged if the residual is not finite.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import (
    Params,
    Solver,
    check_choice,
    check_int,
    check_positive,
    check_range,
    seeded_generator,
    uniform,
)
from .linear.redblack import Stencil
from .linear.tuned_solve import LinearSolveLog, linear_controls
from .linear.tuners import Tuner

# backward-Euler substeps replacing the first Crank–Nicolson step from a new initial state
STARTUP_SUBSTEPS = 4
# returned states kept (copies) to recognise a continuing trajectory: up to this many
# trajectories interleaved on one solver keep Crank–Nicolson; memory is this many states
RECENT_STATES = 4
# parameters within this relative difference (a few float32 roundings) count as the same
_SAME_PARAM = 1e-6


class Heat2D(LinearSolveLog, Solver):
    """Heat equation with diffusivity ``kappa (1 + kappa_var sin(pi x) sin(pi y))``.

    Nondimensional: lengths in units of the square's side, times in units chosen with it, so
    ``kappa`` is in side^2 / time unit (a mode ``sin(pi x) sin(pi y)`` decays as
    ``exp(-2 pi^2 kappa t)``) and the forcing in u / time unit.

    Args:
        n: interior nodes per side (``h = 1/(n+1)``), >= 2.
        kappa_range: range of the diffusivity scale ``kappa`` (uniform; side^2 / time unit).
        kappa_var_range: range of the relative variation ``kappa_var``, within [0, 1).
        forcing: ``"none"`` or ``"gaussian"``, a unit bump
            ``exp(-|x - (1/2, 1/2)|^2 / (2 * 0.1^2))``.
        ic_modes: the initial condition is ``sum_{m,l <= ic_modes} a_ml sin(m pi x) sin(l pi y)``
            with ``a_ml ~ N(0, 1) / (m^2 + l^2)``.
        scheme: ``"cn"`` (Crank–Nicolson) or ``"be"`` (backward Euler).
        dt: internal step (time units); ``None`` uses ``h``. With the start-up (module
            docstring) any ``kappa`` is stable and stiff initial modes are damped, but the time
            error of a smooth mode grows like ``kappa^2 dt^2``. At ``dt = h`` the total error
            of ``sin(pi x) sin(pi y)``, as a multiple of the stencil's O(h^2) error (one
            ``advance`` from the mode; measured at n = 16, 32 and 64): for ``kappa`` in
            [0.01, 0.1] (the default range) and ``t`` in [1, 4] it is 0.68-1.06 times it (at
            ``kappa = 0.1`` the time error has the opposite sign and partly cancels it: 0.91
            at ``t = 1``, 0.76 at ``t = 2``); over the first steps the start-up's O(dt^2)
            error makes it 1.2-3.3 times it (``t = 0.1``; about 3 at ``kappa = 0.1``); at
            ``kappa = 1`` it is 8-33 times it for ``t`` in [0.5, 2] (8-21 at n = 16, 23-29 at
            n = 32, 30-33 at n = 64). Give a smaller ``dt`` for accurate transients at larger
            ``kappa``.
        omega: a fixed SOR factor in (0, 2) for every linear solve; None (default) lets
            ``tuner`` choose it.
        tuner: None (default: ``"chebcb"``, or ``"fixed"`` when ``omega`` is given),
            ``"fixed"`` (``omega``, else 1.5), ``"chebcb"``, ``"tsallis_inf"`` or a tuner
            object; not together with ``omega`` (see the module docstring).
        rtol: relative residual at which a linear solve stops, in (0, 1).
        max_iter: SOR sweeps per linear solve at most (>= 1).

    Parameters: ``kappa``, ``kappa_var``, each ``(B,)``.
    """

    name = "heat2d"
    channels = 1
    param_names = ("kappa", "kappa_var")
    divergence_hint = "raise max_iter, or give a fixed omega in (0, 2)"

    def __init__(
        self,
        n: int = 64,
        kappa_range: tuple[float, float] = (0.01, 0.1),
        kappa_var_range: tuple[float, float] = (0.0, 0.5),
        forcing: str = "none",
        ic_modes: int = 8,
        scheme: str = "cn",
        dt: float | None = None,
        omega: float | None = None,
        tuner: str | Tuner | None = None,
        rtol: float = 1e-8,
        max_iter: int = 10000,
    ):
        n = check_int("n", n, 2)
        ic_modes = check_int("ic_modes", ic_modes, 1)
        self.n = n
        self.kappa_range = check_range("kappa_range", kappa_range, positive=True)
        self.kappa_var_range = check_range("kappa_var_range", kappa_var_range)
        if self.kappa_var_range[0] < 0 or self.kappa_var_range[1] >= 1:
            raise ValueError(f"kappa_var_range must lie within [0, 1), got {kappa_var_range!r}")
        self.forcing = check_choice("forcing", forcing, ("none", "gaussian"))
        self.ic_modes = ic_modes
        self.scheme = check_choice("scheme", scheme, ("cn", "be"))
        self.dt = None if dt is None else check_positive("dt", dt)
        self.omega, self.tuner, self.rtol, self.max_iter = linear_controls(
            omega, tuner, rtol, max_iter, default_omega=1.5)
        self.h = 1.0 / (n + 1)
        nodes = torch.arange(1, n + 1, dtype=torch.float64) * self.h
        self.grid = (nodes, nodes.clone())
        self.linear_stats = []
        # (copy of a state advance returned, its float64 kappa, kappa_var): most recent first,
        # a state that was continued from last
        self._recent: list[tuple[Tensor, Tensor, Tensor]] = []

    @property
    def theta(self) -> float:
        return 0.5 if self.scheme == "cn" else 1.0

    # -- contract ------------------------------------------------------------------------------
    def sample(self, n: int, seed: int, dtype: torch.dtype = torch.float32,
               device: str | torch.device = "cpu") -> tuple[Tensor, Params]:
        """``n`` initial fields ``(n, 1, self.n, self.n)`` (``self.n``: the constructor's grid
        size) and ``{"kappa", "kappa_var"}`` each ``(n,)``."""
        n = self.check_sample_args(n, dtype)
        gen = seeded_generator(seed)
        kappa = uniform(gen, n, self.kappa_range)
        kappa_var = uniform(gen, n, self.kappa_var_range)
        m = torch.arange(1, self.ic_modes + 1, dtype=torch.float64)
        amp = torch.randn(n, self.ic_modes, self.ic_modes, generator=gen, dtype=torch.float64)
        amp = amp / (m.reshape(-1, 1) ** 2 + m.reshape(1, -1) ** 2)
        y, x = self.grid
        sy = torch.sin(math.pi * m.reshape(-1, 1) * y.reshape(1, -1))  # (modes_y, ny)
        sx = torch.sin(math.pi * m.reshape(-1, 1) * x.reshape(1, -1))  # (modes_x, nx)
        u = torch.einsum("bly,blm,mx->byx", sy.expand(n, -1, -1), amp, sx)
        params = {"kappa": kappa, "kappa_var": kappa_var}
        return (u.unsqueeze(1).to(device=device, dtype=dtype),
                {k: v.to(device=device, dtype=dtype) for k, v in params.items()})

    def advance(self, u: Tensor, params: Params, duration: float,
                restart: bool | None = None) -> Tensor:
        """Advance ``u`` ``(B, 1, n, n)`` by ``duration`` (time units, finite, >= 0) with equal
        implicit steps of at most ``dt``; same shape, dtype and device as ``u``.

        Args:
            restart: whether the first step is the backward-Euler start-up (module docstring)
                that damps the stiff modes of a new initial state, with ``scheme="cn"``
                (backward Euler needs none).

                * ``None`` (default): automatic, by value. The solver keeps copies of the last
                  ``RECENT_STATES`` (4) states it returned (memory: 4 states); an input equal to
                  one of them, for the same ``kappa`` and ``kappa_var``, continues that
                  trajectory with Crank–Nicolson steps, any other input is a new initial state
                  and gets the start-up. "Equal" is after rounding both to the coarser dtype of
                  the two and moving the input to the copy's device, so ``u = advance(u, ...)``,
                  ``advance(u.clone(), ...)``, ``advance(u.double(), ...)``,
                  ``advance(u.to(device), ...)`` and up to 4 trajectories stepped alternately
                  all keep second order; a state edited in place (changed values) gets the
                  start-up, and so does a float64 state rounded to float32 and back (its
                  values changed). A pickled copy of the solver (spawn workers) keeps no
                  states.
                * ``True``: always the start-up (e.g. a state from elsewhere that happens to
                  equal a returned one).
                * ``False``: never; Crank–Nicolson from the first step (stiff modes of ``u``
                  then flip sign each step instead of decaying).

        Raises ValueError for a bad ``duration``, parameters or ``restart``, and
        :class:`~.base.SolverDivergedError` for a non-finite input or an unconverged solve
        (module docstring).
        """
        if restart is not None and not isinstance(restart, bool):
            raise ValueError(f"{self.name}: restart must be None, True or False, got {restart!r}")
        params = self.check_inputs(u, params)
        duration = self.check_duration(duration)
        # float64 throughout: in float32 the residual floor (~eps * cond) sits above rtol = 1e-8
        work = u.to(torch.float64)
        # cloned: a float64 parameter tensor is the caller's own, which they may edit in place
        kappa = torch.as_tensor(params["kappa"]).to(device=u.device, dtype=torch.float64).clone()
        kvar = torch.as_tensor(params["kappa_var"]).to(device=u.device,
                                                        dtype=torch.float64).clone()
        if not bool((kappa > 0).all()):
            raise ValueError(f"{self.name}: kappa must be positive, got {params['kappa']}")
        if not bool(((kvar >= 0) & (kvar < 1)).all()):
            raise ValueError(
                f"{self.name}: kappa_var must lie in [0, 1), got {params['kappa_var']}")
        # a NaN/Inf state would only show as a NaN residual after max_iter sweeps: report it now
        self.check_finite(u, 0.0)
        if duration == 0:
            return u.clone()
        dt_target = self.dt if self.dt is not None else self.h
        steps = max(1, math.ceil(duration / dt_target - 1e-9))
        dt = duration / steps
        theta = self.theta

        lap = self.operator(kappa, kvar, work)  # L = -div(kappa grad .)
        lhs = lap.shifted(theta * dt)
        forcing = self._forcing(work)
        source = dt * forcing
        context = float(kappa.mean()) * theta * dt / self.h**2
        x = work[:, 0]
        first = 0
        continued = None if theta == 1 or restart is not None else self._find(u, kappa, kvar)
        if theta < 1 and (restart or (restart is None and continued is None)):
            sub = dt / STARTUP_SUBSTEPS
            be_lhs, be_source = lap.shifted(sub), sub * forcing
            be_context = float(kappa.mean()) * sub / self.h**2
            for j in range(STARTUP_SUBSTEPS):
                x = self._linear_solve(be_lhs, x + be_source, x, be_context, j * sub).x
            first = 1
        for step in range(first, steps):
            rhs = x + source if theta == 1 else x - (1 - theta) * dt * lap.apply(x) + source
            x = self._linear_solve(lhs, rhs, x, context, step * dt).x
        out = x.unsqueeze(1).to(u.dtype)
        if theta < 1:
            self._remember(out, kappa, kvar, continued)
        return out

    def _find(self, u: Tensor, kappa: Tensor, kvar: Tensor) -> int | None:
        """Index in ``_recent`` of a returned state equal to ``u`` (in the coarser dtype of the
        two), for the same parameters (to a float32 rounding): its stiff modes are then already
        damped, and Crank–Nicolson (factor of modulus < 1 for any step) keeps them so, so no
        new start-up is needed. One pass over ``u`` per kept state of its shape and
        parameters."""
        for i, (state, k0, v0) in enumerate(self._recent):
            # parameters given as numbers take the state's dtype: after a float32 step and a
            # cast to float64 they differ by a float32 rounding, and are still the same
            if (state.shape != u.shape or k0.shape != kappa.shape
                    or not torch.allclose(k0, kappa.to(k0.device), rtol=_SAME_PARAM, atol=0)
                    or not torch.allclose(v0, kvar.to(v0.device), rtol=_SAME_PARAM,
                                          atol=_SAME_PARAM)):
                continue
            coarse = torch.float32 if torch.float32 in (state.dtype, u.dtype) else torch.float64
            if torch.equal(state.to(coarse), u.detach().to(device=state.device, dtype=coarse)):
                return i
        return None

    def _remember(self, out: Tensor, kappa: Tensor, kvar: Tensor, continued: int | None) -> None:
        """Keep a copy of ``out`` first in ``_recent``. The state it continued from goes last,
        to be dropped first: a trajectory needs only its latest state, so up to
        ``RECENT_STATES`` interleaved trajectories keep theirs, while advancing one state
        twice (branching) still finds it when nothing newer displaced it."""
        recent = self._recent
        used = recent.pop(continued) if continued is not None else None
        # a copy: the caller may edit the returned tensor in place, which must count as new
        recent.insert(0, (out.detach().clone(), kappa, kvar))
        if used is not None:
            recent.append(used)
        del recent[RECENT_STATES:]

    def __getstate__(self) -> dict:
        # the kept states would only bloat the pickle (generate's spawn workers get a copy): a
        # copy starts its next advance with the start-up, as for a new initial state
        state = self.__dict__.copy()
        state["_recent"] = []
        return state

    # -- helpers -------------------------------------------------------------------------------
    def kappa_field(self, x: Tensor, y: Tensor, kappa: Tensor, kappa_var: Tensor) -> Tensor:
        """``kappa(x, y)`` for each sample: ``x`` ``(nx,)``, ``y`` ``(ny,)`` -> ``(B, ny, nx)``."""
        bump = torch.sin(math.pi * y).reshape(-1, 1) * torch.sin(math.pi * x).reshape(1, -1)
        return kappa.reshape(-1, 1, 1) * (1 + kappa_var.reshape(-1, 1, 1) * bump)

    def operator(self, kappa: Tensor, kappa_var: Tensor, like: Tensor) -> Stencil:
        """The stencil of ``L = -div(kappa grad .)`` with ``kappa`` at the face midpoints."""
        y, x = self.grid
        faces = (torch.arange(self.n + 1, dtype=torch.float64) + 0.5) * self.h
        put = dict(device=like.device, dtype=like.dtype)
        x, y, faces = x.to(**put), y.to(**put), faces.to(**put)
        kx = self.kappa_field(faces, y, kappa, kappa_var)  # (B, ny, nx + 1)
        ky = self.kappa_field(x, faces, kappa, kappa_var)  # (B, ny + 1, nx)
        return Stencil.diffusion(kx, ky, self.h)

    def _forcing(self, like: Tensor) -> Tensor | float:
        if self.forcing == "none":
            return 0.0
        y, x = (g.to(device=like.device, dtype=like.dtype) for g in self.grid)
        r2 = (x.reshape(1, -1) - 0.5) ** 2 + (y.reshape(-1, 1) - 0.5) ** 2
        return torch.exp(-r2 / (2 * 0.1**2))
