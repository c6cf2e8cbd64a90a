"""Choosing SOR's relaxation parameter omega across a sequence of linear systems: the
"Learning to Relax" bandits (:class:`ChebCB`, contextual; :class:`TsallisINF`) and
:class:`FixedOmega`.

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
from collections.abc import Sequence

import numpy as np

from ..base import check_int, is_real
from .sor import check_omega


def check_number(name: str, value: object, positive: bool = False,
                 non_negative: bool = False) -> float:
    """``value`` as a float, or a ValueError naming ``name`` unless it is a finite real number
    (Python or numpy, not a bool), positive or >= 0 when asked."""
    ok = is_real(value) and math.isfinite(value)
    if ok and positive:
        ok = value > 0
    if ok and non_negative:
        ok = value >= 0
    if not ok:
        what = "positive " if positive else "non-negative " if non_negative else ""
        raise ValueError(f"{name} must be a finite {what}number, got {value!r}")
    return float(value)


def _scalar(value: object) -> object:
    """A 0-d numpy array or torch tensor as its Python number (``.item()``); else ``value``."""
    if getattr(value, "shape", None) == () and hasattr(value, "item") \
            and not isinstance(value, np.generic):
        return value.item()
    return value


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
        self.omegas = list(grid)
        self.max_iter = check_int("max_iter", max_iter, 1)
        self.seed = check_int("seed", seed, 0)
        self.rng = np.random.default_rng(seed)
        self.history: list[dict] = []
        self._pending: tuple[int, float | None] | None = None

    def settings(self) -> dict:
        return {p: getattr(self, p) for p in inspect.signature(type(self).__init__).parameters
                if p != "self" and not callable(getattr(self, p, None))}

    def choose(self, context: float | None = None) -> float:
        """The omega for the next solve; ``context``: a finite number describing the system, or
        None."""
        if context is not None:
            context = check_number("context", context)
        arm = self._choose_arm(context)
        self._pending = (arm, context)
        return self.omegas[arm]

    def observe(self, iterations: int, converged: bool = True) -> None:
        """Learn from the solve run with the last chosen omega: ``iterations`` (a whole number
        >= 0) and whether it ``converged`` (if not, it counts as ``max_iter`` sweeps)."""
        if self._pending is None:
            raise RuntimeError("observe() called without a preceding choose()")
        # one-element arrays and tensors (e.g. redblack_sor's res.iterations.max()) as numbers
        iterations, converged = _scalar(iterations), _scalar(converged)
        if not is_real(iterations) or not math.isfinite(iterations) or iterations < 0 \
                or iterations != int(iterations):
            raise ValueError(f"iterations must be a whole number >= 0, got {iterations!r}")
        if not isinstance(converged, (bool, np.bool_)):
            raise ValueError(f"converged must be a bool, got {converged!r}")
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
        self.learning_rate = check_number("learning_rate", learning_rate, positive=True)
        self.loss_scale = (None if loss_scale is None
                           else check_number("loss_scale", loss_scale, positive=True))
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
    cost minus ``exploration`` times the confidence width (LinUCB for costs). A solve that did
    not converge costs log(1 + 2 ``max_iter``), not the ``max_iter`` that :meth:`Tuner.observe`
    records for it: such an omega's true cost is unknown and above ``max_iter``, and a model
    fitted on a cap alone would rate a diverging omega next to one that barely converges.
    Contexts are mapped from ``context_range`` to [-1, 1] (through a log when
    ``log_context``) and clipped.

    Defaults: the best of a grid (exploration, degrees, ridge) replayed on one 1000-system
    64² heat2d sequence of ``benchmarks/sor_bandit.py`` (``--seed 1``), then checked on another
    (``--seed 0``), so they are not fitted to the sequence they are reported on.
    """

    def __init__(self, omegas: Sequence[float] | None = None, max_iter: int = 10_000,
                 seed: int = 0, context_range: tuple[float, float] = (1e-2, 1e2),
                 log_context: bool = True, context_degree: int = 2, omega_degree: int = 4,
                 ridge: float = 0.1, exploration: float = 0.1):
        super().__init__(omegas, max_iter, seed)
        try:
            pair = list(context_range)
        except TypeError:
            pair = None
        if (pair is None or len(pair) != 2 or not all(is_real(v) and math.isfinite(v)
                                                      for v in pair)
                or not pair[0] < pair[1] or (log_context and pair[0] <= 0)):
            raise ValueError(f"context_range must be (low, high) with low < high (and low > 0 "
                             f"when log_context), got {context_range!r}")
        lo, hi = (float(v) for v in pair)
        if not isinstance(log_context, (bool, np.bool_)):
            raise ValueError(f"log_context must be a bool, got {log_context!r}")
        self.context_range = (lo, hi)
        self.log_context = bool(log_context)
        self.context_degree = check_int("context_degree", context_degree, 0)
        self.omega_degree = check_int("omega_degree", omega_degree, 0)
        self.ridge = check_number("ridge", ridge, positive=True)
        self.exploration = check_number("exploration", exploration, non_negative=True)
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
