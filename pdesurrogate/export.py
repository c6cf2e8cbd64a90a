"""Export a trained surrogate to a directory and load it back, never unpickling anything.

Layout of an exported surrogate (``outdir``)::

    config.json        format_version, pdesurrogate_version, model ({"class", "init_args"} of a
                       name in pdesurrogate.models.MODELS), residual, pde, grid_shape,
                       channel_names, param_names, k, dt, normalization (ChannelStats.to_dict())
    model.safetensors  the model's state_dict (safetensors: a JSON header plus raw arrays)

:func:`export_surrogate` takes a :class:`~pdesurrogate.training.NextStepModule` or a Lightning
``.ckpt`` (read with ``torch.load(weights_only=True)``, which refuses arbitrary objects) and writes
the directory under a temporary name, renamed when complete. :func:`load` checks every key of
``config.json`` and every tensor name and shape before building the model, and refuses pickle
files with a ValueError naming the file.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import pickle
import shutil
import stat
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from pdesurrogate.models import build_model

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CONFIG_KEYS = ("format_version", "pdesurrogate_version", "model", "residual", "pde",
               "grid_shape", "channel_names", "param_names", "k", "dt", "normalization")
# first bytes of files torch.save / pickle write: a zip archive, or pickle protocol >= 2
_PICKLE_MAGIC = (b"PK\x03\x04", b"\x80")


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("pdesurrogate")
    except PackageNotFoundError:
        return "unknown"


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


def _from_checkpoint(path: Path) -> tuple[dict, dict, dict]:
    try:
        ckpt = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        raise ValueError(f"{str(path)!r}: cannot read as a Lightning checkpoint with "
                         f"torch.load(weights_only=True): {e}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"{str(path)!r}: not a Lightning checkpoint (no 'state_dict')")
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

    Returns the path of ``outdir``. Raises FileExistsError if it exists and not ``overwrite``.
    """
    out = Path(outdir)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{str(out)!r} exists; pass overwrite=True to replace it")
    from pdesurrogate.pinn.export import export_pinn, is_pinn_source  # PINNs: own layout

    if is_pinn_source(source):
        return export_pinn(source, outdir, overwrite=overwrite)
    if isinstance(source, (str, os.PathLike)):
        spec, state, extra = _from_checkpoint(Path(source))
    elif hasattr(source, "model") and hasattr(source, "model_spec"):
        spec, state, extra = _from_module(source)
    else:
        raise ValueError(f"source must be a NextStepModule or a .ckpt path, got "
                         f"{type(source).__name__}")
    info = extra["data_info"] or {}
    config = {
        "format_version": FORMAT_VERSION,
        "pdesurrogate_version": _version(),
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
    return write_export(out, config, tensors,
                        check=lambda tmp: _check_config(config, tmp / CONFIG_NAME))


def write_export(out: Path, config: dict, tensors: dict[str, torch.Tensor], check) -> Path:
    """Write ``out/config.json`` and ``out/model.safetensors`` under a temporary name next to
    ``out``, call ``check(tmp_dir)`` (it raises on what ``load`` would refuse), then replace
    ``out`` by it; on any error nothing is left behind and an existing ``out`` is untouched.
    Shared by every export layout (surrogates, PINNs)."""
    # own contiguous copies: safetensors refuses views sharing memory
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        # safetensors creates its file 0600; give it the mode the umask gave config.json, so a
        # model shared in a group directory is readable as a whole
        os.chmod(tmp / WEIGHTS_NAME, stat.S_IMODE((tmp / CONFIG_NAME).stat().st_mode))
        check(tmp)  # never write what load would refuse
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


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
    if cfg["normalization"] is not None:
        from pdesurrogate.datasets import ChannelStats

        try:
            ChannelStats.from_dict(cfg["normalization"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where!r}: normalization: {e}") from None


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    with open(path, "rb") as f:
        head = f.read(8)
    if any(head.startswith(m) for m in _PICKLE_MAGIC):
        raise ValueError(f"{str(path)!r} is a pickle / torch.save file, not safetensors; "
                         "refusing to load it (pickles can run arbitrary code)")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{str(path)!r} is not a valid safetensors file: {e}") from None


def _check_tensors(model: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [f"{k}: {tuple(tensors[k].shape)} (expected {tuple(v.shape)})"
             for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    wrong += [f"{k}: dtype {tensors[k].dtype} (expected {v.dtype})"
              for k, v in expected.items() if k in tensors and tensors[k].dtype != v.dtype]
    if missing or unexpected or wrong:
        raise ValueError(f"{str(path)!r} does not match the model in config.json: missing "
                         f"{missing[:10]}, unexpected {unexpected[:10]}, wrong {wrong[:10]}")


def load(outdir: str | os.PathLike, device: str | torch.device = "cpu") -> Surrogate:
    """Load an exported surrogate directory; see :class:`Surrogate`. A PINN export
    (``"kind": "pinn"``) loads as :class:`pdesurrogate.pinn.PINNSurrogate` (u at points).

    Raises:
        FileNotFoundError: the directory or one of its two files is missing.
        ValueError (naming the file): invalid JSON, missing or unknown config keys, a model
            not in ``MODELS`` or bad constructor arguments, a weights file that is a pickle or
            not safetensors, missing/unexpected tensors or wrong shapes.
    """
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
        from pdesurrogate.pinn.export import load_pinn  # a PINN: u(x) at points

        return load_pinn(d, cfg, device)
    _check_config(cfg, cfg_path)
    try:
        model = build_model(cfg["model"], "model")
    except (TypeError, ValueError) as e:
        raise ValueError(f"{str(cfg_path)!r}: {e}") from None
    tensors = _read_weights(w_path)
    _check_tensors(model, tensors, w_path)
    model.load_state_dict(tensors, strict=True)
    return Surrogate(model, cfg).to(device)


class Surrogate:
    """A loaded surrogate: one step (:meth:`predict`) or many (:meth:`rollout`), no gradients.

    States are ``(B, C, *grid)`` (or ``(C, *grid)``) in physical units; ``params`` are ``(B, P)``,
    ``(P,)`` or ``{name: value(s)}`` in ``config["param_names"]`` order (None for models
    without parameters). numpy in, numpy (float32) out; torch in, torch out on the input's
    device. One step advances ``config["k"]`` saved steps, i.e. time ``config["dt"]``.
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
        self.device = torch.device(device)
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
            if p.ndim == 1:
                p = p[None].expand(batch, -1)
        p = p.to(self.device)
        want = len(self.param_names) if self.param_names else self.n_params
        if p.shape != (batch, want):
            raise ValueError(f"expected params of shape ({batch}, {want}) for "
                             f"{self.param_names}, got {tuple(p.shape)}")
        if self._p_mean is not None:
            p = (p - self._p_mean) / self._p_std
        return p

    def _view(self, v: torch.Tensor) -> torch.Tensor:
        return v.reshape(-1, *(1,) * self.spatial_dims)

    def _step(self, x: torch.Tensor, p: torch.Tensor | None, lead=None) -> torch.Tensor:
        out = self.model(x, p) if lead is None else self.model(x, p, lead)
        return x + out if self.residual else out

    def _lead_time(self, lead_time, batch: int) -> torch.Tensor | None:
        # (B,) lead times for models conditioned on one (ScOT; default: dt), None for the rest
        if "lead_time" not in inspect.signature(self.model.forward).parameters:
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
