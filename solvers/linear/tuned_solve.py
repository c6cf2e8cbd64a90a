"""The relaxed linear solve of the implicit PDE solvers (``heat2d``, ``darcy2d``).

Who sets the SOR relaxation factor, from the solver's ``omega`` and ``tuner`` arguments
(:func:`linear_controls`; the rules are in :mod:`..heat`'s docstring), and the mixin that runs
each solve with it, tells the tuner how the solve went, logs it in ``linear_stats`` and turns a
stalled or diverged solve into :class:`~..base.SolverDivergedError` (:class:`LinearSolveLog`).
"""

from __future__ import annotations

import inspect
import math
import warnings

import torch
from torch import Tensor

from ..base import SolverDivergedError, check_int
from .redblack import RedBlackResult, Stencil, redblack_sor
from .sor import check_omega, check_rtol
from .tuners import Tuner, make_tuner

# linear_stats keeps the most recent solves: trimmed to this many when it holds twice as many
LINEAR_STATS_KEEP = 100_000


def linear_controls(omega: float | None, tuner: str | Tuner | None, rtol: float, max_iter: int,
                    default_omega: float) -> tuple[float | None, Tuner | None, float, int]:
    """Validate the linear-solve arguments shared by the implicit solvers and resolve who sets
    omega (the rules are in heat.py's docstring): returns ``(omega, tuner, rtol, max_iter)``
    with exactly one of ``omega`` (fixed, ``tuner`` None) and ``tuner`` (an object, ``omega``
    None) not None.
    ``default_omega``: the fixed omega for ``tuner="fixed"`` without ``omega``."""
    rtol = check_rtol(rtol)
    max_iter = check_int("max_iter", max_iter, 1)
    if tuner is None:
        tuner = "chebcb" if omega is None else "fixed"
    if isinstance(tuner, str) and tuner == "fixed":
        return check_omega(default_omega if omega is None else omega), None, rtol, max_iter
    if omega is not None:
        named = repr(tuner) if isinstance(tuner, str) else f"<{type(tuner).__name__}>"
        raise ValueError(f"omega={omega!r} and tuner={named} conflict: the tuner chooses omega "
                         f"for every solve; give omega alone for a fixed omega, or tuner alone")
    tuner = make_tuner(tuner, max_iter)
    if not (callable(getattr(tuner, "choose", None))
            and callable(getattr(tuner, "observe", None))):
        raise ValueError(f"tuner must have choose(context) and observe(iterations, converged) "
                         f"methods, got {type(tuner).__name__}")
    try:
        inspect.signature(tuner.observe).bind(0, True)
    except TypeError:
        raise ValueError(f"tuner {type(tuner).__name__}'s observe must take (iterations, "
                         f"converged)") from None
    except ValueError:  # no signature to inspect (a builtin): trust it
        pass
    return None, tuner, rtol, max_iter


class LinearSolveLog:
    """Mixin: runs a relaxed linear solve with a fixed or tuned omega and records it.

    Expects ``name``, ``omega`` (the fixed omega, or None), ``tuner`` (None when fixed),
    ``rtol``, ``max_iter`` attributes and an initialised ``linear_stats`` list. The list
    holds one dict per solve, the most recent ones: past ``2 * LINEAR_STATS_KEEP`` it is cut to
    the last ``LINEAR_STATS_KEEP``, so a long-lived solver (an online solver rank) keeps bounded
    memory; ``generate`` takes each batch's entries out as it goes.
    """

    linear_stats: list[dict]

    def reset_linear_stats(self) -> None:
        """Forget the recorded linear solves."""
        self.linear_stats = []

    def settings(self) -> dict:
        """The constructor arguments as used: ``tuner`` is ``"fixed"`` when ``omega`` is."""
        out = super().settings()
        if self.tuner is None:
            out["tuner"] = "fixed"
        return out

    def _linear_solve(self, stencil: Stencil, b: Tensor, x0: Tensor, context: float,
                      time: float) -> RedBlackResult:
        omega = self.omega if self.tuner is None else float(self.tuner.choose(context))
        res = redblack_sor(stencil, b, x0=x0, omega=omega, rtol=self.rtol, max_iter=self.max_iter)
        converged = bool(res.converged.all())
        iterations = int(res.iterations.max()) if converged else self.max_iter
        worst = float(res.residual.max())
        self.linear_stats.append({"omega": float(omega), "iterations": iterations,
                                  "converged": converged, "context": float(context),
                                  "residual": worst})
        if len(self.linear_stats) > 2 * LINEAR_STATS_KEEP:
            del self.linear_stats[:-LINEAR_STATS_KEEP]
        if self.tuner is not None:
            self.tuner.observe(iterations, converged)
        bad = ~(res.residual <= math.sqrt(self.rtol))
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            resid, sweeps = float(res.residual[i]), int(res.iterations[i])
            if bool(res.diverged[i]) or not math.isfinite(resid):
                reason = (f"SOR diverged: relative residual {resid:.3g} after {sweeps} sweeps "
                          f"with omega={omega:.4g}")
            else:
                reason = (f"linear solve stalled at relative residual {resid:.3g} after "
                          f"max_iter={self.max_iter} sweeps with omega={omega:.4g}; raise "
                          f"max_iter")
            raise SolverDivergedError(self.name, i, time, reason)
        if not converged:
            # accepted, but the user asked for more digits than were reached; the message holds
            # no per-solve numbers, so Python's warning filter shows it once, not per solve
            warnings.warn(f"{self.name}: a linear solve stopped after max_iter={self.max_iter} "
                          f"sweeps above rtol={self.rtol:g} (accepted: within sqrt(rtol); "
                          f"linear_stats has the residuals); raise max_iter, or raise rtol if "
                          f"it is below what the dtype and grid can reach",
                          RuntimeWarning, stacklevel=3)
        return res
