"""``Surrogate``: a loaded time-stepping surrogate (what :func:`pdesurrogate.load` returns
for a field export): one step (:meth:`Surrogate.predict`), many (:meth:`Surrogate.rollout`)
or one state at a time (:meth:`Surrogate.iterate`), its inputs checked (shapes, grid,
parameters, finite values) and a :class:`ParameterRangeWarning` for parameter values outside
its training range (:func:`range_warnings_off` silences it in one thread).
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import json
import numbers
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, TypeAlias, overload

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from pdesurrogate.export_files import check_device

#: a parameter value or lead time as :class:`Surrogate` takes it: a number, a (nested)
#: sequence, a numpy array or a tensor on any device
Values: TypeAlias = npt.ArrayLike | torch.Tensor
#: ``params`` of :meth:`Surrogate.predict`: a dict ``{name: value(s)}`` (values as
#: :data:`Values`; ``Any`` because a dict's value type is invariant, and ``dict[str, Tensor]``
#: from a solver's ``sample`` must fit), the values as one array (``(B, P)``, ``(P,)``, ``(B,)``
#: or a number), or None for a model that takes none
Params: TypeAlias = dict[str, Any] | Values | None


#: :data:`~pdesurrogate.models.MODELS` names of the models that run on a grid other than their
#: training grid (:meth:`Surrogate.check_grid`). An FNO's layers keep ``n_modes`` Fourier modes
#: and its grid embedding is the coordinates in [0, 1], so its weights define one operator on
#: functions, evaluated on any grid: trained on 1-D Burgers on 64 points and rolled out 10
#: steps on 128, its relative L2 vs truth was 0.242, 0.2416 on the same file's every other
#: point (its 128-point rollout there within 7e-4 of the 64-point one). A U-Net's or CAPE's
#: convolution stencils and scOT's patches and windows span a fixed number of grid cells: a
#: U-Net trained alike had 0.643 on 128 points, 0.556 on every other one, the two rollouts 0.32
#: apart; untrained, a U-Net's output on twice the grid differed from its output on the
#: training grid by 0.37 (1-D) to 1.3 (2-D) relative, scOT's by 1.1, an FNO's by 1e-4.
GRID_FREE_MODELS = ("fno",)


def _size(v) -> int:
    """How many numbers ``v`` (number, sequence, array or tensor) holds, found without
    converting it (a broadcast view of a file's N trajectories costs nothing to ask)."""
    return v.numel() if isinstance(v, torch.Tensor) else int(np.size(v))


def _shape(v) -> tuple[int, ...]:
    return tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(np.shape(v))


def _steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    return int(steps)


# how far outside its training range, as a fraction of the range's width, a parameter value
# may lie before a Surrogate warns: held-out values drawn like the training split (the test
# trajectories of the same file) fall just beyond its smallest and largest values about one
# sampling gap, width / n for n training values, so with none at all a prediction on a
# held-out split often warned; 1 % covers the gaps of n >= 100 and is far below the distance
# at which extrapolation errors were measured (benchmarks/cape.py: twice the largest value)
RANGE_MARGIN = 0.01


class ParameterRangeWarning(UserWarning):
    """A :class:`Surrogate` was given parameter values outside the range it was trained on
    (:attr:`Surrogate.param_range`), where its errors grow (on 1-D Burgers at nu = 0.04, twice
    the largest training value, ``benchmarks/cape.py``'s FNO+p and CAPE-FNO erred 2.9-5.4x
    more than at the training values). Filter it with
    ``warnings.simplefilter("ignore", ParameterRangeWarning)``."""


# a switch of this thread (this context) only, not a warnings filter: the filters are
# process-wide, so one thread's "ignore" hid every other thread's range warnings while it
# stood, and two overlapping catch_warnings blocks could leave it behind for good
_RANGE_WARNINGS_OFF: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "pdesurrogate_range_warnings_off", default=False)


@contextlib.contextmanager
def range_warnings_off() -> Iterator[None]:
    """Within it, :class:`Surrogate` calls made by this thread do not warn
    :class:`ParameterRangeWarning` (a caller that has said it once for many calls, as
    ``pdesurrogate predict`` does for a whole file); other threads' calls still do, and the
    warning filters are left alone."""
    token = _RANGE_WARNINGS_OFF.set(True)
    try:
        yield
    finally:
        _RANGE_WARNINGS_OFF.reset(token)


def _caller_level() -> int:
    """The ``stacklevel`` for a warning raised by this function's caller that points at the
    first frame outside this file and torch (whose ``no_grad`` wraps :meth:`Surrogate.predict`):
    the user's call."""
    torch_dir = os.path.dirname(torch.__file__) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename == __file__
                                 or frame.f_code.co_filename.startswith(torch_dir)):
        frame, level = frame.f_back, level + 1
    return level


class Surrogate:
    """A loaded surrogate: one step (:meth:`predict`) or many (:meth:`rollout`, or one state at
    a time: :meth:`iterate`), no gradients.

    States are ``(B, C, *grid)`` (or ``(C, *grid)``) in physical units; ``params`` are ``(B, P)``,
    ``(P,)``, ``(B,)`` or a single number for a one-parameter model, or ``{name: value(s)}`` with
    the names ``param_names`` (numbers, numpy arrays or tensors on any device). A model built
    with ``n_params=0`` takes none (``param_names == []``, even when trained on a file with
    parameters, which ``data_param_names`` lists) and refuses them. NaN or inf in a state or a
    parameter is refused naming it; a parameter value outside the range it was trained on
    (:attr:`param_range`, where known) is warned about, once per call
    (:class:`ParameterRangeWarning`). numpy in, numpy out;
    torch in, torch out on the input's device; always float32, the weights' dtype (float64 in
    gives float32 out). One step advances ``config["k"]`` saved steps, i.e. time
    ``config["dt"]``.

    The grid is checked against ``config["grid_shape"]`` (the training grid) by
    :meth:`check_grid`, the check ``pdesurrogate predict`` makes on a file too: an FNO
    (:data:`GRID_FREE_MODELS`) runs on any grid, as in the FNO paper's zero-shot
    super-resolution; every other model is refused on a grid other than its training grid
    (a ValueError naming both) unless ``any_grid=True`` is given to :meth:`predict`,
    :meth:`rollout` or :meth:`iterate`, since its convolutions or patches span a fixed number of
    grid cells and compute another function on another grid. Arrays carry no axis names: the
    order of their spatial axes (``config["grid_names"]``, the training data's) is the caller's
    to keep; only ``pdesurrogate predict`` checks a file's. A PDE-Refiner draws each
    trajectory's refinement noise from a generator seeded by its own first state and
    parameters, as ``test`` does
    (:func:`pdesurrogate.models.refiner.trajectory_generators`): its predictions repeat for
    any batching and match the test metric on the same kind of device (CPU and CUDA generators
    draw different numbers from one seed), and torch's global generator is left alone.
    """

    def __init__(self, model: nn.Module, config: dict):
        self.model = model.train(False)  # inference mode (dropout/norm layers)
        self.n_params = int(getattr(model, "n_params", 0) or 0)
        config = json.loads(json.dumps(config))
        if "data_param_names" not in config:
            # an export older than data_param_names: its param_names were the data's, also for
            # a model that takes none
            config["data_param_names"] = config["param_names"]
        config.setdefault("grid_names", None)  # older exports: not known
        if not self.n_params:
            config["param_names"] = []
        self._config = config
        self.residual = bool(config["residual"])
        stats = config["normalization"]
        self.spatial_dims = len(config["grid_shape"]) if config["grid_shape"] else \
            (stats["spatial_dims"] if stats else getattr(model, "dim", None))
        self.param_names = list(config["param_names"] or [])
        self.data_param_names = config["data_param_names"]

        def tensor(values, std=False):
            # a zero std (constant channel) divides by 1, as in ChannelStats
            vals = [v if v > 0 else 1.0 for v in values] if std else values
            return torch.tensor(vals, dtype=torch.float32)

        self._u_mean = tensor(stats["mean"]) if stats else None
        self._u_std = tensor(stats["std"], std=True) if stats else None
        has_p = bool(stats and stats["param_names"])
        self._p_mean = tensor(stats["param_mean"]) if has_p else None
        self._p_std = tensor(stats["param_std"], std=True) if has_p else None
        # empty: not recorded (an older export); else one value per name (checked by load)
        lows, highs = ((stats.get("param_min") or [], stats.get("param_max") or [])
                       if stats else ([], []))
        self._param_range = {k: (float(lo), float(hi)) for k, lo, hi in zip(
            stats["param_names"], lows, highs, strict=True)} if lows else {}
        self.device = torch.device("cpu")
        self._lead_time_of: tuple[object, bool] = (None, False)  # takes_lead_time's answer

    @property
    def config(self) -> dict:
        """A copy of ``config.json`` (an older export's in the current layout)."""
        return json.loads(json.dumps(self._config))

    @property
    def dt(self) -> float | None:
        return self._config["dt"]

    @property
    def input_names(self) -> list[str] | None:
        """The names of the channels the model takes (None: not known)."""
        return self._config["channel_names"]

    @property
    def param_range(self) -> dict[str, tuple[float, float]]:
        """``{name: (min, max)}``: the range of each of the training data's parameters the
        model was trained on (config.json's ``normalization.param_min`` / ``param_max``);
        ``{}`` when not known (an older export, or none recorded). :meth:`predict`,
        :meth:`rollout` and :meth:`iterate` warn outside it."""
        return dict(self._param_range)

    def outside_training_range(self, params: Params, batch: int = 1) -> str | None:
        """What :meth:`predict` warns (a :class:`ParameterRangeWarning`) for ``params`` of a
        batch of ``batch`` samples, given as it takes them, or None: each value lies within
        :attr:`param_range` widened by :data:`RANGE_MARGIN` of its width on either side (a
        value at the widened bound, or within float32 round-off of it, is inside), the range
        is not known, or the model takes no parameters. Raises what :meth:`predict` raises for
        ``params`` that do not fit."""
        p = self._params(params, _steps(batch))
        return None if p is None else self._range_message(p)

    def _range_message(self, p: torch.Tensor) -> str | None:
        # compared in float32, the dtype the model gets: rounding is monotone, so a value
        # within [min, max] stays within [float32(min), float32(max)] after rounding
        known = [(j, k) for j, k in enumerate(self.param_names) if k in self._param_range]
        if not known or p.shape[0] == 0:
            return None
        lows, highs = (v.cpu().numpy() for v in (p.amin(0), p.amax(0)))
        out = []
        for j, k in known:
            lo, hi = self._param_range[k]
            margin = RANGE_MARGIN * (hi - lo)
            if lows[j] < np.float32(lo - margin) or highs[j] > np.float32(hi + margin):
                given = str(lows[j]) if lows[j] == highs[j] else \
                    f"{str(lows[j])} to {str(highs[j])} (min to max of those given)"
                out.append(f"{k!r} given {given}, trained on [{lo!r}, {hi!r}]")
        if not out:
            return None
        return (f"parameter values outside the range this surrogate was trained on: "
                f"{'; '.join(out)}. Its errors grow outside its training range: these "
                "predictions extrapolate")

    def _warn_outside_range(self, p: torch.Tensor | None) -> None:
        if p is None or _RANGE_WARNINGS_OFF.get():
            return
        message = self._range_message(p)
        if message is not None:
            warnings.warn(message, ParameterRangeWarning, stacklevel=_caller_level())

    def to(self, device: str | torch.device) -> Surrogate:
        self.device = check_device(device)
        self.model.to(self.device)
        for name in ("_u_mean", "_u_std", "_p_mean", "_p_std"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, v.to(self.device))
        return self

    # -- input handling -------------------------------------------------------------------------
    def _tensor(self, v) -> torch.Tensor:
        """``v`` (number, array or tensor on any device) as float32 on this surrogate's
        device; a tensor is detached, not copied through numpy."""
        if isinstance(v, torch.Tensor):
            return v.detach().to(self.device, torch.float32)
        a = np.asarray(v, dtype=np.float32)
        # a read-only array (a reader's constant parameter is a broadcast view) would make
        # torch warn that writes through the tensor are undefined: copy it (callers check its
        # size first, so this is the caller's batch, never a file's N trajectories)
        return torch.as_tensor(a if a.flags.writeable else a.copy()).to(self.device)

    def check_grid(self, grid: Sequence[int], what: str = "u", any_grid: bool = False,
                   opt_out: str = "pass any_grid=True",
                   names: Sequence[str] | None = None) -> str | None:
        """Whether this surrogate may run on ``grid`` (a state's spatial shape), the check of
        both :meth:`predict` (:meth:`rollout`, :meth:`iterate`) and ``pdesurrogate predict``.

        None on the training grid (``config["grid_shape"]``, or any grid where it is not
        known); on another grid a note saying so for a model of :data:`GRID_FREE_MODELS` (an
        FNO) or with ``any_grid``, else a ValueError naming ``what`` (the input), both grids
        and the model, and ``opt_out`` (how to run it there anyway).

        ``names``: the input's spatial axes' names in its order (a file's; an array has none).
        The same names as ``config["grid_names"]`` in another order are a ValueError whatever
        the grid (``any_grid`` too): the model would take the fields transposed, and vector
        components along axes it did not learn. Other names than the training data's (as
        many) are only noted, names not known on either side not checked."""
        notes = (self._axis_order_note(names, what), self._grid_note(grid, what, any_grid,
                                                                      opt_out))
        return "\n".join(n for n in notes if n) or None

    def _grid_note(self, grid: Sequence[int], what: str, any_grid: bool,
                   opt_out: str) -> str | None:
        """:meth:`check_grid`'s check of the grid's shape."""
        train = self._config["grid_shape"]
        grid = tuple(int(n) for n in grid)
        if not train or tuple(train) == grid:
            return None
        train, cls = tuple(train), self._config["model"]["class"]
        if len(grid) != len(train):  # no model runs on another number of axes
            raise ValueError(f"{what}: grid {grid} has {len(grid)} spatial axes; the model "
                             f"({cls}) was trained on the {len(train)}-D grid {train}")
        if cls in GRID_FREE_MODELS:
            return (f"{what} is on grid {grid}, not the training grid {train}: the {cls} is "
                    "evaluated there zero-shot (its Fourier layers do not depend on the grid)")
        if any_grid:
            return (f"{what} is on grid {grid}, not the training grid {train}: the {cls} runs "
                    "there with any_grid, though its layers span grid cells, not lengths")
        raise ValueError(
            f"{what}: grid {grid} is not the model's training grid {train} ({cls}): its "
            "convolutions or patches span a fixed number of grid cells, so on another grid "
            f"it computes another function than it learnt (only {', '.join(GRID_FREE_MODELS)} "
            f"models run on any grid); resample to {train}, or {opt_out} to run it there "
            "anyway")

    def _axis_order_note(self, names: Sequence[str] | None, what: str) -> str | None:
        """:meth:`check_grid`'s check of the axes' names against the training data's
        (``config["grid_names"]``): a ValueError for the same names in another order, a note
        for as many other names, else None."""
        train = self._config["grid_names"]
        if names is None or train is None or len(names) != len(train):
            return None
        names = [str(g) for g in names]
        if names == train:
            return None
        if sorted(names) != sorted(train):
            return (f"{what}'s spatial axes ({', '.join(names)}) are not those the model was "
                    f"trained on ({', '.join(train)}), so their order is not checked: they "
                    "must be in the order of the training data's")
        order = ", ".join(repr(g) for g in train)
        raise ValueError(
            f"{what}: its spatial axes are ({', '.join(names)}) but the model "
            f"({self._config['model']['class']}) was trained on axes ({', '.join(train)}): "
            "it would take this file's fields transposed (and vector components such as "
            "velocity_x would not lie along the axes it learnt them on); transpose the file to "
            f"the model's axis order first, e.g. for a netCDF file: python -c \"import xarray; "
            f"xarray.open_dataset('IN.nc').transpose(..., {order}).to_netcdf('OUT.nc')\"")

    def _state(self, u, name: str = "u",
               any_grid: bool = False) -> tuple[torch.Tensor, bool, bool, torch.device | None]:
        is_np = not isinstance(u, torch.Tensor)
        src_dev = None if is_np else u.device
        x = self._tensor(np.asarray(u) if is_np else u)
        given = tuple(x.shape)  # the caller's shape, for the messages
        dim = self.spatial_dims
        if dim is not None and x.ndim == dim + 1:
            x, batched = x[None], False
        else:
            batched = True
        c = getattr(self.model, "in_channels", None)
        # a (B, *grid) state of a one-channel model lacks only the channel axis
        hint = ""
        if c == 1 and dim is not None and len(given) == dim + 1:
            hint = (f"; if its first axis is the batch, add the channel axis: {name}[:, None] "
                    f"has shape {(given[0], 1, *given[1:])}")
        elif c == 1 and dim is not None and len(given) == dim:
            hint = f"; add the channel axis: {name}[None] has shape {(1, *given)}"
        if dim is not None and x.ndim != dim + 2:
            raise ValueError(f"expected {name} of shape (B, C, *grid) or (C, *grid) with {dim} "
                             f"spatial axes, got {given}{hint}")
        if c is not None and x.shape[1] != c:
            read = "(B, C, *grid)" if batched else "one unbatched sample (C, *grid)"
            raise ValueError(f"expected {c} channel(s) {self.input_names}, got "
                             f"{x.shape[1]} ({name} of shape {given}, read as {read}){hint}")
        self.check_grid(x.shape[2:], name, any_grid)
        finite = torch.isfinite(x)
        if not bool(finite.all()):
            at = tuple(int(i) for i in (~finite).nonzero()[0])
            raise ValueError(f"{name} is not finite: NaN or inf at index "
                             f"{at if batched else at[1:]} (of shape {given}); the surrogate "
                             "needs finite states")
        return x, is_np, batched, src_dev

    def _params(self, params, batch: int) -> torch.Tensor | None:
        cls = self._config["model"]["class"]
        if not self.n_params:
            if params is None or (isinstance(params, dict) and not params):
                return None
            dpn = self.data_param_names
            why = f"; it was trained parameter-blind on a file with {dpn}" if dpn else ""
            raise ValueError(f"this surrogate's model ({cls}) takes no parameters "
                             f"(n_params = 0){why}: call it without params")
        names = self.param_names
        if params is None:
            raise ValueError(f"this surrogate needs params {names}" if names else
                             f"this surrogate needs params: {self.n_params} value(s) per sample")
        if isinstance(params, dict):
            unknown = sorted(set(params) - set(names))
            missing = [k for k in names if k not in params]
            if unknown or missing or not names:
                raise ValueError(f"params: unknown {unknown}, missing {missing}; expected "
                                 f"{names}" + ("" if names else " (this export names no "
                                               "parameters: give an array)"))
            cols = []
            for k in names:
                n = _size(params[k])  # before converting: a file's whole (N,) view is refused
                if n not in (1, batch):
                    raise ValueError(f"params[{k!r}] has {n} values; expected one, or one per "
                                     f"sample ({batch})")
                cols.append(self._tensor(params[k]).reshape(-1).expand(batch))
            p = torch.stack(cols, dim=1)
            given = tuple(p.shape)
        else:
            given = _shape(params)
            p = self._tensor(params) if _size(params) <= batch * self.n_params else None
        want = self.n_params
        if p is not None and p.ndim == 0 and want == 1:
            p = p.reshape(1)  # a single number for a one-parameter model
        if p is not None and p.ndim == 1 and p.numel() == want:
            p = p[None].expand(batch, -1)  # one parameter set for the whole batch
        elif p is not None and p.ndim == 1 and want == 1 and p.numel() == batch:
            p = p[:, None]  # one value per sample of a one-parameter model
        if p is None or p.shape != (batch, want):
            forms = f"({batch}, {want}) or ({want},)" + (
                f" (or ({batch},) or a number)" if want == 1 else "")
            raise ValueError(f"expected params of shape {forms} for {names}, got {given}")
        finite = torch.isfinite(p)
        if not bool(finite.all()):
            i, j = (int(v) for v in (~finite).nonzero()[0])
            name = repr(names[j]) if j < len(names) else str(j)
            raise ValueError(f"params[{name}] is not finite: {p[i, j].item()} for sample {i}; "
                             "the model needs finite parameters")
        return p

    def _norm_params(self, p: torch.Tensor | None) -> torch.Tensor | None:
        if p is not None and self._p_mean is not None:
            p = (p - self._p_mean) / self._p_std
        return p

    def _noise(self, x: torch.Tensor, p: torch.Tensor | None) -> list | None:
        """Per-trajectory refinement-noise generators for a PDE-Refiner (physical ``x`` and
        ``p``, as RefinerModule's evaluation seeds them), None for other models."""
        noise = getattr(self.model, "evaluation_noise", None)
        return noise(x, p) if noise is not None else None

    def _view(self, v: torch.Tensor) -> torch.Tensor:
        return v.reshape(-1, *(1,) * self.spatial_dims)

    def _step(self, x: torch.Tensor, p: torch.Tensor | None, lead=None,
              noise: list | None = None) -> torch.Tensor:
        if noise is not None:
            out = self.model(x, p, generator=noise)
        else:
            out = self.model(x, p) if lead is None else self.model(x, p, lead)
        return x + out if self.residual else out

    @property
    def takes_lead_time(self) -> bool:
        """Whether the model is conditioned on a lead time (scOT): ``predict`` and ``rollout``
        then take ``lead_time``."""
        forward = self.model.forward
        key = getattr(forward, "__func__", forward)
        # inspect.signature on every call was a quarter of the checks a predict or rollout
        # makes before its first step (21 of 87 us for a 1-D FNO, 66 us without it:
        # benchmarks/inference_overhead.py); looked up once per forward function
        if self._lead_time_of[0] is not key:
            self._lead_time_of = (key, "lead_time" in inspect.signature(forward).parameters)
        return self._lead_time_of[1]

    def _lead_time(self, lead_time, batch: int) -> torch.Tensor | None:
        # (B,) lead times for models conditioned on one (ScOT; default: dt), None for the rest
        if not self.takes_lead_time:
            if lead_time is not None:
                raise ValueError(f"this surrogate ({self._config['model']['class']}) steps a "
                                 f"fixed dt = {self.dt}; it takes no lead_time")
            return None
        if lead_time is None:
            if self.dt is None:
                raise ValueError("give lead_time: this surrogate's config has no dt")
            lead_time = self.dt
        if _size(lead_time) not in (1, batch):
            raise ValueError(f"lead_time must be a number or have shape ({batch},), got "
                             f"{_shape(lead_time)}")
        t = self._tensor(lead_time).reshape(-1)
        if t.numel() == 1:
            t = t.expand(batch)
        if t.shape != (batch,):
            raise ValueError(f"lead_time must be a number or have shape ({batch},), got "
                             f"{tuple(t.shape)}")
        # the model was trained on lead times t_j - t_i >= 0; NaN would give NaN fields
        if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
            bad = t[~torch.isfinite(t) | (t < 0)][0].item()
            raise ValueError(f"lead_time must be finite and >= 0, got {bad}")
        return t

    def _norm(self, u: torch.Tensor) -> torch.Tensor:
        if self._u_mean is None:
            return u
        return (u - self._view(self._u_mean)) / self._view(self._u_std)

    def _denorm(self, u: torch.Tensor) -> torch.Tensor:
        if self._u_mean is None:
            return u
        return u * self._view(self._u_std) + self._view(self._u_mean)

    def _out(self, y: torch.Tensor, is_np: bool, batched: bool,
             dev: torch.device | None) -> torch.Tensor | np.ndarray:
        y = y if batched else y[0]
        return y.cpu().numpy() if is_np else y.to(dev)

    def _start(self, u0, params, lead_time, name: str, any_grid: bool = False) -> tuple:
        """The checked inputs of a rollout: ``(x, is_np, batched, dev, p, lead, noise)``, ``x``
        physical on this surrogate's device, ``p`` normalised."""
        x, is_np, batched, dev = self._state(u0, name, any_grid)
        p = self._params(params, x.shape[0])
        self._warn_outside_range(p)  # once per call, before any step
        noise = self._noise(x, p)  # from the physical state and parameters
        lead = self._lead_time(lead_time, x.shape[0])
        return x, is_np, batched, dev, self._norm_params(p), lead, noise

    def _states(self, x: torch.Tensor, p, lead, noise, steps: int):
        """Yields the ``steps`` physical states after ``x``, one at a time, on this surrogate's
        device: only the current one is kept.

        Gradients are off around each step, not across a ``yield``: :meth:`iterate` would
        turn them off in its caller's code between two states."""
        with torch.no_grad():
            z = self._norm(x)
        for k in range(steps):
            with torch.no_grad():
                z = self._step(z, p, lead, noise)
                y = self._denorm(z)
            if y.shape != x.shape:  # a write into a rollout's output would broadcast it
                raise ValueError(f"the model returned a state of shape {tuple(y.shape)} at "
                                 f"step {k + 1}, expected the input's {tuple(x.shape)}")
            yield y

    # -- public ---------------------------------------------------------------------------------
    @overload
    def predict(self, u: torch.Tensor, params: Params = None,
                lead_time: Values | None = None, *, any_grid: bool = False) -> torch.Tensor: ...
    @overload
    def predict(self, u: npt.ArrayLike, params: Params = None,
                lead_time: Values | None = None, *, any_grid: bool = False) -> np.ndarray: ...

    @torch.no_grad()
    def predict(self, u: Values, params: Params = None, lead_time: Values | None = None, *,
                any_grid: bool = False) -> torch.Tensor | np.ndarray:
        """One step: ``u`` ``(B, C, *grid)`` -> ``(B, C, *grid)`` (unbatched in, unbatched out).
        Lead-time models (ScOT) predict at ``lead_time`` (a number or ``(B,)``; default dt).
        ``any_grid``: run a model other than an FNO on a grid other than its training grid
        (refused by default: :meth:`check_grid`). An array has no axis names, so the order of
        its spatial axes cannot be checked: they must be in the training data's order,
        ``config["grid_names"]`` (``pdesurrogate predict`` checks a file's)."""
        x, is_np, batched, dev, p, lead, noise = self._start(u, params, lead_time, "u",
                                                             any_grid)
        try:
            y = next(self._states(x, p, lead, noise, 1))
        finally:
            self._forget()
        return self._out(y, is_np, batched, dev)

    @overload
    def rollout(self, u0: torch.Tensor, params: Params = None,
                steps: int = 1, lead_time: Values | None = None, *,
                any_grid: bool = False) -> torch.Tensor: ...
    @overload
    def rollout(self, u0: npt.ArrayLike, params: Params = None, steps: int = 1,
                lead_time: Values | None = None, *, any_grid: bool = False) -> np.ndarray: ...

    @torch.no_grad()
    def rollout(self, u0: Values, params: Params = None, steps: int = 1,
                lead_time: Values | None = None, *,
                any_grid: bool = False) -> torch.Tensor | np.ndarray:
        """``steps`` autoregressive steps: ``(B, C, *grid)`` -> ``(B, steps + 1, C, *grid)``,
        ``u0`` first (unbatched: ``(steps + 1, C, *grid)``); lead-time models step
        ``lead_time`` each (default dt).

        The output is made where it is returned: on the host for a numpy ``u0``, on ``u0``'s
        device for a tensor. A surrogate on a GPU then holds one state of a numpy rollout at a
        time, not all ``steps + 1`` (each is copied to the host as it comes). For horizons or
        batches whose whole rollout does not fit in memory, :meth:`iterate` yields one state
        at a time. ``any_grid``: as for :meth:`predict`."""
        steps = _steps(steps)
        x, is_np, batched, dev, p, lead, noise = self._start(u0, params, lead_time, "u0",
                                                             any_grid)
        where = torch.device("cpu") if is_np else dev
        # each step is written into the output as it comes: a list of steps stacked at the end
        # held the output twice (4000 trajectories x 200 steps: +1.66 GB for a 785 MB result)
        out = None
        try:
            for k, y in enumerate(self._states(x, p, lead, noise, steps)):
                if out is None:  # the dtype torch.stack gave, should the model's differ from x's
                    out = torch.empty((x.shape[0], steps + 1, *x.shape[1:]), device=where,
                                      dtype=torch.promote_types(x.dtype, y.dtype))
                    out[:, 0] = x
                out[:, k + 1] = y
        finally:
            self._forget()
        return self._out(x[:, None].to(where, copy=True) if out is None else out, is_np,
                         batched, dev)

    @overload
    def iterate(self, u0: torch.Tensor, params: Params = None,
                steps: int = 1, lead_time: Values | None = None, *,
                any_grid: bool = False) -> Iterator[torch.Tensor]: ...
    @overload
    def iterate(self, u0: npt.ArrayLike, params: Params = None, steps: int = 1,
                lead_time: Values | None = None, *,
                any_grid: bool = False) -> Iterator[np.ndarray]: ...

    def iterate(self, u0: Values, params: Params = None, steps: int = 1,
                lead_time: Values | None = None, *,
                any_grid: bool = False) -> Iterator[torch.Tensor] | Iterator[np.ndarray]:
        """The states of :meth:`rollout` after ``u0``, one at a time: an iterator of ``steps``
        states ``(B, C, *grid)`` (unbatched: ``(C, *grid)``), numpy for a numpy ``u0``, else
        tensors on ``u0``'s device. Only the current state is kept (on the device and, for
        numpy, on the host), so a long horizon or a large batch needs the memory of one step:
        keep the last state, reduce each one, or write each to a file as it comes.

        The inputs are checked here, before the first step; the model runs as the states are
        taken, with gradients off during each step only. A PDE-Refiner's noise generators
        are this iterator's own (as in :meth:`rollout`), so other calls may come between two
        states. ``any_grid``: as for :meth:`predict`."""
        steps = _steps(steps)
        x, is_np, batched, dev, p, lead, noise = self._start(u0, params, lead_time, "u0",
                                                             any_grid)

        def states():
            try:
                for y in self._states(x, p, lead, noise, steps):
                    yield self._out(y, is_np, batched, dev)
            finally:
                self._forget()

        return states()

    def _forget(self) -> None:
        if hasattr(self.model, "cape_output"):
            self.model.cape_output = None

    def __repr__(self) -> str:
        m = self._config["model"]["class"]
        ignored = "" if self.n_params or not self.data_param_names else \
            f", ignores_data_params={self.data_param_names}"
        identity = ", normalization='identity'" if self._config["normalization"] is None else ""
        return (f"Surrogate(model={m!r}, pde={self._config['pde']!r}, "
                f"channels={self._config['channel_names']}, params={self.param_names}"
                f"{ignored}, dt={self.dt}{identity})")
