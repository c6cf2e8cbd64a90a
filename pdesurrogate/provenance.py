"""config.json's ``provenance``: the record that traces an exported model back to its run
(the checkpoint it was exported from, Lightning's counters, the fit's seed, the git commit of
the exporting checkout), its data and its recipe (``recipe``: the LightningModule, its
hyper-parameters and the batch size: :func:`recipe_of_module`, :func:`recipe_of_checkpoint`).
Built (:func:`provenance`, from :func:`run_of_module` or :func:`run_of_checkpoint` and
:func:`git_state`) and checked (:func:`check_provenance`) alike for field surrogates
(:mod:`pdesurrogate.export`, whose docstring lists the keys) and PINNs
(:mod:`pdesurrogate.pinn.export`).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Collection
from pathlib import Path

from pdesurrogate.run_record import CHECKPOINT_KEY

# provenance's keys and the JSON types each may hold (None: null): a PINN's (no training
# data: it samples its own points) and a field surrogate's
RUN_PROVENANCE_KEYS = {"checkpoint": (str, type(None)), "epoch": (int, type(None)),
                       "global_step": (int, type(None)), "seed_everything": (int, type(None)),
                       "git_commit": (str, type(None)), "git_dirty": (bool, type(None))}
PROVENANCE_KEYS = {"data_source": (dict, type(None)), **RUN_PROVENANCE_KEYS}
# a field surrogate's provenance key written only when it applies: the sources a fit resumed
# on other data was fit on before, oldest first (pdesurrogate.training.data_source's
# EARLIER_KEY; not imported from there: load stays free of Lightning)
FINE_TUNED_KEY = "fine_tuned_from"
# likewise, the path a fit's weights started from (pdesurrogate.training.init_weights' INIT_KEY)
INIT_WEIGHTS_KEY = "init_weights"
# how the model was trained, written by every export since format revision 4 (field surrogates
# and PINNs alike); absent from older ones
RECIPE_KEY = "recipe"
# the keys a field surrogate's provenance may have besides PROVENANCE_KEYS; a PINN's besides
# RUN_PROVENANCE_KEYS
OPTIONAL_PROVENANCE_KEYS = (FINE_TUNED_KEY, INIT_WEIGHTS_KEY, RECIPE_KEY)
OPTIONAL_RUN_PROVENANCE_KEYS = (RECIPE_KEY,)
#: ``recipe``'s keys and the JSON types each may hold (None: null)
RECIPE_KEYS = {"module": (str, type(None)), "hparams": (dict,), "batch_size": (int, type(None)),
               "omitted": (list,)}
#: a field surrogate's hyper-parameters that config.json records elsewhere (its ``model``;
#: ``provenance.init_weights``), left out of its ``recipe``
FIELD_RECORDED = ("model", "model_spec", "init_weights")
GIT_TIMEOUT_S = 5.0


def run_of_module(module) -> dict:
    """The provenance of an exported module's run (besides git): ``checkpoint`` (None),
    Lightning's ``epoch`` and ``global_step`` (None if it never had a trainer) and its
    ``seed_everything`` (None if not recorded). Shared by field and PINN exports."""
    trained = getattr(module, "_trainer", None) is not None
    return {"checkpoint": None,
            "epoch": int(module.current_epoch) if trained else None,
            "global_step": int(module.global_step) if trained else None,
            "seed_everything": getattr(module, "seed_everything", None)}


def run_of_checkpoint(path: Path, ckpt: dict) -> dict:
    """:func:`run_of_module` for a Lightning checkpoint read from ``path``: its absolute path,
    the counters it was written at and the seed its module saved."""
    saved = ckpt.get(CHECKPOINT_KEY) or {}
    hp = ckpt.get("hyper_parameters") or {}
    return {"checkpoint": os.path.abspath(path), "epoch": ckpt.get("epoch"),
            "global_step": ckpt.get("global_step"),
            "seed_everything": saved.get("seed_everything", hp.get("seed_everything"))}


def recipe_of_module(module, recorded: Collection[str]) -> dict:
    """config.json's ``provenance.recipe`` of a live LightningModule: ``module``, the class
    path LightningCLI built it from (its hyper-parameters' ``_class_path``), else its class's
    shortest importable path (``pdesurrogate.training.NextStepModule``); ``hparams``, its
    ``hparams`` but ``recorded`` (what config.json holds elsewhere) and those that are not
    plain JSON values or are absolute paths, whose names are listed in ``omitted``;
    ``batch_size``, its trainer's datamodule's (per process; None: no datamodule, or one
    without a ``batch_size``)."""
    hp = dict(getattr(module, "hparams", None) or {})
    trainer = getattr(module, "_trainer", None)
    dm = getattr(trainer, "datamodule", None) if trainer is not None else None
    cls = type(module)
    return _recipe(hp.get("_class_path") or _class_path(cls), hp,
                   getattr(dm, "batch_size", None), recorded)


def recipe_of_checkpoint(ckpt: dict, recorded: Collection[str]) -> dict:
    """:func:`recipe_of_module` of a Lightning checkpoint: its ``hyper_parameters`` and its
    datamodule's (``datamodule_hyper_parameters``' ``batch_size``); ``module`` is None unless
    LightningCLI recorded it (``_class_path``: a fit of ``pdesurrogate fit``), since a
    checkpoint of any other fit does not say which class wrote it."""
    hp = ckpt.get("hyper_parameters") or {}
    dm = ckpt.get("datamodule_hyper_parameters") or {}
    return _recipe(hp.get("_class_path"), dict(hp),
                   dm.get("batch_size") if isinstance(dm, dict) else None, recorded)


def _recipe(module, hp: dict, batch_size, recorded: Collection[str]) -> dict:
    # keys starting with _ are LightningCLI's (_class_path, _instantiator), not arguments
    kept, omitted = {}, []
    for key, value in hp.items():
        if not isinstance(key, str) or key.startswith("_") or key in recorded:
            continue
        if _plain(value) and not _local_path(value):
            kept[key] = value
        else:
            omitted.append(key)
    plain_int = isinstance(batch_size, int) and not isinstance(batch_size, bool)
    size = batch_size if plain_int and batch_size >= 1 else None
    return {"module": module if isinstance(module, str) else None,
            "hparams": json_copy(kept), "batch_size": size, "omitted": omitted}


def json_copy(value):
    """A plain JSON value (:func:`_plain`) with its tuples as lists, nothing shared."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_copy(v) for v in value]
    return value


def _class_path(cls: type) -> str:
    """``cls``'s path in the shortest of its module's packages that gives it under its name
    (``pdesurrogate.training.NextStepModule``, not ``...training.next_step...``; a package's
    lazy name too, ``pdesurrogate.pinn.PINNModule``, whose module is imported already)."""
    parts = cls.__module__.split(".")
    for i in range(1, len(parts)):
        package = sys.modules.get(".".join(parts[:i]))
        try:
            found = getattr(package, cls.__qualname__, None) if package is not None else None
        except Exception:  # noqa: BLE001 - a package's own __getattr__ failing: no such name
            found = None
        if found is cls:
            return f"{'.'.join(parts[:i])}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _plain(value) -> bool:
    """A value JSON holds as it is: null, true/false, an int, a finite float, a string, or a
    list (tuple) or object of string keys of such values."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _local_path(value) -> bool:
    """An absolute path (``/home/me/data.nc``), anywhere in ``value``: it would say where the
    fit ran, which an export given away need not."""
    if isinstance(value, str):
        return os.path.isabs(value)
    if isinstance(value, (list, tuple)):
        return any(_local_path(v) for v in value)
    if isinstance(value, dict):
        return any(_local_path(v) for v in value.values())
    return False


def provenance(run: dict, *, recipe: dict | None = None, **data) -> dict:
    """config.json's ``provenance``: ``data`` (``data_source=...`` for a field surrogate; a
    PINN has no training data), then ``run`` (:func:`run_of_module` /
    :func:`run_of_checkpoint`) as JSON ints, then the git state (:func:`git_state`), then
    ``recipe`` (:func:`recipe_of_module` / :func:`recipe_of_checkpoint`) when given."""
    commit, dirty = git_state()
    out = {**data, "checkpoint": run["checkpoint"], "epoch": _json_int(run["epoch"]),
           "global_step": _json_int(run["global_step"]),
           "seed_everything": _json_int(run["seed_everything"]),
           "git_commit": commit, "git_dirty": dirty}
    if recipe is not None:
        out[RECIPE_KEY] = recipe
    return out


def git_state(folder: str | os.PathLike | None = None) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git checkout this pdesurrogate runs from (``folder``: the
    package's), or ``(None, None)``: not a checkout (an installed package, even one inside
    some other repository, as a virtual environment in a project's folder), no git, or git
    slower than :data:`GIT_TIMEOUT_S`. ``dirty``: tracked files differ from the commit."""
    import subprocess

    here = Path(folder or Path(__file__).resolve().parent)

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True,
                               timeout=GIT_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    # a checkout of this project: the package folder sits at its root, beside pyproject.toml
    if not top or not (Path(top) / "pyproject.toml").is_file() \
            or Path(top).resolve() != here.resolve().parent:
        return None, None
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return commit, (None if status is None else bool(status))


def _json_int(v) -> int | None:
    return None if v is None or isinstance(v, bool) else int(v)


def check_provenance(prov, where: str, keys: dict | None = None) -> None:
    """config.json's ``provenance``: null, or an object with exactly ``keys`` (default
    :data:`PROVENANCE_KEYS`; a PINN's: :data:`RUN_PROVENANCE_KEYS`) of the types there, a
    ``data_source`` that is null or a record that
    :func:`pdesurrogate.datasets.source.check_source_record` accepts (it is only recorded, never
    acted on by ``load``, but a typo is still an error), perhaps ``recipe``
    (:func:`check_recipe`) and, for a field surrogate, perhaps ``fine_tuned_from``: a list of
    such records, and ``init_weights``: a string."""
    field = keys is None
    keys = PROVENANCE_KEYS if keys is None else keys
    if prov is None:
        return
    if not isinstance(prov, dict):
        raise ValueError(f"{where!r}: provenance must be null or an object, got "
                         f"{type(prov).__name__}")
    optional = OPTIONAL_PROVENANCE_KEYS if field else OPTIONAL_RUN_PROVENANCE_KEYS
    unknown = sorted(set(prov) - set(keys) - set(optional))
    missing = [k for k in keys if k not in prov]
    if unknown or missing:
        maybe = ", ".join(map(repr, optional))
        raise ValueError(f"{where!r}: provenance has unknown key(s) {unknown}, missing key(s) "
                         f"{missing}; expected exactly {list(keys)} (and perhaps {maybe})")
    _check_types(prov, keys, where, "provenance")
    from pdesurrogate.datasets.source import check_source_record

    if prov.get("data_source") is not None:
        check_source_record(prov["data_source"], where)
    if RECIPE_KEY in prov:
        check_recipe(prov[RECIPE_KEY], where)
    if INIT_WEIGHTS_KEY in prov and not isinstance(prov[INIT_WEIGHTS_KEY], str):
        raise ValueError(f"{where!r}: provenance.{INIT_WEIGHTS_KEY} must be a string (the path "
                         f"the fit's weights started from), got {prov[INIT_WEIGHTS_KEY]!r}")
    if FINE_TUNED_KEY in prov:
        earlier = prov[FINE_TUNED_KEY]
        if not isinstance(earlier, list):
            raise ValueError(f"{where!r}: provenance.{FINE_TUNED_KEY} must be a list of "
                             f"data-source records (oldest first), got {earlier!r}")
        for i, record in enumerate(earlier):
            check_source_record(record, where, f"provenance.{FINE_TUNED_KEY}[{i}]")


def check_recipe(recipe, where: str) -> None:
    """config.json's ``provenance.recipe``: an object with exactly :data:`RECIPE_KEYS`:
    ``module`` a class path or null, ``hparams`` an object of plain JSON values (finite
    numbers), ``batch_size`` an int >= 1 or null, ``omitted`` a list of names. It is only
    recorded, never acted on, but a malformed one is one ValueError naming ``where`` and the
    key."""
    name = f"provenance.{RECIPE_KEY}"
    if not isinstance(recipe, dict) or set(recipe) != set(RECIPE_KEYS):
        got = sorted(recipe) if isinstance(recipe, dict) else repr(recipe)
        raise ValueError(f"{where!r}: {name} must be an object with keys {list(RECIPE_KEYS)} "
                         f"(how the model was trained), got {got}")
    _check_types(recipe, RECIPE_KEYS, where, name)
    if not _plain(recipe["hparams"]):
        raise ValueError(f"{where!r}: {name}.hparams must be an object of plain JSON values "
                         f"(finite numbers), got {recipe['hparams']!r}")
    size = recipe["batch_size"]
    if size is not None and size < 1:
        raise ValueError(f"{where!r}: {name}.batch_size must be an int >= 1 or null, got "
                         f"{size!r}")
    if not all(isinstance(k, str) for k in recipe["omitted"]):
        raise ValueError(f"{where!r}: {name}.omitted must be a list of hyper-parameter names, "
                         f"got {recipe['omitted']!r}")


def _check_types(record: dict, keys: dict, where: str, name: str) -> None:
    """Each of ``keys`` in ``record`` (config.json's ``name``) of one of the JSON types there
    (None: null); a bool is no int. One ValueError naming the key otherwise."""
    for key, types in keys.items():
        v = record[key]
        if not isinstance(v, types) or (bool not in types and isinstance(v, bool)):
            want = " or ".join("null" if t is type(None) else {
                dict: "an object", str: "a string", int: "an int", bool: "true or false",
                list: "a list"}[t] for t in types)
            raise ValueError(f"{where!r}: {name}.{key} must be {want}, got {v!r}")
