"""Fourier building blocks shared by the periodic pseudo-spectral solvers.

* :func:`wavenumbers`, :func:`derivative_symbol`: ``2πk/L`` and ``ik`` in FFT or rFFT layout;
* :func:`dealias_mask` (any dimension), :func:`dealiased_modes`: the 2/3 rule for quadratic
  nonlinearities; :func:`burgers_flux`: the dealiased pseudo-spectral ``−(u²/2)_x`` in 1-D;
* :func:`etdrk4_coefficients` / :func:`etdrk4_step`: exponential time differencing RK4 of Cox and
  Matthews for ``v_t = L v + N(v)`` with diagonal ``L``, coefficients by the contour-integral
  method of Kassam and Trefethen (SIAM J. Sci. Comput. 26, 2005);
* :func:`imex_step`: the IMEX Runge–Kutta scheme ARS(2,2,2) for the same split;
* :func:`equal_substeps`, :func:`quantize_step`, :class:`OperatorCache`,
  :func:`flush_denormals`: step selection and the reuse/speed of the step operators;
* :class:`PseudoSpectral1D`: the shared ``advance`` of Burgers and Kuramoto–Sivashinsky.

Apart from the last two items nothing here knows which PDE is solved: the linear symbol ``L``
may have any shape (per-sample operators ``(B, 1, nk)``, or a 2-D ``(B, 1, nx, ny//2+1)``),
real or complex.
"""
from __future__ import annotations

import math
import warnings
from abc import abstractmethod
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import Params, Solver, SolverDivergedError, check_duration, is_int

# growth of a sample's max|u| that a solver obeying a maximum principle (``max_principle``)
# reports: past GROWTH_WARN (1 %: overshoot at an under-resolved shock; a resolved run's
# max|u| only falls) a RuntimeWarning, past GROWTH_FAIL a divergence (an unstable step)
GROWTH_WARN = 1.01
GROWTH_FAIL = 2.0
# share of a sample's energy (modes 1 .. n_modes - 1) in the top third of the modes the
# nonlinearity sees past which a result is reported as under-resolved (RuntimeWarning). Measured
# (the largest over the saved frames): the shipped burgers1d and ks1d configs 2e-7 and 2e-13;
# Burgers from sin(2πx), ν = 1e-3: 16 points 0.32, 32 points 0.2 (max error 1.0 and 0.75 against
# 2048 points); KS on L = 64: 32 points 0.97 (max|u| 1644 against 3.1), 64 points 0.065 (an
# error of 1 %, 100x that of 128 points: under-resolved, but not reported); KS on L = 32, 32
# points, ν = 0.8, t = 5: 0.11 (error 4 % of max|u|, 600x that of 64 points)
TAIL_WARN = 0.1


def check_n_points(name: str, value: int) -> int:
    """An FFT grid size as an int: an even integer >= 8, Python or numpy (even so the rFFT has
    a Nyquist mode and the 2/3 rule leaves a usable band), else ValueError."""
    if not is_int(value) or value < 8 or value % 2:
        raise ValueError(f"{name} must be an even integer >= 8, got {value!r}")
    return int(value)


def wavenumbers(n: int, length: float, real: bool = False, dtype: torch.dtype = torch.float64,
                device: str | torch.device | None = None) -> Tensor:
    """Angular wavenumbers ``2πk/L`` of a length-``n`` FFT (``(n,)``, ``fftfreq`` order) or,
    when ``real``, of an rFFT (``(n//2+1,)``, k = 0..n/2). Units: 1/length."""
    if real:
        k = torch.fft.rfftfreq(n, d=1.0 / n, dtype=torch.float64)
    else:
        k = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)
    return (2 * math.pi / length * k).to(dtype=dtype, device=device)


def derivative_symbol(n: int, length: float, real: bool = True,
                      dtype: torch.dtype = torch.complex128,
                      device: str | torch.device | None = None) -> Tensor:
    """Symbol ``i k`` of ``d/dx`` on an FFT/rFFT axis, with the Nyquist mode (n even) zeroed:
    its derivative of a real field is not representable on the grid, so it is dropped."""
    k = wavenumbers(n, length, real=real)
    if n % 2 == 0:
        k[n // 2] = 0.0
    return (1j * k).to(dtype=dtype, device=device)


def dealias_mask(shape: tuple[int, ...], real: bool = True,
                 device: str | torch.device | None = None) -> Tensor:
    """Boolean 2/3-rule mask on the spectrum of a field of spatial ``shape``: True where every
    integer wavenumber satisfies ``|k_i| < n_i / 3``.

    With ``real`` the last axis is in rFFT layout (``n//2+1``). Products of two fields
    restricted to these modes alias only onto modes outside them, which the mask then removes.
    """
    mask = torch.ones((), dtype=torch.bool)
    d = len(shape)
    for axis, n in enumerate(shape):
        if real and axis == d - 1:
            k = torch.fft.rfftfreq(n, d=1.0 / n, dtype=torch.float64)
        else:
            k = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)
        keep = 3 * k.abs() < n
        mask = mask & keep.reshape([-1 if a == axis else 1 for a in range(d)])
    return mask.to(device)


@dataclass(frozen=True)
class ETDRK4Coefficients:
    """Per-mode factors of one ETDRK4 step of size ``h`` for ``v_t = L v + N(v)``.

    ``E = e^{hL}``, ``E2 = e^{hL/2}``, ``Q = (e^{hL/2} − 1)/L`` (the stage weight), ``f1, f2, f3``
    the final-stage weights (Kassam & Trefethen's notation); all share the shape of ``L``.
    """

    E: Tensor
    E2: Tensor
    Q: Tensor
    f1: Tensor
    f2: Tensor
    f3: Tensor

    def to(self, dtype: torch.dtype | None = None, device: str | torch.device | None = None,
           index: Tensor | None = None) -> ETDRK4Coefficients:
        """Cast/move every factor (``index`` first gathers rows along dim 0)."""
        def f(t: Tensor) -> Tensor:
            if index is not None:
                t = t[index]
            return t.to(dtype=dtype, device=device)
        names = ("E", "E2", "Q", "f1", "f2", "f3")
        return ETDRK4Coefficients(*(f(getattr(self, k)) for k in names))


def etdrk4_coefficients(lin: Tensor, h: float, n_contour: int = 32,
                        radius: float = 1.0) -> ETDRK4Coefficients:
    """ETDRK4 factors for the diagonal linear symbol ``lin`` (any shape) and step ``h``.

    The φ-functions ``(e^z − 1)/z`` etc. lose all digits to cancellation for small ``|z|``;
    following Kassam and Trefethen each one is evaluated as the mean of its values on
    ``n_contour`` points of a circle of ``radius`` centred at ``z = h L`` (Cauchy's formula with
    the trapezoidal rule, exponentially accurate for these entire functions). Computed in
    float64/complex128 and returned real when ``lin`` is real (the imaginary parts then cancel
    by symmetry). Memory stays at O(lin.numel()): the contour is summed in a loop, so this is
    cheap in 2-D too.
    """
    if not (h > 0 and math.isfinite(h)):
        raise ValueError(f"ETDRK4 step must be a positive finite number, got {h!r}")
    real = not lin.is_complex()
    z = lin.to(torch.complex128) * h
    # for real z the points j and n_contour - 1 - j are complex conjugates, and so are the
    # functions' values there: half the points, twice the real part (half the time; the same
    # mean up to round-off)
    pairs = real and n_contour % 2 == 0
    acc = [torch.zeros_like(z) for _ in range(4)]
    for j in range(n_contour // 2 if pairs else n_contour):
        r = radius * complex(math.cos(2 * math.pi * (j + 0.5) / n_contour),
                             math.sin(2 * math.pi * (j + 0.5) / n_contour))
        w = z + r
        ew = torch.exp(w)
        w3 = w**3
        acc[0] += (torch.exp(w / 2) - 1) / w
        acc[1] += (-4 - w + ew * (4 - 3 * w + w * w)) / w3
        acc[2] += (2 + w + ew * (w - 2)) / w3
        acc[3] += (-4 - 3 * w - w * w + ew * (4 - w)) / w3
    if pairs:
        acc = [2 * a.real for a in acc]
    q, f1, f2, f3 = (h * a / n_contour for a in acc)
    e, e2 = torch.exp(z), torch.exp(z / 2)
    out = [e, e2, q, f1, f2, f3]
    if real:
        out = [t.real.contiguous() for t in out]
    return ETDRK4Coefficients(*out)


def etdrk4_step(v: Tensor, nonlinear: Callable[[Tensor], Tensor], c: ETDRK4Coefficients) -> Tensor:
    """One ETDRK4 step of ``v_t = L v + N(v)`` in spectral space (4 evaluations of ``N``)."""
    nv = nonlinear(v)
    ev = c.E2 * v
    a = ev + c.Q * nv
    na = nonlinear(a)
    b = ev + c.Q * na
    nb = nonlinear(b)
    cc = c.E2 * a + c.Q * (2 * nb - nv)
    nc = nonlinear(cc)
    return c.E * v + c.f1 * nv + c.f2 * (2 * (na + nb)) + c.f3 * nc


# ARS(2,2,2): gamma makes the SDIRK part L-stable, delta makes the explicit part second order
ARS_GAMMA = 1.0 - 1.0 / math.sqrt(2.0)
ARS_DELTA = 1.0 - 1.0 / (2.0 * ARS_GAMMA)


def imex_operators(lin: Tensor, h: float) -> tuple[Tensor, Tensor]:
    """``(h L, 1 / (1 − γ h L))``: the factors of one ARS(2,2,2) step (any shape)."""
    return h * lin, 1.0 / (1.0 - (ARS_GAMMA * h) * lin)


def imex_step(v: Tensor, nonlinear: Callable[[Tensor], Tensor], ops: tuple[Tensor, Tensor],
              h: float) -> Tensor:
    """One step of the IMEX Runge–Kutta scheme ARS(2,2,2) (Ascher, Ruuth & Spiteri 1997) for
    ``v_t = L v + N(v)``: L-stable SDIRK for ``L``, explicit for ``N`` (2 evaluations).
    Second order; stiffly accurate, so the last stage is the new state."""
    hl, inv = ops
    n1 = nonlinear(v)
    v2 = inv * (v + (ARS_GAMMA * h) * n1)
    n2 = nonlinear(v2)
    rhs = v + (1 - ARS_GAMMA) * (hl * v2) + (ARS_DELTA * h) * n1 + ((1 - ARS_DELTA) * h) * n2
    return inv * rhs


def dealiased_modes(n: int) -> int:
    """Number of leading rFFT modes of an ``n``-point axis kept by the 2/3 rule
    (``k = 0 .. ⌊(n−1)/3⌋``, i.e. ``3k < n``)."""
    return (n - 1) // 3 + 1


def burgers_flux(n: int, length: float, n_modes: int, dtype: torch.dtype = torch.complex128,
                 device: str | torch.device | None = None) -> Callable[[Tensor], Tensor]:
    """The map ``v ↦ rFFT[−(u²/2)_x]`` along the last axis of a field of ``n`` points and period
    ``length``, evaluated pseudo-spectrally (square on the grid, differentiate in Fourier).

    ``v`` and the result hold only the first ``n_modes`` rFFT modes; the others are zero on input
    and dropped on output. ``n_modes = dealiased_modes(n)`` is the 2/3 rule, so the product is
    alias-free; ``n // 2 + 1`` keeps every mode (no dealiasing). ``dtype``: complex dtype of
    the spectra it will see.
    """
    g = (-0.5 * derivative_symbol(n, length, real=True)[:n_modes]).to(dtype=dtype, device=device)

    def flux(v: Tensor) -> Tensor:
        u = torch.fft.irfft(v, n=n)  # zero-pads the missing high modes
        return g * torch.fft.rfft(u * u)[..., :n_modes]

    return flux


def quantize_step(dt: float) -> float:
    """``dt`` rounded down to the nearest ``2^(j/4)``, j integer (at most 16% smaller).

    State-dependent steps (CFL on ``max|u|``) then take few distinct values over a trajectory,
    so the step operators built for one ``advance`` are reused by the next.
    """
    if not math.isfinite(dt):
        return dt
    return 2.0 ** (math.floor(4 * math.log2(dt) + 1e-9) / 4)


def equal_substeps(solver: str, duration: float, dt_max: float) -> tuple[int, float]:
    """``(steps, h)``: the fewest equal steps ``h <= dt_max`` covering ``duration`` exactly.

    Raises ValueError unless ``duration`` is a finite number >= 0 (``(0, 0.0)`` for zero).
    """
    duration = check_duration(solver, duration)
    if duration == 0:
        return 0, 0.0
    # the tolerance keeps duration = 3 * dt_max from becoming 4 steps through rounding
    steps = max(1, math.ceil(duration / dt_max * (1 - 1e-12)))
    return steps, duration / steps


@contextmanager
def flush_denormals(device: torch.device) -> Iterator[None]:
    """Flush subnormal floats to zero on the CPU inside the block, then restore the previous
    mode.

    Stiff modes are multiplied by factors like ``e^{−ν k² h}`` that, in float32, land products
    in the subnormal range; x86 arithmetic on subnormals is ~100x slower, which made a Burgers
    step 50 ms instead of 1 ms. The values are far below round-off, so flushing them is exact to
    working precision. (torch has no getter for the mode: probe it with a subnormal product.)
    """
    if device.type != "cpu":
        yield
        return
    was_on = bool((torch.tensor([1e-39], dtype=torch.float32) * 1.0)[0] == 0)
    if not was_on:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if not was_on:
            torch.set_flush_denormal(False)


class OperatorCache:
    """Remembers the last ``size`` operators built, keyed by a hashable key plus a parameter
    tensor (the most recently used first).

    ``solve`` calls ``advance`` many times with the same parameters and usually the same step;
    rebuilding per call would cost about as much as a few time steps. More than one entry: an
    advance whose step is halved part-way (``step_recheck``) uses two or three steps in turn.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: list[tuple[Hashable, Tensor, object]] = []

    def get(self, key: Hashable, param: Tensor, build: Callable[[], object]) -> object:
        for i, (k, p, value) in enumerate(self._entries):
            if (k == key and p.shape == param.shape and p.device == param.device
                    and bool(torch.equal(p, param))):
                self._entries.insert(0, self._entries.pop(i))
                return value
        value = build()
        self._entries.insert(0, (key, param.clone(), value))
        del self._entries[self.size:]
        return value


class PseudoSpectral1D(Solver):
    """Shared ``advance`` of 1-D periodic solvers of ``u_t = L u − (u²/2)_x`` with a diagonal,
    per-sample linear symbol ``L(k; params)`` (Burgers, Kuramoto–Sivashinsky).

    Subclasses set ``n_points``, ``length``, ``dt`` (None or a step bound), ``scheme``
    (``"etdrk4"`` or ``"imex"``), ``n_modes`` (rFFT modes the nonlinearity sees:
    :func:`dealiased_modes` for the 2/3 rule), and implement :meth:`symbol` and
    :meth:`step_bound`. Modes past ``n_modes`` feel only ``L`` and are advanced exactly in one
    multiplication; the time stepper runs on the first ``n_modes`` only, which is the dealiased
    semi-discretisation at about 2/3 of the cost of masking.
    """

    n_points: int
    length: float
    dt: float | None
    scheme: str = "etdrk4"
    n_modes: int
    # with the automatic step (dt None): steps between two checks, within one advance, that the
    # step still meets step_bound of the current max|u|; 0 never checks (Burgers: the maximum
    # principle keeps max|u| from growing)
    step_recheck: int = 0
    # within one solve, a float32 ETDRK4 step this close (relative) to one already taken is
    # taken as that one (:meth:`_solve_step`): frame intervals equal on paper differ in their
    # last bits (np.linspace(0, 1, 21): steps 2 to 19 ulps apart), far less than this bound
    # and far more than an exact cache key tolerates
    step_rtol: float = 1e-11
    # True when the PDE cannot raise max|u| (viscous Burgers): growth is then numerical error,
    # reported by :meth:`check_growth`
    max_principle: bool = False

    @abstractmethod
    def symbol(self, params: dict[str, Tensor]) -> Tensor:
        """Linear symbol ``(B, 1, n_points//2 + 1)`` float64 on the CPU, from float64 CPU
        ``params``."""

    @abstractmethod
    def step_bound(self, amax: float) -> float:
        """Largest internal step for a batch with ``max|u| = amax`` (finite, >= 0)."""

    def check_params(self, params: dict[str, Tensor]) -> None:
        """Raise ValueError for parameter values the PDE does not admit (default: none)."""

    def _init_spectral(self) -> None:
        self.grid = (torch.arange(self.n_points, dtype=torch.float64)
                     * (self.length / self.n_points),)
        self._cache = OperatorCache()
        self._flux_key: tuple | None = None
        self._flux_fn: Callable[[Tensor], Tensor] | None = None
        self._solve_steps: list[float] | None = None  # the steps taken in the running solve

    def solve(self, u0: Tensor, params: Params, times: Sequence[float] | Tensor) -> Tensor:
        """:meth:`~.base.Solver.solve`, with float32 ETDRK4 steps within ``step_rtol`` of one
        another taken as one step (:meth:`_solve_step`)."""
        self._solve_steps = []
        try:
            out = super().solve(u0, params, times)
        finally:
            self._solve_steps = None
        if self.max_principle and out.shape[1]:
            checked = self.check_inputs(u0, params)
            try:
                # against u0, so growth spread over many frames (each under 1 %) shows too
                self.check_growth(u0, out.abs().amax(dim=1), checked, 0.0,
                                  float(torch.as_tensor(times, dtype=torch.float64).max()))
            except SolverDivergedError as e:
                # found after Solver.solve, which names the parameters of its own errors
                raise SolverDivergedError(e.solver, e.sample, e.time, e.reason,
                                          self._sample_params(checked, e.sample),
                                          e.hint) from e
        return out

    def check_growth(self, before: Tensor, after: Tensor, params: Params,
                     start: float | None, end: float) -> None:
        """For a solver with ``max_principle``: raise :class:`~.base.SolverDivergedError` for
        the first sample whose ``max|u|`` grew past ``GROWTH_FAIL`` times from ``before``
        (the state at ``start``) to ``after`` (at ``end``, times since t = 0; ``start`` None:
        ``end`` is the time since ``before``, whose own time is not known here, as in
        :meth:`advance`), and warn (RuntimeWarning, once per solver) past ``GROWTH_WARN``
        times."""
        a0 = before.detach().flatten(1).abs().amax(dim=1).double()
        a1 = after.detach().flatten(1).abs().amax(dim=1).double()
        ratio = torch.where(a0 > 0, a1 / torch.where(a0 > 0, a0, 1.0), 0.0)
        worst = int(ratio.argmax())
        r = float(ratio[worst])
        if r <= GROWTH_WARN:
            return
        # advance knows only its own duration, not when it started
        when = (f"over {end:.6g} of simulated time" if start is None
                else f"between t={start:.6g} and t={end:.6g}")
        what = (f"max|u| grew {r:.3g}x, from {float(a0[worst]):.3g} to {float(a1[worst]):.3g}, "
                f"{when}, which the PDE forbids")
        if r > GROWTH_FAIL:
            raise SolverDivergedError(self.name, worst, end - (start or 0.0),
                                      what + ": the step is unstable", hint=self.divergence_hint)
        if not getattr(self, "_growth_warned", False):
            self._growth_warned = True
            warnings.warn(f"{self.name}: sample {worst} ({self._named_params(params, worst)}): "
                          f"{what}: the grid does not resolve its steepest front "
                          f"(n_points={self.n_points}) or the step is too large, so the result "
                          f"is wrong; {self.divergence_hint} (reported once per solver)",
                          RuntimeWarning, stacklevel=3)

    def _solve_step(self, h: float, dtype: torch.dtype) -> float:
        """The step to take for a planned step ``h``: inside :meth:`solve`, with float32 states
        and ETDRK4, the first step of this solve within ``step_rtol · h`` of ``h`` if there is
        one, else ``h`` itself.

        Each frame's advance splits its own interval ``t_{i+1} − t_i``, and those of evenly
        spaced frames differ in their last bits, so a step repeated on paper was a new cache
        key whose ETDRK4 factors (a contour integral, as costly as ~30 steps of a batch) were
        built again: 47 of the 128 builds of 256 samples of ``configs/data/burgers1d.yaml``.
        Rounded to float32, the factors of two steps a few ulps apart agree in all but about
        one element in a million, by one float32 ulp (1 of 1,050,624 elements over 16 such
        pairs of that config). float64 states (where every factor would differ) and the IMEX
        scheme (whose factors cost two elementwise operations) keep the exact step. Only
        steps of the running solve count, so its result depends on nothing the solver did
        before.
        """
        taken = self._solve_steps
        if taken is None or dtype != torch.float32 or self.scheme != "etdrk4":
            return h
        for step in taken:
            if abs(step - h) <= self.step_rtol * h:
                return step
        taken.append(h)
        return h

    def advance(self, u: Tensor, params: Params, duration: float) -> Tensor:
        """Advance ``u`` ``(B, 1, n_points)`` by ``duration``; same dtype/device as ``u``.

        Raises :class:`~.base.SolverDivergedError` (``time``: since the start of this call) for
        a state that is non-finite or past ``blowup`` on input (t = 0), at a recheck of the
        step (``step_recheck``), or on output (t = ``duration``), as ``solve`` does.
        """
        params = self.check_inputs(u, params)
        p64 = {k: torch.as_tensor(params[k]).detach().to("cpu", torch.float64)
               for k in self.param_names}
        self.check_params(p64)
        duration = check_duration(self.name, duration)
        if u.numel() == 0:
            return u.clone()
        amax = float(u.detach().abs().amax())
        if not amax <= self.blowup:  # NaN too
            self.check_finite(u, 0.0)
        if duration == 0:
            return u.clone()
        steps, h = equal_substeps(self.name, duration, self.step_bound(amax))
        key = torch.stack([p64[k] for k in self.param_names])
        v = torch.fft.rfft(u)
        m = self.n_modes
        lo = v[..., :m]
        flux = self._flux(v.dtype, u.device)
        recheck = self.step_recheck if self.dt is None else 0
        done = 0.0  # time advanced so far, for the divergence report
        while steps:
            h = self._solve_step(h, u.dtype)
            ops, lin_tail = self._cache.get(
                (self.scheme, h, u.dtype, u.device), key,
                lambda h=h: self._operators(p64, h, u.dtype, u.device),
            )
            block = min(steps, recheck) if recheck else steps
            with flush_denormals(u.device):
                if self.scheme == "etdrk4":
                    for _ in range(block):
                        lo = etdrk4_step(lo, flux, ops)
                else:
                    for _ in range(block):
                        lo = imex_step(lo, flux, ops, h)
            steps -= block
            done += block * h
            if not steps:
                break
            # the state may have grown past what the step was chosen for: when its bound has
            # dropped below h, the steps left are halved until they meet it (halving, not a new
            # split of the time left: the same few steps recur, and their operators are cached)
            now = torch.fft.irfft(lo, n=self.n_points)
            amax = float(now.abs().amax())
            if not amax <= self.blowup:
                self.check_finite(now, done)
            bound = self.step_bound(amax)
            if not bound > 0:
                raise ValueError(f"{self.name}: step_bound({amax:g}) = {bound!r}; expected a "
                                 f"step > 0")
            # (equal_substeps may leave h a few ulps above the bound it was split for)
            while h > bound * (1 + 1e-9):
                steps, h = 2 * steps, h / 2
        if m < v.shape[-1]:
            tail = torch.exp(lin_tail * duration).to(dtype=u.dtype, device=u.device)
            lo = torch.cat([lo, v[..., m:] * tail], dim=-1)
        self.check_resolution(lo, params)
        out = torch.fft.irfft(lo, n=self.n_points)
        self.check_finite(out, duration)
        if self.max_principle:
            self.check_growth(u, out, params, None, duration)
        return out

    def check_resolution(self, spectrum: Tensor, params: Params) -> None:
        """Warn (RuntimeWarning, once per solver) when a sample's rFFT ``spectrum``
        ``(B, 1, n_points // 2 + 1)`` holds more than ``TAIL_WARN`` of its energy (modes
        1 and up) in the top third of the ``n_modes`` the nonlinearity sees: the grid does not
        resolve the solution (energy piles up at the cut-off)."""
        if getattr(self, "_tail_warned", False):
            return
        energy = spectrum.detach().abs().square().flatten(1).double()
        total = energy[:, 1:].sum(dim=1)
        top = energy[:, (2 * self.n_modes) // 3:self.n_modes].sum(dim=1)
        share = torch.where(total > 0, top / torch.where(total > 0, total, 1.0), 0.0)
        worst = int(share.argmax())
        if not float(share[worst]) > TAIL_WARN:
            return
        self._tail_warned = True
        warnings.warn(f"{self.name}: sample {worst} ({self._named_params(params, worst)}) "
                      f"holds {float(share[worst]):.0%} of its energy in the top third of "
                      f"the resolved modes (more than {TAIL_WARN:.0%}): "
                      f"n_points={self.n_points} does not resolve it, so a finer grid would "
                      f"change the result; raise n_points (or the low end "
                      f"of nu_range) (reported once per solver)", RuntimeWarning, stacklevel=3)

    def _flux(self, cdtype: torch.dtype, device: torch.device) -> Callable[[Tensor], Tensor]:
        key = (cdtype, device)
        if self._flux_key != key or self._flux_fn is None:
            self._flux_fn = burgers_flux(self.n_points, self.length, self.n_modes, cdtype, device)
            self._flux_key = key
        return self._flux_fn

    def _operators(self, p64: dict[str, Tensor], h: float, dtype: torch.dtype,
                   device: torch.device):
        """Stepper factors for the first ``n_modes`` modes, and the float64 CPU symbol of the
        rest (whose exact propagator depends on the duration, not the step)."""
        lin = self.symbol(p64)
        m = self.n_modes
        tail = lin[..., m:]
        # the factors multiply complex spectra: stored complex, as torch would promote a real
        # factor to a complex copy at every multiplication (same values, twice the time)
        cdtype = torch.promote_types(dtype, torch.complex64)
        if self.scheme == "imex":
            ops = tuple(t.to(dtype=dtype).to(dtype=cdtype, device=device)
                        for t in imex_operators(lin[..., :m], h))
            return ops, tail
        # samples often share parameters: build the factors once per distinct row, then gather
        uniq, inverse = torch.unique(lin[..., :m], dim=0, return_inverse=True)
        return etdrk4_coefficients(uniq, h).to(dtype, index=inverse).to(cdtype, device), tail
