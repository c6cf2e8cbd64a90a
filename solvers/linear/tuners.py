"""Choosing SOR's relaxation parameter omega across a sequence of linear systems.

Following Khodak, Chow, Balcan & Talwalkar, "Learning to Relax" (ICLR 2024): a simulation solves
many related systems, and a bandit that only sees each solve's iteration count can approach the
best fixed omega in hindsight (non-contextual) or the best omega per instance given a cheap
scalar context (contextual). Every tuner has the same two-call interface, used once per solve::

    omega = tuner.choose(context)      # context: a float describing the system, or None
    ...solve with omega...
    tuner.observe(iterations, converged)

``history`` records (omega, context, iterations, converged) per solve; ``settings()`` returns the
constructor arguments as JSON-friendly values (stored in dataset attributes).
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from .sor import check_omega


def default_omegas(k: int = 10, low: float = 1.0, high: float = 2.0) -> list[float]:
    """``k`` evenly spaced cell centres of [low, high): all strictly inside (0, 2)."""
    return [float(low + (high - low) * (i + 0.5) / k) for i in range(k)]


class Tuner(ABC):
    """Shared bookkeeping: the omega grid, history, and the normalised loss of a solve."""

    def __init__(self, omegas: Sequence[float] | None = None, max_iter: int = 10_000,
                 seed: int = 0):
        grid = default_omegas() if omegas is None else [check_omega(w) for w in omegas]
        if not grid:
            raise ValueError("omegas must not be empty")
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter <= 0:
            raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
        self.omegas = list(grid)
        self.max_iter = max_iter
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.history: list[dict] = []
        self._pending: tuple[int, float | None] | None = None

    def settings(self) -> dict:
        return {p: getattr(self, p) for p in inspect.signature(type(self).__init__).parameters
                if p != "self" and not callable(getattr(self, p, None))}

    def choose(self, context: float | None = None) -> float:
        if context is not None and not math.isfinite(float(context)):
            raise ValueError(f"context must be finite, got {context!r}")
        arm = self._choose_arm(None if context is None else float(context))
        self._pending = (arm, None if context is None else float(context))
        return self.omegas[arm]

    def observe(self, iterations: int, converged: bool = True) -> None:
        if self._pending is None:
            raise RuntimeError("observe() called without a preceding choose()")
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations!r}")
        arm, context = self._pending
        self._pending = None
        iterations = int(iterations) if converged else self.max_iter
        self.history.append({"omega": self.omegas[arm], "context": context,
                             "iterations": iterations, "converged": bool(converged)})
        self._update(arm, context, iterations, bool(converged))

    @abstractmethod
    def _choose_arm(self, context: float | None) -> int:
        """Index into ``omegas`` of the arm to play for ``context``."""

    def _update(self, arm: int, context: float | None, iterations: int,  # noqa: B027
                converged: bool) -> None:
        """Learn from one solve (default: a tuner that does not learn)."""


class FixedOmega(Tuner):
    """Always the same omega."""

    def __init__(self, omega: float = 1.5):
        super().__init__([omega])
        self.omega = check_omega(omega)

    def _choose_arm(self, context):
        return 0


class TsallisINF(Tuner):
    """The 1/2-Tsallis-INF bandit (Zimmert & Seldin) over a grid of omega.

    Probabilities p_i = 4 / (eta_t (Lhat_i - x))², with eta_t = lr / sqrt(t) and x the normaliser
    (found by Newton's method) making them sum to one. Lhat are importance-weighted cumulative
    iteration counts divided by a scale: ``loss_scale`` if given, else the mean iteration count
    observed so far, so a typical solve has loss about 1 whatever the problem size. That is the
    normalisation of the authors' reference code for "Learning to Relax"; measured on
    ``benchmarks/sor_bandit.py``'s 1000-system sequences it costs 1.28-1.29x the best fixed
    omega against 1.47x for losses scaled to [0, 1] by the largest count seen; its regret grows
    like sqrt(n), so the ratio falls with the length n of the sequence: 1.07x over 10000
    systems. A solve that did not converge counts as ``max_iter`` iterations.
    """

    def __init__(self, omegas: Sequence[float] | None = None, max_iter: int = 10_000,
                 seed: int = 0, learning_rate: float = 2.0, loss_scale: float | None = None):
        super().__init__(omegas, max_iter, seed)
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
        if loss_scale is not None and not loss_scale > 0:
            raise ValueError(f"loss_scale must be None or positive, got {loss_scale!r}")
        self.learning_rate = float(learning_rate)
        self.loss_scale = loss_scale
        self._K = np.zeros(len(self.omegas))  # importance-weighted cumulative iterations
        self._t = 0
        self._sum_iterations = 0
        self._p = np.full(len(self.omegas), 1.0 / len(self.omegas))

    def _scale(self) -> float:
        if self.loss_scale is not None:
            return float(self.loss_scale)
        return max(self._sum_iterations / self._t, 1.0) if self._t else 1.0

    def probabilities(self) -> np.ndarray:
        eta = self.learning_rate / math.sqrt(self._t + 1)
        L = self._K / self._scale()
        L = L - L.min()
        x = -2.0 / eta  # here the best arm alone has weight 1, so the sum is >= 1
        for _ in range(60):
            w = 4.0 / (eta * (L - x)) ** 2
            f = w.sum() - 1.0
            if abs(f) < 1e-12:
                break
            # f is increasing and convex in x: Newton from the right converges monotonically
            x -= f / (eta * (w ** 1.5).sum())
        return w / w.sum()

    def _choose_arm(self, context):
        self._p = self.probabilities()
        return int(self.rng.choice(len(self.omegas), p=self._p))

    def _update(self, arm, context, iterations, converged):
        # observe() has already replaced the count of a solve that did not converge by max_iter
        self._t += 1
        self._sum_iterations += iterations
        self._K[arm] += iterations / self._p[arm]


def chebyshev(x: np.ndarray | float, degree: int) -> np.ndarray:
    """Chebyshev polynomials T_0..T_degree at ``x`` in [-1, 1]: shape ``(*x.shape, degree + 1)``."""
    x = np.asarray(x, dtype=np.float64)
    out = [np.ones_like(x), x]
    for _ in range(2, degree + 1):
        out.append(2 * x * out[-1] - out[-2])
    return np.stack(out[: degree + 1], axis=-1)


class ChebCB(Tuner):
    """Contextual bandit over omega with Chebyshev features (in the spirit of ChebCB).

    The cost of a solve, log(1 + iterations), is modelled as a linear function of the tensor
    product of Chebyshev polynomials in the context and in omega (degrees ``context_degree`` and
    ``omega_degree``), fitted by ridge regression on every observation so that what one arm
    teaches carries over to its neighbours. Each solve picks the omega minimising the predicted
    cost minus ``exploration`` times the confidence width (LinUCB for costs). Contexts are mapped
    from ``context_range`` to [-1, 1] (through a log when ``log_context``) and clipped.

    Defaults: the best of a grid (exploration, degrees, ridge) replayed on one 1000-system
    64² heat2d sequence of ``benchmarks/sor_bandit.py`` (``--seed 1``), then checked on another
    (``--seed 0``), so they are not fitted to the sequence they are reported on.
    """

    def __init__(self, omegas: Sequence[float] | None = None, max_iter: int = 10_000,
                 seed: int = 0, context_range: tuple[float, float] = (1e-2, 1e2),
                 log_context: bool = True, context_degree: int = 2, omega_degree: int = 4,
                 ridge: float = 0.1, exploration: float = 0.1):
        super().__init__(omegas, max_iter, seed)
        lo, hi = (float(v) for v in context_range)
        if not lo < hi or (log_context and lo <= 0):
            raise ValueError(f"context_range must be (low, high) with low < high (and low > 0 "
                             f"when log_context), got {context_range!r}")
        for name, v in (("context_degree", context_degree), ("omega_degree", omega_degree)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an int >= 0, got {v!r}")
        if not ridge > 0 or not exploration >= 0:
            raise ValueError(f"need ridge > 0 and exploration >= 0, got {ridge}, {exploration}")
        self.context_range = (lo, hi)
        self.log_context = bool(log_context)
        self.context_degree, self.omega_degree = context_degree, omega_degree
        self.ridge, self.exploration = float(ridge), float(exploration)
        w = np.asarray(self.omegas)
        span = max(w.max() - w.min(), 1e-12)
        self._omega_feats = chebyshev(2 * (w - w.min()) / span - 1, omega_degree)  # (K, dw+1)
        nf = (context_degree + 1) * (omega_degree + 1)
        self._A = ridge * np.eye(nf)
        self._b = np.zeros(nf)

    def _mapped(self, context: float | None) -> float:
        if context is None:
            return 0.0
        lo, hi = self.context_range
        c = context
        if self.log_context:
            c, lo, hi = math.log(max(c, 1e-300)), math.log(lo), math.log(hi)
        return float(np.clip(2 * (c - lo) / (hi - lo) - 1, -1, 1))

    def _features(self, context: float | None) -> np.ndarray:
        """Features of every arm for this context: ``(K, n_features)``."""
        fc = chebyshev(self._mapped(context), self.context_degree)  # (dc+1,)
        return (fc[None, :, None] * self._omega_feats[:, None, :]).reshape(len(self.omegas), -1)

    def predicted_cost(self, context: float | None) -> np.ndarray:
        """Model's log(1 + iterations) per arm for ``context``."""
        theta = np.linalg.solve(self._A, self._b)
        return self._features(context) @ theta

    def _choose_arm(self, context):
        X = self._features(context)
        Ainv = np.linalg.inv(self._A)
        mean = X @ (Ainv @ self._b)
        width = np.sqrt(np.einsum("kf,fg,kg->k", X, Ainv, X))
        score = mean - self.exploration * width
        best = np.flatnonzero(score <= score.min() + 1e-12)
        return int(self.rng.choice(best))

    def _update(self, arm, context, iterations, converged):
        cost = math.log1p(iterations if converged else 2 * self.max_iter)
        x = self._features(context)[arm]
        self._A += np.outer(x, x)
        self._b += cost * x


class OracleOmega:
    """Per-instance grid search, for benchmarks only: it solves each system for every omega.

    ``search(iterations_of)`` takes a function omega -> iterations for one system and returns
    ``(best_omega, best_iterations)``.
    """

    def __init__(self, omegas: Sequence[float] | None = None):
        self.omegas = default_omegas() if omegas is None else [check_omega(w) for w in omegas]

    def settings(self) -> dict:
        return {"omegas": self.omegas}

    def search(self, iterations_of: Callable[[float], int]) -> tuple[float, int]:
        its = [int(iterations_of(w)) for w in self.omegas]
        i = int(np.argmin(its))
        return self.omegas[i], its[i]


TUNERS = {"tsallis_inf": TsallisINF, "chebcb": ChebCB}


def make_tuner(tuner: str | Tuner | None, max_iter: int = 10_000, seed: int = 0) -> Tuner | None:
    """A solver's ``tuner`` argument as an object: None or "fixed" (use the solver's fixed
    omega), a name in :data:`TUNERS` (default settings), or a tuner instance (used as is)."""
    if tuner is None or tuner == "fixed":
        return None
    if isinstance(tuner, str):
        if tuner not in TUNERS:
            raise ValueError(f"tuner must be 'fixed', one of {sorted(TUNERS)} or a tuner object, "
                             f"got {tuner!r}")
        return TUNERS[tuner](max_iter=max_iter, seed=seed)
    return tuner
