"""Export a trained surrogate to a directory and load it back, never unpickling anything.

Layout of an exported surrogate (``outdir``)::

    config.json        format_version, format_revision, pdesurrogate_version, model
                       ({"class", "init_args"} of a name in pdesurrogate.models.MODELS, or a
                       model of the user's own code under its qualified name,
                       "mynet.MyNet"), residual, pde, grid_shape,
                       grid_names, channel_names, param_names, data_param_names, k, dt,
                       normalization, provenance, metrics, versions
    model.safetensors  the model's state_dict (safetensors: a JSON header plus raw arrays)

A steady map's export (a :class:`~pdesurrogate.training.SteadyModule`'s: input channels ->
target channels of a problem without time, e.g. Darcy flow's ``a -> u``) has three keys more:
``kind`` = ``"steady"``, ``inputs`` and ``targets`` (the names, among ``channel_names``, of the
channels the model takes and predicts; ``normalization`` holds every channel's statistics), and
``k`` and ``dt`` null; :func:`load` returns it as a
:class:`~pdesurrogate.steady_surrogate.SteadySurrogate`. An export without ``kind`` is a
time-stepping surrogate, as every export before steady maps was.

``provenance`` traces a published number back to its run: ``data_source`` (the training data's
absolute path, content fingerprint and split: ``n_trajectories``, ``fractions``, ``seed``,
``max_train_trajectories``, as :class:`~pdesurrogate.training.FieldDataModule` records them;
for an online run its stream's record, ``"kind": "online"``: solver class and arguments,
parameter box, scheduler settings and seed, simulations, the held-out sets' generation (both
forms: :mod:`pdesurrogate.datasets.source`, which ``load`` checks key by key); null for a
module that never saw one), ``checkpoint`` (the absolute path exported from; null
for a module), ``epoch`` and ``global_step`` (Lightning's counters when the checkpoint was
written or the module exported; null if never trained), ``seed_everything`` (the fit's global
seed, null if not recorded), ``git_commit`` and ``git_dirty`` (the commit of the checkout the
exporting pdesurrogate ran from and whether its tracked files had changes; null when it is not
run from a git checkout). A model whose weights were fit on other data first (a fit resumed
from an online run's checkpoint on a file: :mod:`pdesurrogate.training.data_source`) also has
``fine_tuned_from``, those earlier sources' records, oldest first; ``data_source`` is the data
it was fit on last. A fit started from a trained model's weights (``init_weights``:
:mod:`pdesurrogate.training.init_weights`) has ``init_weights``, the absolute path of the
export folder or checkpoint they were read from, and the data those weights were fit on in
``fine_tuned_from``. Exports older than ``provenance`` load without it, and any export without
``fine_tuned_from`` was fit on its ``data_source`` alone. A PINN export
(:mod:`pdesurrogate.pinn.export`) records the same keys but ``data_source``, built and checked
by the same functions (:func:`provenance`, :func:`check_provenance`).

``metrics`` says how good the model was when its checkpoint was written: ``validation``, its
last validation's ``val/`` metrics (``values``, e.g. ``val/rel_l2``) with the ``epoch`` and
``global_step`` they were computed at (null: never validated, or a checkpoint written before
metrics were recorded), and ``best``, each ``ModelCheckpoint``'s ``monitor``, best ``score``
and ``path`` (:mod:`pdesurrogate.fit_metrics`); the whole key is null when neither is known.
``versions`` are the torch, lightning and neuraloperator versions that wrote the export (null
for one not installed). Both are only recorded; exports older than them load without them.

``param_names`` are the parameters the model takes, in the order ``predict`` wants them (``[]``
for a model built with ``n_params=0``); ``data_param_names`` those of the data it was trained
on (null: not known), which differ only for such a parameter-blind model trained on a file with
parameters. Exports older than ``data_param_names`` held the data's names in ``param_names``;
they load as this layout. ``normalization`` is ``ChannelStats.to_dict()``, or null: identity
(states and parameters reach the model as they are, as in a module trained without
statistics). Its ``param_min`` and ``param_max`` are the parameters' training range (the
training split's smallest and largest values, an online run's parameter box), outside which
(by more than :data:`RANGE_MARGIN` of its width) :class:`Surrogate` warns
(:class:`ParameterRangeWarning`); exports older than them, or with
them empty, have no known range and never warn. ``pde``, ``grid_shape``, ``channel_names``,
``k`` and ``dt`` are null when not known.

``grid_names`` are the training data's spatial axes' names in the states' order (ours
``["y", "x"]``, PDEBench's and The Well's ``["x", "y"]``; an online run's, its solver's), null
when not known; :meth:`Surrogate.check_grid` refuses a file with the same names in another
order, whose fields the model would take transposed. Exports older than ``grid_names`` load
without it, and their files' axes are not checked.

:func:`export_surrogate` takes a :class:`~pdesurrogate.training.NextStepModule` or a Lightning
``.ckpt`` (read with ``torch.load(weights_only=True)``, which refuses arbitrary objects) and writes
the directory under a temporary name, renamed when complete; a file that is not such a checkpoint
is one ValueError, ``'<path>': not a Lightning checkpoint (<reason>)``. :func:`load` checks every
key of ``config.json`` (a top-level key it does not know is an error, a misspelling, unless a
newer pdesurrogate wrote the export: a later ``format_revision`` or ``pdesurrogate_version``;
then it warns, :class:`NewerExportWarning`, and ignores it: :data:`FORMAT_REVISION`), that
its grid, channels, parameters and normalisation fit the model it names, and every tensor
name and shape before loading the weights, and refuses pickle files with a ValueError naming
the file. The same checks run on an export before it is renamed into
place, so nothing is written that ``load`` would refuse.

A model of the user's own code (not in ``MODELS``) is recorded under its qualified name
(``"mynet.MyNet"``) by ``fit`` and exported with it, when it follows the contract of
:mod:`pdesurrogate.models` (a checkpoint of one that does not has a null ``model_spec`` and is
refused). Building it always needs the class from the caller, who hands it as ``models=``:
``load(DIR, models={"mynet.MyNet": MyNet})``, ``export_surrogate(CKPT, DIR, models=...)`` (a
module's own classes come with its live model). A name in ``config.json`` or a checkpoint is
never imported, so a file cannot make us run code.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import json
import math
import numbers
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeAlias, overload

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from pdesurrogate import fit_metrics
from pdesurrogate.export_files import (
    CONFIG_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    check_config_keys,
    check_device,
    check_header,
    check_target,
    check_tensors,
    check_versions,
    library_versions,
    materialise,
    package_version,
    read_checkpoint,
    read_config,
    read_weights,
    write_export,
)
from pdesurrogate.models import (
    build_model,
    check_models,
    missing_models,
    model_spec,
    own_classes,
)
from pdesurrogate.pinn.export import PINNSurrogate
from pdesurrogate.run_record import CHECKPOINT_KEY
from pdesurrogate.temp_files import BACKUP, leftover_pattern

CONFIG_KEYS = ("format_version", "pdesurrogate_version", "model", "residual", "pde",
               "grid_shape", "channel_names", "param_names", "k", "dt", "normalization")
# keys a current export writes but an older one lacks
OPTIONAL_KEYS = ("data_param_names", "provenance", "grid_names", "metrics", "versions",
                 "format_revision")
#: the revision of config.json's layout :data:`FORMAT_VERSION` that this pdesurrogate writes
#: (config.json's ``format_revision``; 0 when absent, an export written before it was
#: recorded): one more each time a top-level key is added to :data:`OPTIONAL_KEYS`. A reader
#: ignores, with a :class:`NewerExportWarning`, the top-level keys it does not know in an
#: export of a later revision, so such a key may only record (as ``metrics`` and
#: ``versions`` do); what changes how a model is built or run goes inside ``model`` or
#: ``normalization``, whose unknown keys stay errors, or raises :data:`FORMAT_VERSION`
FORMAT_REVISION = 1
#: config.json's ``kind`` of a steady map's export, and the keys such an export has besides
#: :data:`CONFIG_KEYS`
STEADY_KIND = "steady"
STEADY_KEYS = ("kind", "inputs", "targets")
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
GIT_TIMEOUT_S = 5.0

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


# -- export ---------------------------------------------------------------------------------------
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


def provenance(run: dict, **data) -> dict:
    """config.json's ``provenance``: ``data`` (``data_source=...`` for a field surrogate; a
    PINN has no training data), then ``run`` (:func:`run_of_module` /
    :func:`run_of_checkpoint`) as JSON ints, then the git state (:func:`git_state`)."""
    commit, dirty = git_state()
    return {**data, "checkpoint": run["checkpoint"], "epoch": _json_int(run["epoch"]),
            "global_step": _json_int(run["global_step"]),
            "seed_everything": _json_int(run["seed_everything"]),
            "git_commit": commit, "git_dirty": dirty}


def _from_module(module, models: dict) -> tuple[dict, dict, dict]:
    # the live model is here: the classes of the user's own code it holds come with it
    try:
        spec = getattr(module, "model_spec", None) or model_spec(module.model)
        models = {**models, **own_classes(module.model)}
    except ValueError as e:
        raise ValueError(f"the module's model cannot be exported: {e}") from None
    stats = module.stats.to_dict() if module.stats is not None else None
    if callable(getattr(module, "channel_indices", None)) \
            and "inputs" not in (module.data_info or {}):
        raise ValueError("this SteadyModule has no record of its input and target channels: "
                         "fit it with a SteadyDataModule before exporting it")
    extra = {"normalization": stats, "data_info": module.data_info,
             "residual": bool(module.residual), "run": run_of_module(module), "models": models,
             "metrics": fit_metrics.of_module(module)}
    return spec, module.model.state_dict(), extra


def _from_checkpoint(path: Path, ckpt: dict, models: dict) -> tuple[dict, dict, dict]:
    hp = ckpt.get("hyper_parameters") or {}
    spec = hp.get("model_spec")
    if spec is None and "model_spec" in hp:
        raise ValueError(
            f"{str(path)!r}: its hyper-parameters' model_spec is null: the model did not follow "
            "the contract of 'Adding a model' (pdesurrogate/models/__init__.py) when it was "
            "fit (the fit warned what was missing), so its constructor arguments were not "
            "recorded. Store each constructor argument as an attribute of the same name and "
            "fit again")
    if spec is None:
        raise ValueError(f"{str(path)!r}: no 'model_spec' in the hyper-parameters; was it "
                         "written by NextStepModule?")
    state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items()
             if k.startswith("model.")}
    saved = ckpt.get(CHECKPOINT_KEY) or {}
    extra = {"normalization": saved.get("normalization"), "data_info": saved.get("data_info"),
             "residual": bool(hp.get("residual", False)), "run": run_of_checkpoint(path, ckpt),
             "models": models, "metrics": fit_metrics.of_checkpoint(ckpt)}
    missing = missing_models(spec, models)
    if missing:
        raise _class_not_handed(str(path), "checkpoint", missing[0], "export_surrogate",
                                f"{str(path)!r}, OUTDIR", "export")
    return spec, state, extra


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


def export_surrogate(source, outdir: str | os.PathLike, overwrite: bool = False, *,
                     param_names: Sequence[str] | None = None,
                     channel_names: Sequence[str] | None = None, pde: str | None = None,
                     dt: float | None = None,
                     models: dict[str, type[nn.Module]] | None = None) -> Path:
    """Write ``outdir/config.json`` and ``outdir/model.safetensors``.

    A module trained with a :class:`~pdesurrogate.training.FieldDataModule` (or online) knows
    its data: the PDE, grid, channel and parameter names and the time step. One trained with
    plain DataLoaders, or never trained, knows none of it: give what the data would have told
    with the keywords below, or it is written as null (``predict`` then skips those checks).

    Args:
        source: a ``NextStepModule`` (``All2AllModule`` and ``RefinerModule`` are ones) or
            the path of a Lightning ``.ckpt`` it wrote; a PINN module or checkpoint goes to
            :func:`pdesurrogate.pinn.export.export_pinn`.
        outdir: the surrogate directory to create.
        overwrite: replace an existing ``outdir``.
        param_names: names of the data's parameters, in the order of the ``params`` columns
            the model was trained on. Required when the module has no record of its data and
            the model takes parameters (``n_params > 0``); for a model with ``n_params=0``
            they are recorded as ``data_param_names`` only (the surrogate takes none).
        channel_names: names of the state's channels (``in_channels`` of them).
        pde: name of the PDE (``predict`` refuses a file of another PDE).
        dt: time of one model step (> 0).
        models: the classes of models of your own code that a checkpoint names, by the
            qualified name it records (``{"mynet.MyNet": MyNet}``); the export's weights are
            checked against the model built from them. A module's own classes come with it.

    A keyword that contradicts what the module learned from its data is refused. Without
    statistics (``module.stats`` None) the export's normalisation is the identity: config.json
    holds ``"normalization": null`` and the loaded surrogate's repr says
    ``normalization='identity'``.

    Returns the path of ``outdir``. Raises FileExistsError if it exists and not ``overwrite``
    (``--overwrite`` on the command line), and with ``overwrite`` if it is anything but an
    export folder (one holding nothing but config.json and model.safetensors), the current
    folder or one above it, or the folder holding ``source``; ValueError for a path that is
    not a Lightning checkpoint (see :func:`read_checkpoint`), for a bad keyword, for a
    model that takes parameters when nothing names them (pass ``param_names``), for a
    checkpoint naming a model of your own code whose class is not in ``models`` or whose
    weights do not fit it, for a module whose model does not follow the contract of
    :mod:`pdesurrogate.models`, and for weights that hold NaN or inf (a fit that diverged).
    """
    models = check_models(models)
    out = Path(outdir)
    src_path = source if isinstance(source, (str, os.PathLike)) else None
    check_target(out, overwrite, src_path)
    given = _check_keywords(param_names=param_names, channel_names=channel_names, pde=pde,
                            dt=dt)
    # imported on use: field surrogates need none of the PINN code
    from pdesurrogate.pinn.export import export_pinn, is_pinn_hparams, is_pinn_source

    if isinstance(source, (str, os.PathLike)):
        # read (and vet) the file once here: a PINN checkpoint has its own layout
        ckpt = read_checkpoint(source)
        if is_pinn_hparams(ckpt.get("hyper_parameters")):
            _no_keywords_for_pinn(given)
            return export_pinn(source, outdir, overwrite=overwrite)
        spec, state, extra = _from_checkpoint(Path(source), ckpt, models)
    elif is_pinn_source(source):
        _no_keywords_for_pinn(given)
        return export_pinn(source, outdir, overwrite=overwrite)
    elif hasattr(source, "model") and hasattr(source, "model_spec"):
        spec, state, extra = _from_module(source, models)
    else:
        raise ValueError(f"source must be a NextStepModule or a .ckpt path, got "
                         f"{type(source).__name__}")
    info = dict(extra["data_info"] or {})
    for key, value in given.items():
        known = info.get(key)
        same = known == value if key != "dt" or known is None else math.isclose(known, value)
        if known is not None and not same:
            raise ValueError(f"{key}={value!r} contradicts the {known!r} the module recorded "
                             f"from its training data; leave {key} out")
        info[key] = value
    stats = extra["normalization"]
    models = extra["models"]
    model_pn, data_pn = _param_names(spec, info.get("param_names"), stats,
                                     "param_names" in given, models)
    config = {
        "format_version": FORMAT_VERSION,
        "format_revision": FORMAT_REVISION,
        "pdesurrogate_version": package_version(),
        "model": spec,
        "residual": extra["residual"],
        "pde": info.get("pde"),
        "grid_shape": info.get("grid_shape"),
        "grid_names": info.get("grid_names"),
        "channel_names": info.get("channel_names"),
        "param_names": model_pn,
        "data_param_names": data_pn,
        "k": info.get("k"),
        "dt": info.get("dt"),
        "normalization": stats,
    }
    if info.get("inputs") is not None:
        # a steady map: no time step, and which channels go in and come out
        config.update(kind=STEADY_KIND, inputs=list(info["inputs"]),
                      targets=list(info.get("targets") or []), k=None, dt=None)
    source, earlier = info.get("source"), info.get(FINE_TUNED_KEY)
    data = {"data_source": json.loads(json.dumps(source)) if source is not None else None}
    if earlier:
        data[FINE_TUNED_KEY] = json.loads(json.dumps(earlier))
    if info.get(INIT_WEIGHTS_KEY) is not None:
        data[INIT_WEIGHTS_KEY] = str(info[INIT_WEIGHTS_KEY])
    config["provenance"] = provenance(extra["run"], **data)
    config.update(metrics=extra["metrics"], versions=library_versions())
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    return write_export(out, config, tensors,
                        check=lambda tmp: _check_export(config, tmp, models), source=src_path,
                        overwrite=overwrite)


def _check_keywords(**given) -> dict:
    """export_surrogate's data keywords that are not None, checked and as plain JSON types."""
    out = {}
    for key, v in given.items():
        if v is None:
            continue
        if key in ("param_names", "channel_names"):
            if isinstance(v, str) or not isinstance(v, Sequence) \
                    or not all(isinstance(n, str) and n for n in v) or len(set(v)) != len(v):
                raise ValueError(f"{key} must be a list of distinct non-empty strings, got "
                                 f"{v!r}")
            v = list(v)
        elif key == "pde":
            if not isinstance(v, str) or not v:
                raise ValueError(f"pde must be a non-empty string, got {v!r}")
        elif isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) \
                or v <= 0:
            raise ValueError(f"dt must be a finite number > 0, got {v!r}")
        else:
            v = float(v)
        out[key] = v
    return out


def _no_keywords_for_pinn(given: dict) -> None:
    if given:
        raise ValueError(f"{sorted(given)}: a PINN export records its own problem; these "
                         "keywords are for field surrogates")


def _param_names(spec: dict, data_pn, stats: dict | None, from_keyword: bool,
                 models: dict | None = None) -> tuple[list[str], list[str] | None]:
    """config.json's ``param_names`` (what the model takes) and ``data_param_names`` (what
    the data had), from the data's names (None: not recorded) and the statistics."""
    if data_pn is None and stats is not None:
        data_pn = list(stats["param_names"])  # statistics are computed on the data
    try:
        with torch.device("meta"):
            model = build_model(spec, "model", models)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the module's model_spec: {e}") from None
    n, cls = int(getattr(model, "n_params", 0) or 0), spec["class"]
    if not n:
        return [], data_pn
    if data_pn is None:
        raise ValueError(f"the model ({cls}) takes n_params = {n} parameter(s), but nothing "
                         "names them: the module never saw a FieldDataModule (trained with "
                         "plain DataLoaders, or not trained). Pass export_surrogate(..., "
                         f"param_names=[...]) (pdesurrogate export --param-names A,B,...) with "
                         f"{n} name(s) in the order of the params columns it was trained on")
    if len(data_pn) != n:
        where = "param_names=" if from_keyword else "the module's recorded param_names "
        raise ValueError(f"{where}{data_pn} has {len(data_pn)} name(s) but the model ({cls}) "
                         f"takes n_params = {n}; expected {n}")
    return list(data_pn), list(data_pn)


def _check_export(config: dict, tmp: Path, models: dict | None = None) -> None:
    """The checks :func:`load` makes, on the written files: config.json against a model built
    on the meta device (no memory), and model.safetensors read back against that model."""
    model = _checked_model(config, tmp / CONFIG_NAME, models)
    check_tensors(model, read_weights(tmp / WEIGHTS_NAME), tmp / WEIGHTS_NAME)


# -- load -----------------------------------------------------------------------------------------
class NewerExportWarning(UserWarning):
    """:func:`load` ignored top-level keys of ``config.json`` that this pdesurrogate does not
    know, in an export written by a newer one (a later :data:`FORMAT_REVISION` or
    ``pdesurrogate_version``): keys it only records (:data:`FORMAT_REVISION`). The same keys
    in an export of this version or an older one are an error: a misspelling."""


def _without_newer_keys(cfg, where: str, known: Sequence[str]):
    """``cfg`` without its top-level keys outside ``known`` if a newer pdesurrogate wrote it
    (:func:`_newer_writer`), warned in one line (:class:`NewerExportWarning`) naming them and
    both versions; else ``cfg`` itself, whose unknown keys :func:`check_config_keys` refuses."""
    if not isinstance(cfg, dict):
        return cfg
    unknown = sorted(set(cfg) - set(known))
    writer = _newer_writer(cfg) if unknown else None
    if writer is None:
        return cfg
    warnings.warn(f"{where!r}: ignoring key(s) {unknown}, which this pdesurrogate "
                  f"({package_version()}, format revision {FORMAT_REVISION}) does not know: "
                  f"the export was written by a newer one ({writer})", NewerExportWarning,
                  stacklevel=2)
    return {k: v for k, v in cfg.items() if k not in unknown}


def _newer_writer(cfg: dict) -> str | None:
    """The pdesurrogate that wrote ``cfg`` (``"0.2.0, format revision 3"``) if it is newer
    than this one: the same :data:`FORMAT_VERSION` and a later ``format_revision`` or
    ``pdesurrogate_version`` (compared by release numbers); else None."""
    if cfg.get("format_version") != FORMAT_VERSION:
        return None  # another format: check_config_keys refuses it
    rev = cfg.get("format_revision", 0)
    rev = rev if isinstance(rev, int) and not isinstance(rev, bool) else 0
    theirs, ours = _release(cfg.get("pdesurrogate_version")), _release(package_version())
    if rev <= FORMAT_REVISION and (theirs is None or ours is None or theirs <= ours):
        return None
    return f"{cfg.get('pdesurrogate_version')}, format revision {rev}"


def _release(version) -> tuple[int, ...] | None:
    """The release numbers of a version string (``"0.2.1rc1"`` -> ``(0, 2, 1)``); None for
    one without ("unknown": a bare source tree)."""
    m = re.match(r"\d+(?:\.\d+)*", version) if isinstance(version, str) else None
    return tuple(int(n) for n in m.group().split(".")) if m else None


def _check_config(cfg, path: Path) -> None:
    where = str(path)
    steady = isinstance(cfg, dict) and cfg.get("kind") == STEADY_KIND
    if isinstance(cfg, dict) and "kind" in cfg and not steady:
        raise ValueError(f"{where!r}: kind must be {STEADY_KIND!r} (a steady map), 'pinn' or "
                         f"absent (a time-stepping surrogate), got {cfg['kind']!r}")
    required = CONFIG_KEYS + (STEADY_KEYS if steady else ())
    cfg = _without_newer_keys(cfg, where, required + OPTIONAL_KEYS)
    check_config_keys(cfg, where, required, OPTIONAL_KEYS)

    def check(key, ok, expected):
        if not ok:
            raise ValueError(f"{where!r}: {key} must be {expected}, got {cfg[key]!r}")

    rev = cfg.get("format_revision", 0)
    check("format_revision", isinstance(rev, int) and not isinstance(rev, bool) and rev >= 0,
          "an int >= 0")

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


def check_provenance(prov, where: str, keys: dict | None = None) -> None:
    """config.json's ``provenance``: null, or an object with exactly ``keys`` (default
    :data:`PROVENANCE_KEYS`; a PINN's: :data:`RUN_PROVENANCE_KEYS`) of the types there, a
    ``data_source`` that is null or a record that
    :func:`pdesurrogate.datasets.source.check_source_record` accepts (it is only recorded, never
    acted on by ``load``, but a typo is still an error) and, for a field surrogate, perhaps
    ``fine_tuned_from``: a list of such records, and ``init_weights``: a string."""
    field = keys is None
    keys = PROVENANCE_KEYS if keys is None else keys
    if prov is None:
        return
    if not isinstance(prov, dict):
        raise ValueError(f"{where!r}: provenance must be null or an object, got "
                         f"{type(prov).__name__}")
    optional = {FINE_TUNED_KEY, INIT_WEIGHTS_KEY} if field else set()
    unknown = sorted(set(prov) - set(keys) - optional)
    missing = [k for k in keys if k not in prov]
    if unknown or missing:
        maybe = f" (and perhaps {FINE_TUNED_KEY!r}, {INIT_WEIGHTS_KEY!r})" if field else ""
        raise ValueError(f"{where!r}: provenance has unknown key(s) {unknown}, missing key(s) "
                         f"{missing}; expected exactly {list(keys)}{maybe}")
    for key, types in keys.items():
        v = prov[key]
        if not isinstance(v, types) or (bool not in types and isinstance(v, bool)):
            want = " or ".join("null" if t is type(None) else {
                dict: "an object", str: "a string", int: "an int", bool: "true or false"}[t]
                for t in types)
            raise ValueError(f"{where!r}: provenance.{key} must be {want}, got {v!r}")
    from pdesurrogate.datasets.source import check_source_record

    if prov.get("data_source") is not None:
        check_source_record(prov["data_source"], where)
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
    """config.json's ``normalization`` as a :class:`ChannelStats` (None if null); it must
    have every key of :data:`_STATS_KEYS` (:class:`Surrogate` reads them all) and may have
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
    classes handed for models of the user's own code (:func:`load`)."""
    _check_config(cfg, cfg_path)
    missing = missing_models(cfg["model"], models)
    if missing:
        raise _class_not_handed(str(cfg_path), "export", missing[0], "pdesurrogate.load",
                                repr(str(cfg_path.parent)), "predict")
    try:
        with torch.device("meta"):
            model = build_model(cfg["model"], "model", models)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{str(cfg_path)!r}: {e}") from None
    _check_fits_model(cfg, model, str(cfg_path))
    _check_consistent(cfg, str(cfg_path))
    return model


def load(outdir: str | os.PathLike, device: str | torch.device = "cpu", *,
         models: dict[str, type[nn.Module]] | None = None) -> Surrogate | PINNSurrogate:
    """Load an exported surrogate directory; see :class:`Surrogate`. A PINN export
    (``"kind": "pinn"``) loads as :class:`pdesurrogate.pinn.PINNSurrogate` (u at points).

    An export of a model of your own code (config.json's ``model.class`` a qualified name such
    as ``"mynet.MyNet"``) needs its class: ``models={"mynet.MyNet": MyNet}``. Names in
    ``config.json`` are only looked up there and in ``MODELS``, never imported.

    ``config.json`` is read only if it is a regular file of at most
    :data:`~pdesurrogate.export_files.CONFIG_MAX_BYTES`. Its model is built on the meta device
    first and checked against the names, shapes and dtypes in ``model.safetensors``' header;
    only a model that matches them is built in memory and given the weights, so a config that
    names a huge model does not allocate it.

    Raises:
        FileNotFoundError: the directory or one of its two files is missing.
        ValueError (naming the file): config.json not a regular file, too large or invalid
            JSON, missing or unknown config keys, a model not in ``MODELS`` nor handed in
            ``models``, bad constructor arguments, a grid, channel_names,
            param_names or normalization that contradict each other or the model, a weights
            file that is a pickle or not safetensors, missing/unexpected tensors or wrong
            shapes or dtypes, a model too large to build; a ``device`` this torch cannot use
            (e.g. ``"cuda"`` on a CPU-only build); a ``models`` that is not a dict of names
            to nn.Module subclasses.
    """
    device = check_device(device)
    models = check_models(models)
    d = Path(outdir)
    # an export replaced while it is read (another process exporting into it with --overwrite
    # renames a whole new folder in): read again, so that config.json and model.safetensors
    # always come from one export, never the config of one with the weights of the other
    for attempt in range(_READ_ATTEMPTS):
        before = _folder_id(d)
        if before is None and _being_replaced(d):
            time.sleep(0.02 * (attempt + 1))  # between its two renames: the new one comes next
            continue
        try:
            surrogate = _load_once(d, device, models)
        except (OSError, ValueError, RuntimeError):
            if before is None or _folder_id(d) == before:
                raise
            continue
        if _folder_id(d) == before:
            return surrogate
    if _folder_id(d) is None:
        return _load_once(d, device, models)  # its error names what is missing
    raise RuntimeError(f"{str(d)!r} was replaced {_READ_ATTEMPTS} times while it was read "
                       "(another process exporting into it?); load it when that is done")


# reads of an export folder that another export keeps replacing, before load gives up
_READ_ATTEMPTS = 8


def _being_replaced(d: Path) -> bool:
    """Whether an export's backup of ``d`` lies beside it: another export has renamed the old
    folder aside and is about to rename the new one in (or was killed between the two)."""
    pattern = leftover_pattern(d)
    try:
        names = os.listdir(d.parent)
    except OSError:
        return False
    return any((m := pattern.fullmatch(n)) and m.group(3) == BACKUP for n in names)


def _folder_id(d: Path) -> tuple[int, int] | None:
    """The identity of the folder at ``d`` now (an export renamed in is a new folder)."""
    try:
        st = os.stat(d)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _load_once(d: Path, device: torch.device, models: dict | None) -> Surrogate | PINNSurrogate:
    cfg_path, w_path = d / CONFIG_NAME, d / WEIGHTS_NAME
    for p in (d, cfg_path, w_path):
        if not p.exists():
            raise FileNotFoundError(f"{str(p)!r} does not exist (an exported surrogate is a "
                                    f"directory holding {CONFIG_NAME} and {WEIGHTS_NAME})")
    cfg = read_config(cfg_path)
    if isinstance(cfg, dict) and cfg.get("kind") == "pinn":
        from pdesurrogate.pinn.export import load_pinn  # a PINN: u(x) at points

        return load_pinn(d, cfg, device)
    check_header(_checked_model(cfg, cfg_path, models), w_path)
    model = materialise(lambda: build_model(cfg["model"], "model", models), cfg_path)
    tensors = read_weights(w_path)
    check_tensors(model, tensors, w_path)
    model.load_state_dict(tensors, strict=True)
    if cfg.get("kind") == STEADY_KIND:
        from pdesurrogate.steady_surrogate import SteadySurrogate  # subclasses Surrogate

        return SteadySurrogate(model, cfg).to(device)
    return Surrogate(model, cfg).to(device)


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
