"""Export a trained surrogate to a directory and load it back, never unpickling anything.

Layout of an exported surrogate (``outdir``)::

    config.json        format_version, pdesurrogate_version, model ({"class", "init_args"} of a
                       name in pdesurrogate.models.MODELS), residual, pde, grid_shape,
                       channel_names, param_names, k, dt, normalization (ChannelStats.to_dict())
    model.safetensors  the model's state_dict (safetensors: a JSON header plus raw arrays)

:func:`export_surrogate` takes a :class:`~pdesurrogate.training.NextStepModule` or a Lightning
``.ckpt`` (read with ``torch.load(weights_only=True)``, which refuses arbitrary objects) and writes
the directory under a temporary name, renamed when complete; a file that is not such a checkpoint
is one ValueError, ``'<path>': not a Lightning checkpoint (<reason>)``. :func:`load` checks every
key of ``config.json``, that its grid, channels, parameters and normalisation fit the model it
names, and every tensor name and shape before loading the weights, and refuses pickle files
with a ValueError naming the file. The same checks run on an export before it is renamed into
place, so nothing is written that ``load`` would refuse.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pdesurrogate.export_files import (
    CONFIG_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    check_device,
    check_tensors,
    package_version,
    read_checkpoint,
    read_weights,
    write_export,
)
from pdesurrogate.models import build_model

CONFIG_KEYS = ("format_version", "pdesurrogate_version", "model", "residual", "pde",
               "grid_shape", "channel_names", "param_names", "k", "dt", "normalization")


# -- export ---------------------------------------------------------------------------------------
def _from_module(module) -> tuple[dict, dict, dict]:
    spec = getattr(module, "model_spec", None)
    if spec is None:
        raise ValueError(f"{type(module.model).__qualname__} is not a registered model "
                         "(pdesurrogate.models.MODELS): it cannot be exported")
    stats = module.stats.to_dict() if module.stats is not None else None
    extra = {"normalization": stats, "data_info": module.data_info,
             "residual": bool(module.residual)}
    return spec, module.model.state_dict(), extra


def _from_checkpoint(path: Path, ckpt: dict) -> tuple[dict, dict, dict]:
    hp = ckpt.get("hyper_parameters") or {}
    spec = hp.get("model_spec")
    if spec is None:
        raise ValueError(f"{str(path)!r}: no 'model_spec' in the hyper-parameters; was it "
                         "written by NextStepModule with a registered model?")
    state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items()
             if k.startswith("model.")}
    saved = ckpt.get("pdesurrogate") or {}
    extra = {"normalization": saved.get("normalization"), "data_info": saved.get("data_info"),
             "residual": bool(hp.get("residual", False))}
    return spec, state, extra


def export_surrogate(source, outdir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``outdir/config.json`` and ``outdir/model.safetensors``.

    Args:
        source: a ``NextStepModule`` or the path of a Lightning ``.ckpt`` it wrote.
        outdir: the surrogate directory to create.
        overwrite: replace an existing ``outdir``.

    Returns the path of ``outdir``. Raises FileExistsError if it exists and not ``overwrite``
    (``--overwrite`` on the command line), ValueError for a path that is not a Lightning
    checkpoint (see :func:`read_checkpoint`).
    """
    out = Path(outdir)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{str(out)!r} exists; pass --overwrite (overwrite=True) to "
                              "replace it")
    # imported here: pdesurrogate.pinn brings in Lightning, which load's users need not pay for
    from pdesurrogate.pinn.export import export_pinn, is_pinn_hparams, is_pinn_source

    if isinstance(source, (str, os.PathLike)):
        # read (and vet) the file once here: a PINN checkpoint has its own layout
        ckpt = read_checkpoint(source)
        if is_pinn_hparams(ckpt.get("hyper_parameters")):
            return export_pinn(source, outdir, overwrite=overwrite)
        spec, state, extra = _from_checkpoint(Path(source), ckpt)
    elif is_pinn_source(source):
        return export_pinn(source, outdir, overwrite=overwrite)
    elif hasattr(source, "model") and hasattr(source, "model_spec"):
        spec, state, extra = _from_module(source)
    else:
        raise ValueError(f"source must be a NextStepModule or a .ckpt path, got "
                         f"{type(source).__name__}")
    info = extra["data_info"] or {}
    config = {
        "format_version": FORMAT_VERSION,
        "pdesurrogate_version": package_version(),
        "model": spec,
        "residual": extra["residual"],
        "pde": info.get("pde"),
        "grid_shape": info.get("grid_shape"),
        "channel_names": info.get("channel_names"),
        "param_names": info.get("param_names"),
        "k": info.get("k"),
        "dt": info.get("dt"),
        "normalization": extra["normalization"],
    }
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    return write_export(out, config, tensors, check=lambda tmp: _check_export(config, tmp))


def _check_export(config: dict, tmp: Path) -> None:
    """The checks :func:`load` makes, on the written files: config.json against a model built
    on the meta device (no memory), and model.safetensors read back against that model."""
    model = _checked_model(config, tmp / CONFIG_NAME, meta=True)
    check_tensors(model, read_weights(tmp / WEIGHTS_NAME), tmp / WEIGHTS_NAME)


# -- load -----------------------------------------------------------------------------------------
def _check_config(cfg, path: Path) -> None:
    where = str(path)
    if not isinstance(cfg, dict):
        raise ValueError(f"{where!r}: expected a JSON object, got {type(cfg).__name__}")
    unknown = sorted(set(cfg) - set(CONFIG_KEYS))
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    if unknown or missing:
        raise ValueError(f"{where!r}: unknown key(s) {unknown}, missing key(s) {missing}; "
                         f"expected exactly {list(CONFIG_KEYS)}")
    if cfg["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{where!r}: format_version {cfg['format_version']!r} is not supported "
                         f"(this pdesurrogate reads {FORMAT_VERSION})")

    def check(key, ok, expected):
        if not ok:
            raise ValueError(f"{where!r}: {key} must be {expected}, got {cfg[key]!r}")

    def str_list(v):
        return v is None or (isinstance(v, list) and all(isinstance(s, str) for s in v))

    check("residual", isinstance(cfg["residual"], bool), "true or false")
    check("pde", cfg["pde"] is None or isinstance(cfg["pde"], str), "a string or null")
    g = cfg["grid_shape"]
    check("grid_shape", g is None or (isinstance(g, list) and 1 <= len(g) <= 3 and all(
        isinstance(n, int) and n > 0 for n in g)), "null or a list of 1-3 positive ints")
    check("channel_names", str_list(cfg["channel_names"]), "null or a list of strings")
    check("param_names", str_list(cfg["param_names"]), "null or a list of strings")
    check("k", cfg["k"] is None or (isinstance(cfg["k"], int) and cfg["k"] >= 1),
          "null or an int >= 1")
    dt = cfg["dt"]
    check("dt", dt is None or (isinstance(dt, (int, float)) and not isinstance(dt, bool)
                               and math.isfinite(dt) and dt > 0), "null or a positive number")
    _stats(cfg, where)


def _check_consistent(cfg: dict, where: str) -> None:
    """Keys of a type-checked config that describe the same thing must agree: grid_shape and
    normalization.spatial_dims, channel_names and normalization.mean / std, param_names and
    normalization.param_names."""
    stats = _stats(cfg, where)
    if stats is None:
        return
    g, names, pn = cfg["grid_shape"], cfg["channel_names"], cfg["param_names"]
    if g is not None and stats.spatial_dims != len(g):
        raise ValueError(f"{where!r}: normalization.spatial_dims is {stats.spatial_dims} but "
                         f"grid_shape {g} has {len(g)} axes; expected the same number")
    if names is not None and len(stats.mean) != len(names):
        raise ValueError(f"{where!r}: normalization.mean and .std have {len(stats.mean)} "
                         f"values but channel_names {names} has {len(names)}; expected one "
                         "per channel")
    if pn is not None and stats.param_names != pn:
        raise ValueError(f"{where!r}: normalization.param_names {stats.param_names} differs "
                         f"from param_names {pn}; expected the same names in the same order")


_STATS_KEYS = ("mean", "std", "spatial_dims", "param_names", "param_mean", "param_std")


def _stats(cfg: dict, where: str):
    """config.json's ``normalization`` as a :class:`ChannelStats` (None if null); it must
    have every key ``ChannelStats.to_dict`` writes (:class:`Surrogate` reads them all)."""
    d = cfg["normalization"]
    if d is None:
        return None
    from pdesurrogate.datasets import ChannelStats

    if not isinstance(d, dict) or any(k not in d for k in _STATS_KEYS):
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"{where!r}: normalization must be null or an object with keys "
                         f"{list(_STATS_KEYS)}, got {got}")
    try:
        return ChannelStats.from_dict(d)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where!r}: normalization: {e}") from None


def _check_fits_model(cfg: dict, model: nn.Module, where: str) -> None:
    """config.json's grid, channels and parameters must be those of the model it names (read
    from the model's ``dim``, ``in_channels``, ``out_channels`` and ``n_params`` where it has
    them)."""
    cls = cfg["model"]["class"]
    dim = getattr(model, "dim", None)
    g, names, pn = cfg["grid_shape"], cfg["channel_names"], cfg["param_names"]
    stats = _stats(cfg, where)
    if dim is not None:
        if g is not None and len(g) != dim:
            raise ValueError(f"{where!r}: grid_shape {g} has {len(g)} axes but the model "
                             f"({cls}) is {dim}-D; expected a list of {dim} ints")
        if stats is not None and stats.spatial_dims != dim:
            raise ValueError(f"{where!r}: normalization.spatial_dims is {stats.spatial_dims} "
                             f"but the model ({cls}) is {dim}-D; expected {dim}")
    for attr in ("in_channels", "out_channels"):
        c = getattr(model, attr, None)
        if c is None:
            continue
        if names is not None and len(names) != c:
            raise ValueError(f"{where!r}: channel_names {names} has {len(names)} names but the "
                             f"model ({cls}) has {attr} = {c}; expected {c} names")
        if stats is not None and len(stats.mean) != c:
            raise ValueError(f"{where!r}: normalization.mean and .std have {len(stats.mean)} "
                             f"values but the model ({cls}) has {attr} = {c}; expected {c}")
    n_params = int(getattr(model, "n_params", 0) or 0)
    # a model without parameters ignores them, so its param_names (the data's) are free
    if n_params and pn is not None and len(pn) != n_params:
        raise ValueError(f"{where!r}: param_names {pn} has {len(pn)} names but the model "
                         f"({cls}) takes n_params = {n_params}; expected {n_params} names")
    if n_params and pn is None and stats is not None and stats.param_names \
            and len(stats.param_names) != n_params:
        raise ValueError(f"{where!r}: normalization.param_names {stats.param_names} has "
                         f"{len(stats.param_names)} names but the model ({cls}) takes "
                         f"n_params = {n_params}; expected {n_params}")


def _checked_model(cfg, cfg_path: Path, meta: bool = False) -> nn.Module:
    """Check ``cfg`` (config.json at ``cfg_path``), build its model and check that the config
    fits it; ``meta``: build on the meta device (no memory; for checks only)."""
    _check_config(cfg, cfg_path)
    try:
        if meta:
            with torch.device("meta"):
                model = build_model(cfg["model"], "model")
        else:
            model = build_model(cfg["model"], "model")
    except (TypeError, ValueError) as e:
        raise ValueError(f"{str(cfg_path)!r}: {e}") from None
    _check_fits_model(cfg, model, str(cfg_path))
    _check_consistent(cfg, str(cfg_path))
    return model


def load(outdir: str | os.PathLike, device: str | torch.device = "cpu") -> Surrogate:
    """Load an exported surrogate directory; see :class:`Surrogate`. A PINN export
    (``"kind": "pinn"``) loads as :class:`pdesurrogate.pinn.PINNSurrogate` (u at points).

    Raises:
        FileNotFoundError: the directory or one of its two files is missing.
        ValueError (naming the file): invalid JSON, missing or unknown config keys, a model
            not in ``MODELS`` or bad constructor arguments, a grid, channel_names, param_names
            or normalization that contradict each other or the model, a weights file that is
            a pickle or not safetensors, missing/unexpected tensors or wrong shapes; a
            ``device`` this torch cannot use (e.g. ``"cuda"`` on a CPU-only build).
    """
    device = check_device(device)
    d = Path(outdir)
    cfg_path, w_path = d / CONFIG_NAME, d / WEIGHTS_NAME
    for p in (d, cfg_path, w_path):
        if not p.exists():
            raise FileNotFoundError(f"{str(p)!r} does not exist (an exported surrogate is a "
                                    f"directory holding {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{str(cfg_path)!r} is not valid JSON: {e}") from None
    if isinstance(cfg, dict) and cfg.get("kind") == "pinn":
        from pdesurrogate.pinn.export import load_pinn  # a PINN: u(x) at points (Lightning)

        return load_pinn(d, cfg, device)
    model = _checked_model(cfg, cfg_path)
    tensors = read_weights(w_path)
    check_tensors(model, tensors, w_path)
    model.load_state_dict(tensors, strict=True)
    return Surrogate(model, cfg).to(device)


class Surrogate:
    """A loaded surrogate: one step (:meth:`predict`) or many (:meth:`rollout`), no gradients.

    States are ``(B, C, *grid)`` (or ``(C, *grid)``) in physical units; ``params`` are ``(B, P)``,
    ``(P,)``, ``(B,)`` for a one-parameter model, or ``{name: value(s)}`` in
    ``config["param_names"]`` order (None for models without parameters). numpy in, numpy out;
    torch in, torch out on the input's device; always float32, the weights' dtype (float64 in
    gives float32 out). One step advances ``config["k"]`` saved steps, i.e. time
    ``config["dt"]``.

    The grid is not checked against ``config["grid_shape"]`` (the training grid): an FNO
    evaluates on any resolution, as in the FNO paper's zero-shot super-resolution, while
    U-Nets and scOT need grids their down-sampling or patches divide (``pdesurrogate predict``
    refuses a file on another grid). A PDE-Refiner draws noise from torch's global generator:
    call ``torch.manual_seed`` first for repeatable predictions.
    """

    def __init__(self, model: nn.Module, config: dict):
        self.model = model.train(False)  # inference mode (dropout/norm layers)
        self._config = json.loads(json.dumps(config))
        self.residual = bool(config["residual"])
        stats = config["normalization"]
        self.spatial_dims = len(config["grid_shape"]) if config["grid_shape"] else \
            (stats["spatial_dims"] if stats else getattr(model, "dim", None))
        self.n_params = int(getattr(model, "n_params", 0))
        self.param_names = list(config["param_names"] or [])

        def tensor(values, std=False):
            # a zero std (constant channel) divides by 1, as in ChannelStats
            vals = [v if v > 0 else 1.0 for v in values] if std else values
            return torch.tensor(vals, dtype=torch.float32)

        self._u_mean = tensor(stats["mean"]) if stats else None
        self._u_std = tensor(stats["std"], std=True) if stats else None
        has_p = bool(stats and stats["param_names"])
        self._p_mean = tensor(stats["param_mean"]) if has_p else None
        self._p_std = tensor(stats["param_std"], std=True) if has_p else None
        self.device = torch.device("cpu")

    @property
    def config(self) -> dict:
        """A copy of ``config.json``."""
        return json.loads(json.dumps(self._config))

    @property
    def dt(self) -> float | None:
        return self._config["dt"]

    def to(self, device: str | torch.device) -> Surrogate:
        self.device = check_device(device)
        self.model.to(self.device)
        for name in ("_u_mean", "_u_std", "_p_mean", "_p_std"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, v.to(self.device))
        return self

    # -- input handling -------------------------------------------------------------------------
    def _state(self, u) -> tuple[torch.Tensor, bool, bool, torch.device | None]:
        is_np = not isinstance(u, torch.Tensor)
        src_dev = None if is_np else u.device
        x = torch.as_tensor(np.asarray(u) if is_np else u).to(self.device, torch.float32)
        dim = self.spatial_dims
        if dim is not None and x.ndim == dim + 1:
            x, batched = x[None], False
        else:
            batched = True
        if dim is not None and x.ndim != dim + 2:
            raise ValueError(f"expected u of shape (B, C, *grid) or (C, *grid) with {dim} "
                             f"spatial axes, got {tuple(x.shape)}")
        c = getattr(self.model, "in_channels", None)
        if c is not None and x.shape[1] != c:
            raise ValueError(f"expected {c} channels {self._config['channel_names']}, got "
                             f"{x.shape[1]} (shape {tuple(x.shape)})")
        return x, is_np, batched, src_dev

    def _params(self, params, batch: int) -> torch.Tensor | None:
        if params is None:
            if self.n_params:
                raise ValueError(f"this surrogate needs params {self.param_names}")
            return None
        if isinstance(params, dict):
            unknown = sorted(set(params) - set(self.param_names))
            missing = [k for k in self.param_names if k not in params]
            if unknown or missing:
                raise ValueError(f"params: unknown {unknown}, missing {missing}; expected "
                                 f"{self.param_names}")
            cols = [torch.as_tensor(np.asarray(params[k], dtype=np.float32)).reshape(-1)
                    for k in self.param_names]
            p = torch.stack([c.expand(batch) if c.numel() == 1 else c for c in cols], dim=1)
        else:
            p = torch.as_tensor(np.asarray(params, dtype=np.float32)
                                if not isinstance(params, torch.Tensor) else params)
            p = p.to(torch.float32)
        given = tuple(p.shape)
        want = len(self.param_names) if self.param_names else self.n_params
        if p.ndim == 1 and p.numel() == want:
            p = p[None].expand(batch, -1)  # one parameter set for the whole batch
        elif p.ndim == 1 and want == 1 and p.numel() == batch:
            p = p[:, None]  # one value per sample of a one-parameter model
        p = p.to(self.device)
        if p.shape != (batch, want):
            raise ValueError(f"expected params of shape ({batch}, {want}) or ({want},) for "
                             f"{self.param_names}, got {given}")
        if self._p_mean is not None:
            p = (p - self._p_mean) / self._p_std
        return p

    def _view(self, v: torch.Tensor) -> torch.Tensor:
        return v.reshape(-1, *(1,) * self.spatial_dims)

    def _step(self, x: torch.Tensor, p: torch.Tensor | None, lead=None) -> torch.Tensor:
        out = self.model(x, p) if lead is None else self.model(x, p, lead)
        return x + out if self.residual else out

    @property
    def takes_lead_time(self) -> bool:
        """Whether the model is conditioned on a lead time (scOT): ``predict`` and ``rollout``
        then take ``lead_time``."""
        return "lead_time" in inspect.signature(self.model.forward).parameters

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
        t = torch.as_tensor(np.asarray(lead_time, dtype=np.float32) if not isinstance(
            lead_time, torch.Tensor) else lead_time).to(self.device, torch.float32).reshape(-1)
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

    def _out(self, y: torch.Tensor, is_np: bool, batched: bool, dev):
        y = y if batched else y[0]
        return y.cpu().numpy() if is_np else y.to(dev)

    # -- public ---------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, u, params=None, lead_time=None):
        """One step: ``u`` ``(B, C, *grid)`` -> ``(B, C, *grid)`` (unbatched in, unbatched out).
        Lead-time models (ScOT) predict at ``lead_time`` (a number or ``(B,)``; default dt)."""
        x, is_np, batched, dev = self._state(u)
        p = self._params(params, x.shape[0])
        lead = self._lead_time(lead_time, x.shape[0])
        y = self._denorm(self._step(self._norm(x), p, lead))
        self._forget()
        return self._out(y, is_np, batched, dev)

    @torch.no_grad()
    def rollout(self, u0, params=None, steps: int = 1, lead_time=None):
        """``steps`` autoregressive steps: ``(B, C, *grid)`` -> ``(B, steps + 1, C, *grid)``,
        ``u0`` first (unbatched: ``(steps + 1, C, *grid)``); lead-time models step
        ``lead_time`` each (default dt)."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be an int >= 0, got {steps!r}")
        x, is_np, batched, dev = self._state(u0)
        p = self._params(params, x.shape[0])
        lead = self._lead_time(lead_time, x.shape[0])
        out = [x]
        z = self._norm(x)
        for _ in range(steps):
            z = self._step(z, p, lead)
            out.append(self._denorm(z))
        self._forget()
        return self._out(torch.stack(out, dim=1), is_np, batched, dev)

    def _forget(self) -> None:
        if hasattr(self.model, "cape_output"):
            self.model.cape_output = None

    def __repr__(self) -> str:
        m = self._config["model"]["class"]
        return (f"Surrogate(model={m!r}, pde={self._config['pde']!r}, "
                f"channels={self._config['channel_names']}, params={self.param_names}, "
                f"dt={self.dt})")
