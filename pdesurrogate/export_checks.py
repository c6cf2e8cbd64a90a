"""The checks of an export's ``config.json``, shared by writing an export
(:func:`pdesurrogate.export.export_surrogate` checks what it wrote before renaming it into
place) and loading one (:func:`pdesurrogate.loading.load`): its format first
(:func:`_check_format`; an export of a newer ``format_version`` is refused saying to upgrade),
then its keys and their values (:func:`_check_config`; keys that a newer pdesurrogate added at
the top level or inside the sections that only record, ``provenance`` and ``metrics``, are
ignored with a :class:`NewerExportWarning`: :data:`FORMAT_REVISION`; a PINN export's checks
share that rule), and that its grid, channels, parameters and normalisation agree with each
other (:func:`_check_consistent`) and with the model it names, built on the meta device
(:func:`_checked_model`). The layout of ``config.json``: :mod:`pdesurrogate.export`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path

from packaging.version import InvalidVersion, Version
from torch import nn

from pdesurrogate import fit_metrics
from pdesurrogate.datasets.grid_extent import EXTENT_KEY, check_extent
from pdesurrogate.export_files import (
    FORMAT_VERSION,
    check_config_keys,
    check_versions,
    package_version,
)
from pdesurrogate.meta_build import meta_build
from pdesurrogate.models import build_model, missing_models
from pdesurrogate.provenance import (
    OPTIONAL_PROVENANCE_KEYS,
    PROVENANCE_KEYS,
    RECIPE_KEY,
    RECIPE_KEYS,
    check_provenance,
)

CONFIG_KEYS = ("format_version", "pdesurrogate_version", "model", "residual", "pde",
               "grid_shape", "channel_names", "param_names", "k", "dt", "normalization")
# keys a current export writes but an older one lacks
OPTIONAL_KEYS = ("data_param_names", "provenance", "grid_names", "metrics", "versions",
                 "format_revision", EXTENT_KEY)
#: the revision of config.json's layout :data:`FORMAT_VERSION` that this pdesurrogate writes
#: (config.json's ``format_revision``; 0 when absent, an export written before it was
#: recorded): one more each time a key is added to config.json's top level (a field
#: surrogate's :data:`OPTIONAL_KEYS`, a PINN's) or inside ``provenance`` or ``metrics``
#: (2: PINN exports record it too; 3: ``grid_extent``, the training grid's extent, with which
#: predict refuses a file over another domain; a reader without it rolls such a file out, as
#: before; 4: ``provenance.recipe``, how the model was trained, of field surrogates and PINNs
#: alike). A reader ignores, with a :class:`NewerExportWarning`, the keys it does not know
#: there in an export of a later revision, so such a key may only record or add a check (as
#: ``metrics``, ``versions`` and ``grid_extent`` do); what changes how a model is built or
#: run goes inside ``model`` or ``normalization`` (a PINN's ``network``, ``problem``), whose
#: unknown keys stay errors, or raises :data:`FORMAT_VERSION`
FORMAT_REVISION = 4
#: what config.json's ``metrics`` holds (:func:`pdesurrogate.fit_metrics.check_metrics`),
#: each key mapped to the keys known inside it (None: not looked into; a one-element list:
#: each element of a list), for :func:`_without_newer_keys`
_METRICS_KEYS = {"validation": dict.fromkeys(fit_metrics.VALIDATION_KEYS),
                 "best": [dict.fromkeys(fit_metrics.BEST_KEYS)]}
#: a field surrogate's ``provenance`` keys; its data-source records are not looked into: a
#: fit started from the export's weights copies them into its own export
FIELD_PROVENANCE_KEYS = (*PROVENANCE_KEYS, *OPTIONAL_PROVENANCE_KEYS)
#: the keys known inside ``provenance``'s keys that are looked into, for
#: :func:`_without_newer_keys`: a key a newer pdesurrogate adds inside ``recipe`` is ignored
#: as one beside it is (its ``hparams`` are the module's, whatever their names)
_PROVENANCE_INSIDE = {RECIPE_KEY: dict.fromkeys(RECIPE_KEYS)}
#: config.json's ``kind`` of a steady map's export, and the keys such an export has besides
#: :data:`CONFIG_KEYS`
STEADY_KIND = "steady"
STEADY_KEYS = ("kind", "inputs", "targets")


def _class_not_handed(where: str, what: str, name: str, function: str, args: str,
                      command: str) -> ValueError:
    """The error for a file (``where``, a ``what``: checkpoint, export) that holds a model of
    the user's own code, qualified name ``name``, whose class was not handed: how to hand it,
    in Python (``function(args, models={name: Class})``) and to ``pdesurrogate command``."""
    short = name.rsplit(".", 1)[-1]
    return ValueError(
        f"{where!r}: this {what} holds model {name!r}, which is not one of pdesurrogate's; "
        f"pass its class: in Python {function}({args}, models={{{name!r}: {short}}}), on the "
        f"command line pdesurrogate {command} ... --model-class {name} (MODULE.CLASS, "
        "imported from the Python path). A model name read from a file is never imported")


class NewerExportWarning(UserWarning):
    """:func:`~pdesurrogate.loading.load` ignored keys of ``config.json`` that this
    pdesurrogate does not know, at its top level or inside ``provenance`` or ``metrics``, in an
    export written by a newer one (a later :data:`FORMAT_REVISION` or
    ``pdesurrogate_version``): keys it only records
    (:data:`FORMAT_REVISION`). The same keys in an export of this version or an older one are
    an error: a misspelling."""


def _without_newer_keys(cfg, where: str, known: Sequence[str],
                        provenance_keys: Collection[str]):
    """``cfg`` (its format accepted by :func:`_check_format`) without the keys this
    pdesurrogate does not know, if a newer one wrote it (:func:`_newer_writer`): top-level keys
    outside ``known``, ``provenance`` keys outside ``provenance_keys`` (and ``recipe`` keys
    outside :data:`_PROVENANCE_INSIDE`'s) and ``metrics`` keys outside :data:`_METRICS_KEYS`,
    warned in one line (:class:`NewerExportWarning`) naming them
    (``provenance.init_weights``) and both versions; else ``cfg`` itself, whose unknown keys
    the checks refuse."""
    if not isinstance(cfg, dict):
        return cfg
    tree = dict.fromkeys(known)
    inside = {k: _PROVENANCE_INSIDE.get(k) for k in provenance_keys}
    for section, keys in (("provenance", inside), ("metrics", _METRICS_KEYS)):
        if section in tree:
            tree[section] = keys
    unknown: list[str] = []
    kept = _known_part(cfg, tree, "", unknown)
    writer = _newer_writer(cfg) if unknown else None
    if writer is None:
        return cfg
    warnings.warn(f"{where!r}: ignoring key(s) {sorted(unknown)}, which this pdesurrogate "
                  f"({package_version()}, format revision {FORMAT_REVISION}) does not know: "
                  f"the export was written by a newer one ({writer})", NewerExportWarning,
                  stacklevel=2)
    return kept


def _known_part(value, known, name: str, unknown: list[str]):
    """``value`` without the keys outside ``known`` (an object's keys mapped to what is known
    inside each, None: all of it; a one-element list: what is known in each element of a
    list), their names (``metrics.best[0].mode``, under ``name``) appended to ``unknown``."""
    if isinstance(known, list):
        return [_known_part(v, known[0], f"{name}[{i}]", unknown)
                for i, v in enumerate(value)] if isinstance(value, list) else value
    if known is None or not isinstance(value, dict):
        return value
    kept = {}
    for key, v in value.items():
        full = f"{name}.{key}" if name else key
        if key in known:
            kept[key] = _known_part(v, known[key], full, unknown)
        else:
            unknown.append(full)
    return kept


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_format(cfg, where: str) -> None:
    """config.json's ``format_version`` (when there: :func:`check_config_keys` names it
    missing) must be :data:`FORMAT_VERSION`, checked before its keys, which another format may
    name otherwise (an export of a newer format is refused saying to upgrade, not naming the
    keys it added); ``format_revision`` (0 when absent) an int >= 0. One ValueError naming
    ``where`` and the value."""
    if not isinstance(cfg, dict):
        return  # check_config_keys says what it expected
    version = cfg.get("format_version", FORMAT_VERSION)
    if not (_is_int(version) and version == FORMAT_VERSION):
        newer = _is_int(version) and version > FORMAT_VERSION
        raise ValueError(
            f"{where!r}: format_version {version!r} is not supported (this pdesurrogate, "
            f"{package_version()}, reads {FORMAT_VERSION})"
            + (f"; the export was written by a newer pdesurrogate "
               f"({cfg.get('pdesurrogate_version')}): upgrade this one to load it "
               "(pip install --upgrade pdesurrogate)" if newer else ""))
    rev = cfg.get("format_revision", 0)
    if not (_is_int(rev) and rev >= 0):
        raise ValueError(f"{where!r}: format_revision must be an int >= 0, got {rev!r}")


def _newer_writer(cfg: dict) -> str | None:
    """The pdesurrogate that wrote ``cfg``, whose format :func:`_check_format` accepted
    (``"0.2.0, format revision 3"``), if it is newer than this one: a later
    ``format_revision`` or ``pdesurrogate_version`` (:func:`_version`); else None."""
    rev = cfg.get("format_revision", 0)
    theirs, ours = _version(cfg.get("pdesurrogate_version")), _version(package_version())
    if rev <= FORMAT_REVISION and (theirs is None or ours is None or theirs <= ours):
        return None
    return f"{cfg.get('pdesurrogate_version')}, format revision {rev}"


def _upgrade_hint(cfg: dict) -> str:
    """What to add to an error about ``cfg`` when a newer pdesurrogate wrote it (which may
    write what this one cannot read): upgrade; else nothing."""
    writer = _newer_writer(cfg)
    return (f"; the export was written by a newer pdesurrogate ({writer}): upgrade this one "
            f"({package_version()}) to load it" if writer else "")


def _version(text) -> Version | None:
    """A pdesurrogate version string as a PEP 440 version for ordering (``"0.10.0"`` after
    ``"0.9.0"``; ``"0.2.0rc1"`` and ``"0.2.0.dev3"`` before ``"0.2.0"``), its local part
    dropped (``"0.1.0+g1234abc"``, a build of 0.1.0's sources, is 0.1.0); None for text that is
    no version ("unknown": a bare source tree), which only ``format_revision`` then orders."""
    try:
        return Version(Version(text).public) if isinstance(text, str) else None
    except InvalidVersion:
        return None


def _check_config(cfg, path: Path) -> None:
    where = str(path)
    _check_format(cfg, where)
    steady = isinstance(cfg, dict) and cfg.get("kind") == STEADY_KIND
    if isinstance(cfg, dict) and "kind" in cfg and not steady:
        raise ValueError(f"{where!r}: kind must be {STEADY_KIND!r} (a steady map), 'pinn' or "
                         f"absent (a time-stepping surrogate), got {cfg['kind']!r}"
                         f"{_upgrade_hint(cfg)}")
    required = CONFIG_KEYS + (STEADY_KEYS if steady else ())
    cfg = _without_newer_keys(cfg, where, required + OPTIONAL_KEYS, FIELD_PROVENANCE_KEYS)
    check_config_keys(cfg, where, required, OPTIONAL_KEYS)

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
    if "grid_names" in cfg:
        gn = cfg["grid_names"]
        check("grid_names", gn is None or (str_list(gn) and len(set(gn)) == len(gn) and (
            g is None or len(gn) == len(g))), "null or a list of distinct strings, one per "
              f"axis of grid_shape {g}")
    if EXTENT_KEY in cfg:
        check_extent(cfg[EXTENT_KEY], g, where)
    check("channel_names", str_list(cfg["channel_names"]), "null or a list of strings")
    check("param_names", str_list(cfg["param_names"]), "null or a list of strings")
    if "data_param_names" in cfg:
        check("data_param_names", str_list(cfg["data_param_names"]), "null or a list of strings")
    if "provenance" in cfg:
        check_provenance(cfg["provenance"], where)
    fit_metrics.check_metrics(cfg.get("metrics"), where)
    check_versions(cfg.get("versions"), where)
    check("k", cfg["k"] is None or (isinstance(cfg["k"], int) and cfg["k"] >= 1),
          "null or an int >= 1")
    dt = cfg["dt"]
    check("dt", dt is None or (isinstance(dt, (int, float)) and not isinstance(dt, bool)
                               and math.isfinite(dt) and dt > 0), "null or a positive number")
    if steady:
        _check_steady(cfg, check)
    _stats(cfg, where)


def _check_steady(cfg: dict, check) -> None:
    """The keys of a steady map's config.json (``check(key, ok, expected)`` raises naming
    the file and ``key``): ``inputs`` and ``targets`` non-empty lists of distinct names among
    ``channel_names``, no time step (``k``, ``dt`` null) and no residual."""
    names = cfg["channel_names"]
    check("channel_names", isinstance(names, list), "a list of strings (a steady map names "
          "its input and target channels among them)")
    for key in ("inputs", "targets"):
        v = cfg[key]
        check(key, isinstance(v, list) and v and len(set(map(str, v))) == len(v)
              and all(isinstance(s, str) and s in names for s in v),
              f"a non-empty list of distinct names among channel_names {names}")
    check("residual", cfg["residual"] is False, "false for a steady map (its inputs are other "
          "channels than its targets)")
    check("k", cfg["k"] is None, "null for a steady map (no time steps)")
    check("dt", cfg["dt"] is None, "null for a steady map (no time steps)")


def _check_consistent(cfg: dict, where: str) -> None:
    """Keys of a type-checked config that describe the same thing must agree: grid_shape and
    normalization.spatial_dims, channel_names and normalization.mean / std, the data's
    parameter names (data_param_names; param_names in older exports) and
    normalization.param_names."""
    stats = _stats(cfg, where)
    if stats is None:
        return
    g, names = cfg["grid_shape"], cfg["channel_names"]
    key = "data_param_names" if "data_param_names" in cfg else "param_names"
    pn = cfg[key]
    if g is not None and stats.spatial_dims != len(g):
        raise ValueError(f"{where!r}: normalization.spatial_dims is {stats.spatial_dims} but "
                         f"grid_shape {g} has {len(g)} axes; expected the same number")
    if names is not None and len(stats.mean) != len(names):
        raise ValueError(f"{where!r}: normalization.mean and .std have {len(stats.mean)} "
                         f"values but channel_names {names} has {len(names)}; expected one "
                         "per channel")
    if pn is not None and stats.param_names != pn:
        raise ValueError(f"{where!r}: normalization.param_names {stats.param_names} differs "
                         f"from {key} {pn}; expected the same names in the same order")


_STATS_KEYS = ("mean", "std", "spatial_dims", "param_names", "param_mean", "param_std")
# the parameters' training range: written since it was recorded, absent from older exports
_RANGE_KEYS = ("param_min", "param_max")


def _stats(cfg: dict, where: str):
    """config.json's ``normalization`` as a
    :class:`~pdesurrogate.datasets.normalization.ChannelStats` (None if null); it must have
    every key of :data:`_STATS_KEYS` (:class:`~pdesurrogate.surrogate.Surrogate` reads them
    all) and may have
    those of :data:`_RANGE_KEYS`, each a list of numbers (checked against the parameters by
    ``ChannelStats``)."""
    d = cfg["normalization"]
    if d is None:
        return None
    from pdesurrogate.datasets import ChannelStats

    if not isinstance(d, dict) or any(k not in d for k in _STATS_KEYS):
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"{where!r}: normalization must be null or an object with keys "
                         f"{list(_STATS_KEYS)} (and perhaps {list(_RANGE_KEYS)}), got {got}")
    for key in _RANGE_KEYS:
        v = d.get(key, [])
        if not isinstance(v, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            raise ValueError(f"{where!r}: normalization.{key} must be a list of numbers, one "
                             f"per parameter {d['param_names']} (or empty: range unknown), "
                             f"got {v!r}")
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
    steady = cfg.get("kind") == STEADY_KIND
    for attr, key in (("in_channels", "inputs"), ("out_channels", "targets")):
        c = getattr(model, attr, None)
        if c is None:
            continue
        if steady:  # the model's channels are those named, of the data's channel_names
            if len(cfg[key]) != c:
                raise ValueError(f"{where!r}: {key} {cfg[key]} has {len(cfg[key])} names but "
                                 f"the model ({cls}) has {attr} = {c}; expected {c} names")
            continue
        if names is not None and len(names) != c:
            raise ValueError(f"{where!r}: channel_names {names} has {len(names)} names but the "
                             f"model ({cls}) has {attr} = {c}; expected {c} names")
        if stats is not None and len(stats.mean) != c:
            raise ValueError(f"{where!r}: normalization.mean and .std have {len(stats.mean)} "
                             f"values but the model ({cls}) has {attr} = {c}; expected {c}")
    n_params = int(getattr(model, "n_params", 0) or 0)
    if not n_params and pn and "data_param_names" in cfg:
        raise ValueError(f"{where!r}: param_names {pn} names parameters but the model ({cls}) "
                         "takes none (n_params = 0); expected [] (the data's names go in "
                         "data_param_names)")
    # older exports: a model without parameters ignores them, so its param_names (the data's)
    # are free
    if n_params and pn is not None and len(pn) != n_params:
        raise ValueError(f"{where!r}: param_names {pn} has {len(pn)} names but the model "
                         f"({cls}) takes n_params = {n_params}; expected {n_params} names")
    dpn = cfg.get("data_param_names")
    if n_params and pn is not None and dpn is not None and dpn != pn:
        raise ValueError(f"{where!r}: data_param_names {dpn} differs from param_names {pn}, "
                         f"which the model ({cls}, n_params = {n_params}) takes; expected the "
                         "same names")
    if n_params and pn is None and stats is not None and stats.param_names \
            and len(stats.param_names) != n_params:
        raise ValueError(f"{where!r}: normalization.param_names {stats.param_names} has "
                         f"{len(stats.param_names)} names but the model ({cls}) takes "
                         f"n_params = {n_params}; expected {n_params}")


def _checked_model(cfg, cfg_path: Path, models: dict | None = None) -> nn.Module:
    """Check ``cfg`` (config.json at ``cfg_path``), build its model on the meta device (shapes
    only, no memory, whatever sizes it names) and check that the config fits it. ``models``:
    classes handed for models of the user's own code (:func:`~pdesurrogate.loading.load`)."""
    _check_config(cfg, cfg_path)
    return _model_of_checked(cfg, cfg_path, models)


def _model_of_checked(cfg: dict, cfg_path: Path, models: dict | None = None) -> nn.Module:
    """:func:`_checked_model` of a ``cfg`` that :func:`_check_config` accepted."""
    missing = missing_models(cfg["model"], models)
    if missing:
        raise _class_not_handed(str(cfg_path), "export", missing[0], "pdesurrogate.load",
                                repr(str(cfg_path.parent)), "predict")
    try:
        with meta_build():
            model = build_model(cfg["model"], "model", models)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{str(cfg_path)!r}: {e}") from None
    _check_fits_model(cfg, model, str(cfg_path))
    _check_consistent(cfg, str(cfg_path))
    return model
