"""Neural surrogate models, all with one interface:

``forward(u: (B, C_in, *grid), params: (B, P) | None) -> (B, C_out, *grid)``.

:data:`MODELS` is the one name -> class map of this package's models. :func:`model_spec` records
a model as plain JSON (``{"class": name, "init_args": {...}}``, read back from the constructor's
argument names, which every model stores as attributes of the same name); :func:`build_model`
rebuilds it. A model of the user's own code is recorded under its qualified name
(``"mynet.MyNet"``) and built only from a class the caller hands over, as ``models=`` (a name
-> class dict). A name is only ever looked up, never imported, so a config file cannot make us
import arbitrary code.

Adding a model (``fno.py`` and ``unet.py`` are the short ones to copy): one file here, one
``nn.Module`` class. Its constructor takes plain typed arguments (numbers, strings, booleans,
lists, or another model), checks them (``_checks.check_int``) and stores each as an
attribute of the same name, without ``*args``/``**kwargs``: :func:`model_spec` reads them back
for checkpoints and ``config.json``, and refuses a model that does not. ``forward(u, params)``
as above; attributes ``dim``, ``in_channels``, ``out_channels`` and ``n_params``, which
``_checks.check_params`` reads and ``pdesurrogate.load`` checks ``config.json``'s grid, channel
and parameter names against; a ``weight_dtypes`` tuple if it runs only in some float dtypes
(``--trainer.precision`` is checked against it). Import heavy libraries inside the constructor
(``import pdesurrogate.models`` must not import neuralop: ``tests/models/test_models.py``). Then
add it to :data:`MODELS` and ``__all__``. Export and load need no other change.

A model in your own package (not in this repository) follows the same contract and needs
nothing else for ``fit`` (``class_path: mynet.MyNet``): the checkpoint records its spec under
``"mynet.MyNet"``. Building it needs the class from you, always: ``pdesurrogate.load(DIR,
models={"mynet.MyNet": MyNet})``, ``export_surrogate(CKPT, DIR, models=...)`` for its
checkpoint (a module in Python exports as it is), or ``--model-class mynet.MyNet`` for
``pdesurrogate export`` and ``predict``, which imports the module typed on the command line
(never a name from a file); without it they refuse, naming the class and how to hand it. A
class that breaks the contract trains with a warning saying what is missing, and its
checkpoint cannot be exported (its arguments were not recorded).

``NextStepModule`` trains a model (a config like ``configs/fit/fno_burgers.yaml`` with
``class_path: pdesurrogate.models.YourModel``); a ``forward`` that also takes ``lead_time``
trains with ``All2AllModule``, and the loaded surrogate passes it one. A default changed after
models were exported goes into :data:`SPEC_DEFAULTS_BEFORE` with its old value, so those exports
still build the model they were saved from. Tests: ``tests/models/test_<name>.py``, and the name in
``tests/test_devices.py``'s exported-surrogate list.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping

from torch import nn

from .cape import CAPEModule, CAPEWrapper, SpectralConv
from .dilresnet import DilatedResNet
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
    "dilresnet": DilatedResNet,
}

SPEC_KEYS = ("class", "init_args")
# arguments added after specs were first written, with the value a spec written before then
# was built with when that differs from today's default (a spec without the argument builds
# the model it was saved from)
SPEC_DEFAULTS_BEFORE: dict[str, dict[str, object]] = {
    "cape_module": {"padding_mode": "zeros"},  # the depth-wise path padded with zeros
}


def qualified_name(cls: type) -> str:
    """``"module.QualName"`` of a class, the name a model of the user's own code is recorded
    under."""
    return f"{cls.__module__}.{cls.__qualname__}"


def check_models(models, where: str = "models") -> dict[str, type[nn.Module]]:
    """``models`` (None, or a mapping of recorded name -> class handed by the caller, e.g.
    ``{"mynet.MyNet": MyNet}``) as a dict; a ValueError naming ``where`` for a name that is
    not a string, one of :data:`MODELS` (built-in names are never re-pointed) or a value that
    is not an nn.Module subclass."""
    if models is None:
        return {}
    if not isinstance(models, Mapping):
        raise ValueError(f"{where} must be a dict of name -> model class, e.g. "
                         f"{{'mynet.MyNet': MyNet}}, got {type(models).__name__}")
    for name, cls in models.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: names must be non-empty strings, got {name!r}")
        if name in MODELS:
            raise ValueError(f"{where}: {name!r} is one of pdesurrogate's models; hand your "
                             "own classes under their own names (as 'mynet.MyNet')")
        if not isinstance(cls, type) or not issubclass(cls, nn.Module):
            raise ValueError(f"{where}[{name!r}] must be an nn.Module subclass, got {cls!r}")
    return dict(models)


def _model_class(name, models: Mapping | None) -> type[nn.Module] | None:
    # built-ins first: a handed class never takes a built-in name's place
    if not isinstance(name, str):
        return None
    return MODELS.get(name) or (models or {}).get(name)


def model_name(model: nn.Module) -> str | None:
    """The :data:`MODELS` name of ``model``'s class, or None if it is not one of this
    package's models (:func:`model_spec` then records it under its :func:`qualified_name`)."""
    return next((k for k, v in MODELS.items() if type(model) is v), None)


def missing_models(spec, models: Mapping | None = None) -> list[str]:
    """The qualified names (``"mynet.MyNet"``: models of someone's own code) in ``spec``,
    nested ones too, that are not in ``models``, in order; ``[]`` for a malformed spec and for
    an unknown name without a dot (the full checks of :func:`build_model` say what is wrong
    with those)."""
    if not isinstance(spec, dict) or set(spec) != set(SPEC_KEYS):
        return []
    name = spec["class"]
    own = [name] if isinstance(name, str) and "." in name \
        and _model_class(name, models) is None else []
    init = spec["init_args"] if isinstance(spec["init_args"], dict) else {}
    return own + [n for v in init.values() for n in missing_models(v, models) if n not in own]


def own_classes(model: nn.Module) -> dict[str, type[nn.Module]]:
    """The classes of the user's own code that :func:`model_spec` records for ``model`` (it
    and the models among its constructor arguments), by qualified name: the ``models=`` that
    builds its spec again. ValueError as :func:`model_spec`."""
    names = set(missing_models(model_spec(model)))
    return {qualified_name(type(m)): type(m) for m in model.modules()
            if qualified_name(type(m)) in names}


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
    shown = repr(value) if isinstance(value, float) else f"a {type(value).__name__}"
    raise ValueError(f"constructor argument {name!r} is stored as {shown}, which is not "
                     "JSON-friendly (use numbers, strings, booleans, lists or models)")


def model_spec(model: nn.Module) -> dict:
    """``{"class": name, "init_args": {...}}`` of ``model``: its :data:`MODELS` name, or for
    a model of the user's own code its :func:`qualified_name` (``"mynet.MyNet"``), with the
    constructor's arguments read back from the attributes of the same name. ValueError (naming
    the class and the argument) for a model that does not follow that contract: a
    ``*args``/``**kwargs`` constructor, an argument not stored, or stored as something other
    than plain data or a model."""
    name = model_name(model) or qualified_name(type(model))
    args = {}
    for p in list(inspect.signature(type(model).__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ValueError(f"{name}: *args/**kwargs constructors cannot be recorded")
        if not hasattr(model, p.name):
            raise ValueError(f"{name}: constructor argument {p.name!r} is not stored as an "
                             "attribute of the same name")
        try:
            args[p.name] = _plain(p.name, getattr(model, p.name))
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
    return {"class": name, "init_args": args}


def _checked_spec(spec, where: str, models: Mapping | None = None
                  ) -> tuple[str, dict, list[inspect.Parameter], type[nn.Module]]:
    """``(name, init_args, constructor parameters, class)`` of a spec whose keys, class and
    argument names are valid, else a ValueError naming ``where``."""
    if not isinstance(spec, dict) or set(spec) != set(SPEC_KEYS):
        keys = sorted(spec) if isinstance(spec, dict) else type(spec).__name__
        raise ValueError(f"{where}: expected keys {list(SPEC_KEYS)}, got {keys}")
    name, init = spec["class"], spec["init_args"]
    cls = _model_class(name, models)
    if cls is None and isinstance(name, str) and "." in name:
        # a qualified name: a model of someone's own code, which is never imported from here
        short = name.rsplit(".", 1)[-1]
        raise ValueError(f"{where}.class: {name!r} is not one of pdesurrogate's models and no "
                         f"class was handed for it; pass it: models={{{name!r}: {short}}}")
    if cls is None:
        raise ValueError(f"{where}.class: unknown model {name!r}; choose one of {sorted(MODELS)}")
    if not isinstance(init, dict):
        raise ValueError(f"{where}.init_args must be a dict, got {type(init).__name__}")
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    allowed = {p.name for p in params}
    unknown = sorted(set(init) - allowed)
    if unknown:
        raise ValueError(f"{where}.init_args: unknown argument(s) {unknown} for {name!r}; "
                         f"expected {sorted(allowed)}")
    return name, init, params, cls


def complete_spec(spec: dict, where: str = "model", models: Mapping | None = None) -> dict:
    """``spec`` with every constructor argument it leaves out filled in, nested specs
    likewise: the value a spec written before the argument existed was built with
    (:data:`SPEC_DEFAULTS_BEFORE`), else the constructor's default. Two specs build the same
    model exactly when their completions are equal; nothing is built. Raises ValueError (naming
    ``where``) for what :func:`build_model` would refuse: unknown class or argument, a missing
    required one. ``models``: as for :func:`build_model`."""
    name, init, params, _ = _checked_spec(spec, where, models)
    before = SPEC_DEFAULTS_BEFORE.get(name, {})
    args = {}
    for p in params:
        if p.name in init:
            v = init[p.name]
            args[p.name] = (complete_spec(v, f"{where}.init_args.{p.name}", models)
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


def build_model(spec: dict, where: str = "model", models: Mapping | None = None) -> nn.Module:
    """Instantiate a spec made by :func:`model_spec`; ``where`` names it in error messages.
    Its class is looked up in :data:`MODELS`, then in ``models`` (classes handed by the
    caller, by the name the spec records); a name found in neither is refused, never
    imported."""
    name, init, params, cls = _checked_spec(spec, where, models)
    missing = sorted(p.name for p in params if p.default is p.empty and p.name not in init)
    if missing:
        raise ValueError(f"{where}.init_args: missing argument(s) {missing} for {name!r}")
    kwargs = {k: build_model(v, f"{where}.init_args.{k}", models)
              if isinstance(v, dict) and set(v) == set(SPEC_KEYS) else v
              for k, v in init.items()}
    return cls(**{**SPEC_DEFAULTS_BEFORE.get(name, {}), **kwargs})


__all__ = ["CAPEModule", "CAPEWrapper", "DilatedResNet", "FNO", "MODELS", "ModernUNet",
           "PDERefiner", "SCOT_PRESETS", "ScOT", "SpectralConv", "UNet", "build_model",
           "check_models", "complete_spec", "missing_models", "model_name", "model_spec",
           "own_classes", "qualified_name", "spec_differences"]
