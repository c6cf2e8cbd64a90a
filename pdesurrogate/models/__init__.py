"""Neural surrogate models, all with one interface:

``forward(u: (B, C_in, *grid), params: (B, P) | None) -> (B, C_out, *grid)``.

:data:`MODELS` is the one name -> class map. :func:`model_spec` records a model as plain JSON
(``{"class": name, "init_args": {...}}``, read back from the constructor's argument names, which
every model stores as attributes of the same name); :func:`build_model` rebuilds it. Only names in
:data:`MODELS` are ever built, so a config file cannot make us import arbitrary code.

Adding a model (``fno.py`` and ``unet.py`` are the short ones to copy): one file here, one
``nn.Module`` class. Its constructor takes plain typed arguments (numbers, strings, booleans,
lists, or another registered model), checks them (``_checks.check_int``) and stores each as an
attribute of the same name, without ``*args``/``**kwargs``: :func:`model_spec` reads them back
for checkpoints and ``config.json``, and refuses a model that does not. ``forward(u, params)``
as above; attributes ``dim``, ``in_channels``, ``out_channels`` and ``n_params``, which
``_checks.check_params`` reads and ``pdesurrogate.load`` checks ``config.json``'s grid, channel
and parameter names against; a ``weight_dtypes`` tuple if it runs only in some float dtypes
(``--trainer.precision`` is checked against it). Import heavy libraries inside the constructor
(``import pdesurrogate.models`` must not import neuralop: ``tests/models/test_models.py``). Then
add it to :data:`MODELS` and ``__all__``: unregistered, ``fit`` trains it with a warning but
``export`` refuses it, and ``load`` builds nothing else. Export and load need no other change.
``NextStepModule`` trains it (a config like ``configs/fit/fno_burgers.yaml`` with ``class_path:
pdesurrogate.models.YourModel``); a ``forward`` that also takes ``lead_time`` trains with
``All2AllModule``, and the loaded surrogate passes it one. A default changed after models were
exported goes into :data:`SPEC_DEFAULTS_BEFORE` with its old value, so those exports still build
the model they were saved from. Tests: ``tests/models/test_<name>.py``, and the name in
``tests/test_devices.py``'s exported-surrogate list.
"""

from __future__ import annotations

import inspect
import math

from torch import nn

from .cape import CAPEModule, CAPEWrapper, SpectralConv
from .fno import FNO
from .modern_unet import ModernUNet
from .refiner import PDERefiner
from .scot import SCOT_PRESETS, ScOT
from .unet import UNet

MODELS: dict[str, type[nn.Module]] = {
    "fno": FNO,
    "unet": UNet,
    "cape": CAPEWrapper,
    "cape_module": CAPEModule,
    "scot": ScOT,
    "modern_unet": ModernUNet,
    "pde_refiner": PDERefiner,
}

SPEC_KEYS = ("class", "init_args")
# arguments added after specs were first written, with the value a spec written before then
# was built with when that differs from today's default (a spec without the argument builds
# the model it was saved from)
SPEC_DEFAULTS_BEFORE: dict[str, dict[str, object]] = {
    "cape_module": {"padding_mode": "zeros"},  # the depth-wise path padded with zeros
}


def model_name(model: nn.Module) -> str | None:
    """The :data:`MODELS` name of ``model``'s class, or None if it is not registered."""
    return next((k for k, v in MODELS.items() if type(model) is v), None)


def _plain(name: str, value):
    """``value`` as JSON-friendly data (nested models as specs), else a ValueError."""
    if isinstance(value, nn.Module):
        return model_spec(value)
    if isinstance(value, (list, tuple)):
        return [_plain(name, v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise ValueError(f"model argument {name!r} = {value!r} is not JSON-friendly (use numbers, "
                     "strings, booleans, lists or registered models)")


def model_spec(model: nn.Module) -> dict:
    """``{"class": name, "init_args": {...}}`` for a model whose class is in :data:`MODELS`."""
    name = model_name(model)
    if name is None:
        raise ValueError(f"{type(model).__module__}.{type(model).__qualname__} is not a "
                         f"registered model; choose one of {sorted(MODELS)} or add it to MODELS")
    args = {}
    for p in list(inspect.signature(type(model).__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ValueError(f"{name}: *args/**kwargs constructors cannot be recorded")
        if not hasattr(model, p.name):
            raise ValueError(f"{name}: constructor argument {p.name!r} is not stored as an "
                             "attribute of the same name")
        args[p.name] = _plain(p.name, getattr(model, p.name))
    return {"class": name, "init_args": args}


def _checked_spec(spec, where: str) -> tuple[str, dict, list[inspect.Parameter]]:
    """``(name, init_args, constructor parameters)`` of a spec whose keys, class and argument
    names are valid, else a ValueError naming ``where``."""
    if not isinstance(spec, dict) or set(spec) != set(SPEC_KEYS):
        keys = sorted(spec) if isinstance(spec, dict) else type(spec).__name__
        raise ValueError(f"{where}: expected keys {list(SPEC_KEYS)}, got {keys}")
    name, init = spec["class"], spec["init_args"]
    if name not in MODELS:
        raise ValueError(f"{where}.class: unknown model {name!r}; choose one of {sorted(MODELS)}")
    if not isinstance(init, dict):
        raise ValueError(f"{where}.init_args must be a dict, got {type(init).__name__}")
    params = list(inspect.signature(MODELS[name].__init__).parameters.values())[1:]
    allowed = {p.name for p in params}
    unknown = sorted(set(init) - allowed)
    if unknown:
        raise ValueError(f"{where}.init_args: unknown argument(s) {unknown} for {name!r}; "
                         f"expected {sorted(allowed)}")
    return name, init, params


def complete_spec(spec: dict, where: str = "model") -> dict:
    """``spec`` with every constructor argument it leaves out filled in, nested specs
    likewise: the value a spec written before the argument existed was built with
    (:data:`SPEC_DEFAULTS_BEFORE`), else the constructor's default. Two specs build the same
    model exactly when their completions are equal; nothing is built. Raises ValueError (naming
    ``where``) for what :func:`build_model` would refuse: unknown class or argument, a missing
    required one."""
    name, init, params = _checked_spec(spec, where)
    before = SPEC_DEFAULTS_BEFORE.get(name, {})
    args = {}
    for p in params:
        if p.name in init:
            v = init[p.name]
            args[p.name] = (complete_spec(v, f"{where}.init_args.{p.name}")
                            if isinstance(v, dict) and set(v) == set(SPEC_KEYS) else v)
        elif p.name in before:
            args[p.name] = before[p.name]
        elif p.default is not p.empty:
            args[p.name] = _plain(p.name, p.default)
        else:
            raise ValueError(f"{where}.init_args: missing argument {p.name!r} for {name!r}")
    return {"class": name, "init_args": args}


def spec_differences(a: dict, b: dict, where: str = "") -> list[tuple[str, object, object]]:
    """``(path, value in a, value in b)`` wherever two completed specs
    (:func:`complete_spec`) differ, paths as ``init_args.cape.init_args.padding_mode``."""
    if isinstance(a, dict) and isinstance(b, dict) and set(a) == set(b):
        return [d for k in a for d in spec_differences(a[k], b[k], f"{where}.{k}".lstrip("."))]
    return [] if a == b else [(where, a, b)]


def build_model(spec: dict, where: str = "model") -> nn.Module:
    """Instantiate a spec made by :func:`model_spec`; ``where`` names it in error messages."""
    name, init, params = _checked_spec(spec, where)
    cls = MODELS[name]
    missing = sorted(p.name for p in params if p.default is p.empty and p.name not in init)
    if missing:
        raise ValueError(f"{where}.init_args: missing argument(s) {missing} for {name!r}")
    kwargs = {k: build_model(v, f"{where}.init_args.{k}")
              if isinstance(v, dict) and set(v) == set(SPEC_KEYS) else v
              for k, v in init.items()}
    return cls(**{**SPEC_DEFAULTS_BEFORE.get(name, {}), **kwargs})


__all__ = ["CAPEModule", "CAPEWrapper", "FNO", "MODELS", "ModernUNet", "PDERefiner",
           "SCOT_PRESETS", "ScOT", "SpectralConv", "UNet", "build_model", "complete_spec",
           "model_name", "model_spec", "spec_differences"]
