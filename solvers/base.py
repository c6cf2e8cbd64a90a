"""The solver contract every PDE in :mod:`pdesurrogate.solvers` follows.

A solver is a plain object built from typed constructor arguments (grid size, domain, time step,
parameter ranges). It knows nothing of ML models, files or MPI. It does three things:

* ``sample(n, seed)``: draw PDE parameters and initial conditions for a batch;
* ``advance(u, params, duration)``: move a batch of states ``(B, C, *grid)`` forward in time;
* ``solve(u0, params, times)``: the trajectory at the requested times, ``(B, T, C, *grid)``.

States are torch tensors, so a solver runs on CPU or CUDA; the dtype follows the input
(float32 by default from ``sample``, float64 when given float64; no other dtype is accepted).
Parameters are a dict name -> tensor of shape ``(B,)``; the names are exactly ``param_names``;
a scalar value is the value of every sample.

A run that starts from, produces or grows to NaN/Inf or past ``blowup`` raises
:class:`SolverDivergedError` naming the first bad sample and the time, from ``advance`` as from
``solve``, so no NaN sample ever leaves a solver.
"""

from __future__ import annotations

import inspect
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor

Params = dict[str, Tensor]

FLOAT32_MAX = float(torch.finfo(torch.float32).max)
FLOAT32_TINY = float(torch.finfo(torch.float32).tiny)  # the smallest normal float32

# the dtypes every solver computes in; others (float16, bfloat16) lack the FFTs and the accuracy
DTYPES = (torch.float32, torch.float64)


class SolverDivergedError(RuntimeError):
    """A solve produced NaN/Inf or grew past the solver's ``blowup`` bound.

    Attributes: ``sample`` (index in the batch of the first bad trajectory), ``time`` (the
    simulated time at which it was detected: from ``solve``, the time since t = 0; raised by
    ``advance`` itself, the time since the start of that call), ``solver`` (name), ``params``
    (that sample's parameters, name -> float; filled in by ``solve``, else empty) and ``hint``
    (what to change so that it does not diverge; the solver's ``divergence_hint``).
    """

    def __init__(self, solver: str, sample: int, time: float, reason: str,
                 params: dict[str, float] | None = None, hint: str = ""):
        self.solver, self.sample, self.time, self.reason = solver, sample, time, reason
        self.params, self.hint = dict(params or {}), hint
        text = f"{solver}: sample {sample} diverged at t={time:.6g} ({reason})"
        if self.params:
            text += " with " + ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        super().__init__(text + (f"; {hint}" if hint else ""))

    def __reduce__(self):
        # from a worker process (multiprocessing, concurrent.futures) the error comes back
        # pickled; Exception's own reduce passes only the message, which __init__ refuses
        return (type(self), (self.solver, self.sample, self.time, self.reason, self.params,
                             self.hint))


def is_real(value: object) -> bool:
    """Whether ``value`` is a real number (Python or numpy; not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer (Python or numpy; not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int, or a ValueError naming ``name`` unless it is an integer >= minimum."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (a Python or numpy integer in
    ``[0, 2**63)``), or a ValueError naming ``seed`` and its value."""
    if not is_int(seed) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    return torch.Generator().manual_seed(int(seed))


def check_positive(name: str, value: float) -> float:
    """``value`` (a Python or numpy real, not a bool) as a float, or a ValueError saying a
    positive finite number was expected."""
    if not is_real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_range(name: str, value: Sequence[float], positive: bool = False) -> tuple[float, float]:
    """Validate a ``(low, high)`` parameter range, within float32's; ``positive`` requires
    ``low`` to be a normal float32 > 0."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name} must satisfy low <= high (finite), got {value!r}")
    if max(abs(lo), abs(hi)) > FLOAT32_MAX:
        # sample draws in float32 by default, where such a value is inf: the solve then
        # failed with "parameter ... has non-finite values", naming no range
        raise ValueError(f"{name} must lie within ±{FLOAT32_MAX:.4g} (the float32 range "
                         f"parameters are drawn in), got {value!r}")
    if positive and lo <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    if positive and lo < FLOAT32_TINY:
        # drawn in float32 as 0 (or a subnormal): the solve then failed with "parameter ...
        # must be positive, got [0.0, ...]", naming no range
        raise ValueError(f"{name} must be at least {FLOAT32_TINY:.4g} (the smallest normal "
                         f"float32, which parameters are drawn in), got {value!r}")
    return lo, hi


def check_duration(solver: str, duration: object) -> float:
    """``duration`` (a Python, numpy or 0-d torch real) as a float, or a ValueError naming
    ``solver`` unless it is a finite number >= 0 (not a bool, nor a string)."""
    try:
        ok = (not isinstance(duration, (bool, str, bytes)) and math.isfinite(float(duration))
              and float(duration) >= 0)
    except (TypeError, ValueError, RuntimeError):
        ok = False
    if not ok:
        raise ValueError(f"{solver}: duration must be a finite number >= 0, got {duration!r}")
    return float(duration)


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def uniform(gen: torch.Generator, n: int, bounds: tuple[float, float], log: bool = False) -> Tensor:
    """``n`` draws (float64, CPU) from U(low, high), or log-uniform when ``log``."""
    lo, hi = bounds
    r = torch.rand(n, generator=gen, dtype=torch.float64)
    if log and lo > 0:
        return torch.exp(math.log(lo) + r * (math.log(hi) - math.log(lo)))
    return lo + r * (hi - lo)


class Solver(ABC):
    """Base class: argument checks, divergence checks and the time loop of ``solve``.

    Subclasses set ``name``, ``channels`` (number of state channels), ``param_names`` and
    ``self.grid`` (tuple of 1-D coordinate tensors, one per spatial axis, in the order of the
    state's spatial dimensions), store each constructor argument as an attribute of the same
    name (``settings()`` reads them back), and implement ``sample`` and ``advance``.
    """

    name: str = "solver"
    channels: int = 1
    channel_names: tuple[str, ...] = ("u",)  # stored in dataset files
    param_names: tuple[str, ...] = ()
    steady: bool = False  # True when the PDE has no time: solve returns one slice
    blowup: float = 1e6  # |u| past this is divergence
    # what to change when a run diverges (appended to SolverDivergedError's message by solve)
    divergence_hint: str = "try a smaller dt, a finer grid or a narrower parameter range"
    grid: tuple[Tensor, ...]

    # -- the contract ------------------------------------------------------------------------
    @abstractmethod
    def sample(self, n: int, seed: int, dtype: torch.dtype = torch.float32,
               device: str | torch.device = "cpu") -> tuple[Tensor, Params]:
        """Draw ``n`` initial states ``(n, C, *grid)`` and parameters ``{name: (n,)}``.

        Deterministic for a given ``seed`` (an integer in ``[0, 2**63)``; drawn on the CPU,
        then moved to ``device``). Implementations start with
        ``n = self.check_sample_args(n, dtype)`` and draw from ``seeded_generator(seed)``.
        """

    @abstractmethod
    def advance(self, u: Tensor, params: Params, duration: float) -> Tensor:
        """Advance states ``u`` of shape ``(B, C, *grid)`` by ``duration`` time units.

        Returns new states, sharing no memory with ``u``, and never writes into ``u``: callers
        keep states they were given while the solver goes on (the stream sends them
        uncopied). ``duration``: a finite number >= 0, else ValueError. A ``u`` that is
        non-finite or past ``blowup``, or a result that is, raises
        :class:`SolverDivergedError` (``time`` counted from the start of the call).
        ``tests/solvers/test_contract.py`` checks every registered solver.
        """

    @property
    def grid_names(self) -> tuple[str, ...]:
        """Names of the spatial axes, in state order: ("x",) in 1-D, ("y", "x") in 2-D."""
        return ("x",) if len(self.grid) == 1 else ("y", "x")

    # -- shared machinery --------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape of one channel of the state."""
        return tuple(len(g) for g in self.grid)

    def settings(self) -> dict:
        """The constructor arguments, as JSON-friendly values (stored in dataset files)."""
        out = {}
        for pname in inspect.signature(type(self).__init__).parameters:
            if pname == "self":
                continue
            v = getattr(self, pname)
            if isinstance(v, tuple):
                v = list(v)
            elif hasattr(v, "settings"):
                v = {"class": type(v).__name__, **v.settings()}
            out[pname] = v
        return out

    def __repr__(self) -> str:
        # settings() are the constructor arguments, so the repr reads as the call that built it
        return _call(type(self).__name__, self.settings())

    def check_dtype(self, dtype: torch.dtype, what: str = "dtype") -> None:
        """Raise ValueError unless ``dtype`` is one the solvers compute in (``DTYPES``)."""
        if dtype not in DTYPES:
            raise ValueError(f"{self.name}: {what} must be torch.float32 or torch.float64, "
                             f"got {dtype}")

    def check_duration(self, duration: object) -> float:
        """``duration`` as a float, or a ValueError naming this solver unless it is a finite
        number >= 0 (:func:`check_duration`); every ``advance`` calls this."""
        return check_duration(self.name, duration)

    def check_sample_args(self, n: int, dtype: torch.dtype) -> int:
        """``n`` as an int, or ValueError unless it is an int >= 1 and ``dtype`` is supported;
        every ``sample`` calls this first."""
        # a batch of 0 fails deep inside the FFTs (MKL) with an error naming no solver
        if not is_int(n) or n < 1:
            raise ValueError(f"{self.name}: n (samples to draw) must be an int >= 1, got {n!r}")
        self.check_dtype(dtype)
        return int(n)

    def check_inputs(self, u: Tensor, params: Params) -> Params:
        """``params`` with every value a tensor, or ValueError if ``u`` or ``params`` do not
        fit this solver (TypeError if ``u`` is no tensor).

        Values that are not tensors (lists, numpy arrays) become tensors of ``u``'s dtype, on
        ``u``'s device: a float64 state given Python floats computes with them in float64, as
        with float64 tensors (``torch.as_tensor`` alone would round them to float32). A scalar
        (a Python or numpy number, a 0-d array or tensor) is the value of every sample: it is
        repeated to ``(B,)``; any other shape but ``(B,)`` is refused."""
        if not isinstance(u, Tensor):
            raise TypeError(f"{self.name}: state must be a torch.Tensor, got {type(u).__name__}")
        want = (self.channels, *self.shape)
        if u.ndim != len(want) + 1 or tuple(u.shape[1:]) != want:
            raise ValueError(
                f"{self.name}: state must have shape (batch, {', '.join(map(str, want))}), "
                f"got {tuple(u.shape)}"
            )
        self.check_dtype(u.dtype, "state dtype")
        missing = [p for p in self.param_names if p not in params]
        # a misspelt or foreign name would otherwise be ignored and its value never used
        unknown = [p for p in params if p not in self.param_names]
        if missing or unknown:
            what = ([f"missing parameter(s) {missing}"] if missing else []) + (
                [f"unknown parameter(s) {unknown}"] if unknown else [])
            raise ValueError(f"{self.name}: {' and '.join(what)}; "
                             f"expected exactly {list(self.param_names)} (param_names)")
        out = {}
        for p in self.param_names:
            v = params[p]
            if not isinstance(v, Tensor):
                if getattr(getattr(v, "flags", None), "writeable", True) is False:
                    v = v.copy()  # a reader's broadcast view: torch warns on read-only arrays
                try:
                    v = torch.as_tensor(v, dtype=u.dtype, device=u.device)
                except (TypeError, ValueError, RuntimeError):
                    raise ValueError(f"{self.name}: parameter {p!r} must be a tensor or a "
                                     f"sequence of numbers, got {v!r}") from None
            if v.ndim == 0:
                v = v.reshape(1).repeat(u.shape[0])
            out[p] = v
            if v.ndim != 1 or v.shape[0] != u.shape[0]:
                raise ValueError(
                    f"{self.name}: parameter {p!r} must have shape ({u.shape[0]},), "
                    f"got {tuple(v.shape)}"
                )
            if not torch.isfinite(v).all():
                raise ValueError(f"{self.name}: parameter {p!r} has non-finite values")
        return out

    def param(self, params: Params, name: str, like: Tensor) -> Tensor:
        """Parameter ``name`` as a tensor on ``like``'s device/dtype, shaped to broadcast
        against a batch of states ``(B, C, *grid)``."""
        v = params[name]
        if getattr(getattr(v, "flags", None), "writeable", True) is False:
            v = v.copy()  # a reader's broadcast view: torch warns on read-only arrays
        v = torch.as_tensor(v).to(device=like.device, dtype=like.dtype)
        return v.reshape(-1, *([1] * (like.ndim - 1)))

    def check_finite(self, u: Tensor, t: float) -> None:
        """Raise SolverDivergedError if a sample of ``u`` is non-finite or past ``blowup``.

        One reduction over ``u``: ``amax`` propagates NaN, so ``not max|u| <= blowup`` flags
        NaN, Inf and too large alike; only a flagged sample is looked at again for the reason.
        """
        flat = u.detach().flatten(1)  # (B, rest); unlike reshape(B, -1) also for B = 0
        bad = ~(flat.abs().amax(dim=1) <= self.blowup)
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            nan = not bool(torch.isfinite(flat[i]).all())
            reason = "NaN/Inf" if nan else f"|u| > {self.blowup:g}"
            raise SolverDivergedError(self.name, i, t, reason)

    def _sample_params(self, params: Params, i: int) -> dict[str, float]:
        """Parameters of sample ``i`` of a checked batch, as floats (empty if out of range)."""
        try:
            return {k: float(params[k][i]) for k in self.param_names}
        except (IndexError, KeyError, TypeError):
            return {}

    def _named_params(self, params: Params, i: int) -> str:
        """``"nu=0.01, ..."``: sample ``i``'s parameters for a warning's text."""
        return ", ".join(f"{k}={v:.3g}" for k, v in self._sample_params(params, i).items())

    def solve(self, u0: Tensor, params: Params, times: Sequence[float] | Tensor) -> Tensor:
        """Trajectory from t = 0 at ``times`` (non-decreasing, >= 0): (B, len(times), C, *grid).

        For a steady solver (``steady = True``) ``times`` is ignored and one slice is returned.
        A ``u0`` that is non-finite or past ``blowup`` is a divergence at t = 0.
        """
        params = self.check_inputs(u0, params)
        try:
            return self._solve_checked(u0, params, times)
        except SolverDivergedError as e:
            if e.params:
                raise
            # the sample's parameters and what to change (generate's error quotes this text)
            raise SolverDivergedError(e.solver, e.sample, e.time, e.reason,
                                      self._sample_params(params, e.sample),
                                      e.hint or self.divergence_hint) from e

    def _solve_checked(self, u0: Tensor, params: Params,
                       times: Sequence[float] | Tensor) -> Tensor:
        """:meth:`solve` for checked ``params``; a divergence names no parameters."""
        self.check_finite(u0, 0.0)
        if self.steady:
            out = self.advance(u0, params, 0.0)
            self.check_finite(out, 0.0)
            return out.unsqueeze(1)
        ts = [float(t) for t in torch.as_tensor(times, dtype=torch.float64).reshape(-1)]
        if not ts:
            raise ValueError(f"{self.name}: times must not be empty")
        bad = [t for t in ts if not math.isfinite(t)]
        if bad:
            # NaN compares False both ways, so the order check below would let it through
            raise ValueError(f"{self.name}: times must be finite, got {bad[0]} in {ts}")
        if ts[0] < 0 or any(b < a for a, b in zip(ts, ts[1:], strict=False)):
            raise ValueError(f"{self.name}: times must be >= 0 and non-decreasing, got {ts}")
        frames, u, t = [], u0, 0.0
        for target in ts:
            if target > t:
                try:
                    u = self.advance(u, params, target - t)
                except SolverDivergedError as e:
                    # advance counts time from its own start; report the time since t = 0
                    raise SolverDivergedError(e.solver, e.sample, t + e.time, e.reason,
                                              hint=e.hint) from e
                t = target
                self.check_finite(u, t)
            frames.append(u)
        return torch.stack(frames, dim=1)


def _call(name: str, kwargs: dict) -> str:
    """``name(k=v, ...)``, a nested ``{"class": C, ...}`` (settings() of a tuner) as ``C(...)``."""
    def show(v: object) -> str:
        if isinstance(v, dict) and "class" in v:
            return _call(str(v["class"]), {k: x for k, x in v.items() if k != "class"})
        return repr(v)
    return f"{name}({', '.join(f'{k}={show(v)}' for k, v in kwargs.items())})"
