"""Export a trained surrogate to a directory (:func:`export_surrogate`), never unpickling
anything: this module makes ``config.json``; :mod:`pdesurrogate.export_files` writes the folder,
:mod:`pdesurrogate.export_checks` checks ``config.json`` and :mod:`pdesurrogate.provenance`
makes its ``provenance``; :func:`~pdesurrogate.loading.load` reads it back.

Layout of an exported surrogate (``outdir``)::

    config.json        format_version, format_revision, pdesurrogate_version, model
                       ({"class", "init_args"} of a name in pdesurrogate.models.MODELS, or a
                       model of the user's own code under its qualified name,
                       "mynet.MyNet"), residual, pde, grid_shape,
                       grid_names, grid_extent, channel_names, param_names,
                       data_param_names, k, dt,
                       normalization, provenance (with its recipe), metrics, versions
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
``fine_tuned_from`` was fit on its ``data_source`` alone.

``provenance.recipe`` says how the model was trained: ``module``, the LightningModule's class
path (``"pdesurrogate.training.NextStepModule"``; null for a checkpoint of a fit that did not
record it: only LightningCLI's, ``pdesurrogate fit``'s, do), ``hparams``, its hyper-parameters
as the fit had them (``lr``, ``weight_decay``, ``scheduler``, ``loss``, ``rollout_steps``,
``curriculum``, ``aux_weight``, ...: the module's ``hparams`` or the checkpoint's
``hyper_parameters``) but ``model_spec`` (the ``model`` key) and ``init_weights`` (above), and
``omitted``, the names of those left out as not plain JSON values or as absolute paths (which
would say where the fit ran), and ``batch_size``, the datamodule's, per process (null: not
known, e.g. plain DataLoaders). Exports older than it (format revision 4) load without it. A
PINN export (:mod:`pdesurrogate.pinn.export`) records the same keys but ``data_source``, built
and checked by the same functions (:func:`~pdesurrogate.provenance.provenance`,
:func:`~pdesurrogate.provenance.check_provenance`).

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
(by more than :data:`~pdesurrogate.surrogate.RANGE_MARGIN` of its width) :class:`Surrogate`
warns (:class:`ParameterRangeWarning`); exports older than them, or with
them empty, have no known range and never warn. ``pde``, ``grid_shape``, ``channel_names``,
``k`` and ``dt`` are null when not known.

``grid_names`` are the training data's spatial axes' names in the states' order (ours
``["y", "x"]``, PDEBench's and The Well's ``["x", "y"]``; an online run's, its solver's), null
when not known; :meth:`Surrogate.check_grid` refuses a file with the same names in another
order, whose fields the model would take transposed. Exports older than ``grid_names`` load
without it, and their files' axes are not checked.

``grid_extent`` is the training data's extent along each of those axes, ``[{"first", "last",
"step"}]`` (its first and last coordinates and their mean spacing, null for one point:
:mod:`pdesurrogate.datasets.grid_extent`; an online run's, its solver's nodes), null when not
known; ``pdesurrogate predict`` refuses a file over another domain, at any resolution
(:func:`pdesurrogate.predict.plan_rollout`). Exports older than it (format revision 3) load
without it, and their files' domains are not checked.

:func:`export_surrogate` takes a :class:`~pdesurrogate.training.NextStepModule` or a Lightning
``.ckpt`` (read with ``torch.load(weights_only=True)``, which refuses arbitrary objects) and writes
the directory under a temporary name, renamed when complete; a file that is not such a checkpoint
is one ValueError, ``'<path>': not a Lightning checkpoint (<reason>)``. :func:`load` checks every
key of ``config.json`` (a key it does not know is an error, a misspelling, unless a newer
pdesurrogate wrote the export, a later ``format_revision`` or ``pdesurrogate_version``, and
the key is at the top level or inside ``provenance`` or ``metrics``; then it warns,
:class:`~pdesurrogate.export_checks.NewerExportWarning`, and ignores it:
:data:`FORMAT_REVISION`), that its grid, channels, parameters and normalisation fit the model it
names, and every tensor name and shape before loading the weights, and refuses pickle files with a
ValueError naming the file. The same checks run on an export before it is renamed into place, so
nothing is written that ``load`` would refuse.

A model of the user's own code (not in ``MODELS``) is recorded under its qualified name
(``"mynet.MyNet"``) by ``fit`` and exported with it, when it follows the contract of
:mod:`pdesurrogate.models` (a checkpoint of one that does not has a null ``model_spec`` and is
refused). Building it always needs the class from the caller, who hands it as ``models=``:
``load(DIR, models={"mynet.MyNet": MyNet})``, ``export_surrogate(CKPT, DIR, models=...)`` (a
module's own classes come with its live model). A name in ``config.json`` or a checkpoint is
never imported, so a file cannot make us run code.

Where the parts live: writing an export here; the checks of ``config.json`` that writing and
loading share in :mod:`pdesurrogate.export_checks`; ``provenance`` in
:mod:`pdesurrogate.provenance`; :func:`~pdesurrogate.loading.load` in
:mod:`pdesurrogate.loading`; the loaded :class:`~pdesurrogate.surrogate.Surrogate`,
:class:`~pdesurrogate.surrogate.ParameterRangeWarning` and
:func:`~pdesurrogate.surrogate.range_warnings_off` in :mod:`pdesurrogate.surrogate`; the
files themselves in :mod:`pdesurrogate.export_files`.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from pdesurrogate import fit_metrics
from pdesurrogate.datasets.grid_extent import EXTENT_KEY
from pdesurrogate.export_checks import (
    FORMAT_REVISION,
    STEADY_KIND,
    _checked_model,
    _class_not_handed,
)
from pdesurrogate.export_files import (
    CONFIG_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    check_target,
    check_tensors,
    library_versions,
    package_version,
    read_checkpoint,
    read_weights,
    write_export,
)
from pdesurrogate.loading import load
from pdesurrogate.meta_build import meta_build
from pdesurrogate.models import (
    build_model,
    check_models,
    missing_models,
    model_spec,
    own_classes,
)
from pdesurrogate.provenance import (
    FIELD_RECORDED,
    FINE_TUNED_KEY,
    INIT_WEIGHTS_KEY,
    provenance,
    recipe_of_checkpoint,
    recipe_of_module,
    run_of_checkpoint,
    run_of_module,
)
from pdesurrogate.run_record import CHECKPOINT_KEY
from pdesurrogate.surrogate import ParameterRangeWarning, Surrogate, range_warnings_off

# load, Surrogate and its range warnings lived here before loading.py and surrogate.py: kept
# so that a user's `from pdesurrogate.export import load` still works
__all__ = ["export_surrogate", "Surrogate", "load", "ParameterRangeWarning",
           "range_warnings_off"]


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
             "metrics": fit_metrics.of_module(module),
             "recipe": recipe_of_module(module, FIELD_RECORDED)}
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
             "models": models, "metrics": fit_metrics.of_checkpoint(ckpt),
             "recipe": recipe_of_checkpoint(ckpt, FIELD_RECORDED)}
    missing = missing_models(spec, models)
    if missing:
        raise _class_not_handed(str(path), "checkpoint", missing[0], "export_surrogate",
                                f"{str(path)!r}, OUTDIR", "export")
    return spec, state, extra


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
        EXTENT_KEY: info.get(EXTENT_KEY),
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
    config["provenance"] = provenance(extra["run"], recipe=extra["recipe"], **data)
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
        with meta_build():
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
