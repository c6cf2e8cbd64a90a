"""What a Lightning checkpoint (``.ckpt``) holds, read without building the module or loading
its weights into a model (``pdesurrogate info CKPT``, beside export folders and dataset files in
:mod:`pdesurrogate.info`).

The file is read as ``pdesurrogate export`` reads it
(:func:`~pdesurrogate.export_files.read_checkpoint`: ``torch.load(weights_only=True)``, tensors
memory-mapped), never unpickled; anything else (text, a truncated archive, a pickle of
arbitrary objects, a zip that is not torch's) is its one ValueError naming the file. What it
describes comes from the same readers as an export's ``config.json``: the model's
``model_spec`` hyper-parameter, the data record our modules keep under
:data:`~pdesurrogate.run_record.CHECKPOINT_KEY` (``data_info``, with the data source whose
fingerprint ``test`` compares, and ``normalization``),
:func:`~pdesurrogate.provenance.recipe_of_checkpoint`,
:func:`~pdesurrogate.provenance.run_of_checkpoint` and
:func:`~pdesurrogate.fit_metrics.of_checkpoint`. The model is built on the meta device (no
memory, no weights) only to tell its parameters from its buffers; a model of the user's own
code is never imported, and all its tensors are counted.

Which run wrote it: ``pdesurrogate fit`` (a data file; LightningCLI records the module's class
path), ``pdesurrogate online`` (its data source is a stream), a PINN fit, or a Lightning
checkpoint of some other program (no record of ours: only Lightning's own keys are shown).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

#: the suffix Lightning gives checkpoints; such a file is described (or refused) as one
SUFFIX = ".ckpt"
# first bytes of a torch.save archive: a file of another suffix holding them is read as one too
_ZIP_MAGIC = b"PK\x03\x04"
#: ``written_by`` of each kind of checkpoint :func:`describe_checkpoint` tells apart
WRITERS = {"fit": "pdesurrogate fit", "online": "pdesurrogate online",
           "pinn": "pdesurrogate PINN fit", "other": "Lightning (not pdesurrogate)"}
# the prefix of a field module's model tensors in its state_dict; a PINN's network's
_MODEL_PREFIX, _PINN_PREFIX = "model.", "net."


def is_checkpoint(path: Path) -> bool:
    """Whether ``info`` takes the file ``path`` for a checkpoint: its name ends in ``.ckpt``,
    or it starts as a torch.save zip archive does (a ``.ckpt`` that is no checkpoint is then
    refused by :func:`describe_checkpoint`, naming the file)."""
    if not path.is_file():
        return False
    if path.suffix.lower() == SUFFIX:
        return True
    try:
        with open(path, "rb") as f:
            return f.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
    except OSError:
        return False


def describe_checkpoint(path: Path) -> dict:
    """A JSON-ready description of the checkpoint at ``path`` (keys: :data:`JSON_KEYS`).

    Raises ValueError naming the file for one that is no Lightning checkpoint
    (:func:`~pdesurrogate.export_files.read_checkpoint`'s), and for one whose record of ours
    (data source, statistics) is not as our modules write it."""
    from pdesurrogate.export_files import read_checkpoint
    from pdesurrogate.run_record import CHECKPOINT_KEY

    ckpt = read_checkpoint(path)
    try:
        return _describe(path, ckpt)
    except (AttributeError, KeyError, TypeError, IndexError) as e:
        raise ValueError(f"{str(path)!r}: its hyper-parameters or {CHECKPOINT_KEY!r} record are "
                         f"not as pdesurrogate writes them ({type(e).__name__}: {e})") from None


def _describe(path: Path, ckpt: dict) -> dict:
    from pdesurrogate.datasets.source import check_source_record
    from pdesurrogate.export_checks import STEADY_KIND
    from pdesurrogate.fit_metrics import of_checkpoint
    from pdesurrogate.info import EXPORT_KINDS, _data_source, _ranges, _weights
    from pdesurrogate.pinn.export import RECORDED as PINN_RECORDED
    from pdesurrogate.pinn.export import is_pinn_hparams, network_of_hparams
    from pdesurrogate.provenance import (
        FIELD_RECORDED,
        FINE_TUNED_KEY,
        INIT_WEIGHTS_KEY,
        recipe_of_checkpoint,
        run_of_checkpoint,
    )
    from pdesurrogate.run_record import CHECKPOINT_KEY

    hp = ckpt.get("hyper_parameters")
    hp = hp if isinstance(hp, dict) else {}
    saved = ckpt.get(CHECKPOINT_KEY)
    saved = saved if isinstance(saved, dict) else None
    data = (saved or {}).get("data_info") or {}
    source = data.get("source")
    names = ["source", *(f"{FINE_TUNED_KEY}[{i}]" for i in range(len(data.get(FINE_TUNED_KEY)
                                                                     or [])))]
    for name, record in zip(names, [source, *(data.get(FINE_TUNED_KEY) or [])], strict=True):
        if record is not None:  # the checks export's load makes: one error naming the key
            check_source_record(record, str(path), f"{CHECKPOINT_KEY}.data_info.{name}")
    pinn = is_pinn_hparams(hp)
    if saved is None and "model_spec" not in hp:
        writer = "other"
    elif pinn:
        writer = "pinn"
    else:
        writer = "online" if isinstance(source, dict) and source.get("kind") == "online" \
            else "fit"
    state = ckpt["state_dict"] if isinstance(ckpt["state_dict"], dict) else {}
    spec = _pinn_network(hp, network_of_hparams) if pinn else hp.get("model_spec")
    prefix = _PINN_PREFIX if pinn else _MODEL_PREFIX if writer != "other" else ""
    tensors = {k: v for k, v in state.items() if k.startswith(prefix) and hasattr(v, "shape")}
    header = {k: (list(v.shape), v.dtype) for k, v in tensors.items()}
    model = _meta_model(spec, pinn)
    names = None if model is None else {prefix + n for n, _ in model.named_parameters()}
    weights = _weights(header, names, path)
    out = {"what": "checkpoint", "path": str(path), "written_by": WRITERS[writer],
           "module": recipe_of_checkpoint(ckpt, ())["module"],
           "model": spec if isinstance(spec, dict) else None,
           "parameters_counted": names is not None,
           **{k: weights[k] for k in ("n_parameters", "n_weights", "n_tensors",
                                      "weight_dtypes")},
           "file_bytes": weights["weights_bytes"],
           "epoch": _int(ckpt.get("epoch")), "global_step": _int(ckpt.get("global_step")),
           "checkpoint_callbacks": _callbacks(ckpt.get("callbacks"))}
    if pinn:
        out["problem"], out["estimator"] = hp.get("problem_spec"), hp.get("estimator_spec")
    elif writer != "other":
        stats = saved.get("normalization")
        data_pn = data.get("param_names")
        if data_pn is None and stats:
            data_pn = list(stats.get("param_names") or [])
        taken = data_pn if model is None or getattr(model, "n_params", 1) else []
        ranges = _ranges(stats)
        out.update({
            "kind": EXPORT_KINDS[STEADY_KIND if data.get("inputs") is not None else None],
            "pde": data.get("pde"), "channel_names": data.get("channel_names"),
            "inputs": data.get("inputs"), "targets": data.get("targets"),
            "param_names": taken, "data_param_names": data_pn,
            "param_ranges": {n: ranges.get(n) for n in (data_pn or [])},
            "grid": {"names": data.get("grid_names"), "shape": data.get("grid_shape"),
                     "extent": data.get("grid_extent")},
            "dt": data.get("dt"), "k": data.get("k"), "residual": bool(hp.get("residual")),
            "normalization": "identity" if stats is None else "channel mean/std",
            "trained_on": _data_source(source),
            "fine_tuned_from": [_data_source(r) for r in data.get(FINE_TUNED_KEY) or []],
            "init_weights": data.get(INIT_WEIGHTS_KEY)})
    if writer != "other":
        run = run_of_checkpoint(path, ckpt)
        out["seed_everything"] = run["seed_everything"]
        out["recipe"] = recipe_of_checkpoint(ckpt, PINN_RECORDED if pinn else FIELD_RECORDED)
        out["metrics"] = of_checkpoint(ckpt)
    else:
        out["hyper_parameters"] = sorted(str(k) for k in hp)
    out["versions"] = {"lightning": ckpt.get("pytorch-lightning_version")}
    out["next"] = _next_commands(path, writer, spec)
    return out


def _pinn_network(hp: dict, network_of_hparams) -> dict | None:
    """A PINN checkpoint's network as its export records it, or None for hyper-parameters
    that do not give one (export says what is wrong with them)."""
    try:
        return network_of_hparams(hp)
    except (KeyError, TypeError):
        return None


def _meta_model(spec, pinn: bool):
    """The model ``spec`` names (``pinn``: a PINN's network), built on the meta device, or
    None: no spec, a model of the user's own code (never imported) or a spec that does not
    build."""
    from pdesurrogate.meta_build import meta_build
    from pdesurrogate.models import build_model, missing_models

    if not isinstance(spec, dict) or (not pinn and missing_models(spec)):
        return None
    try:
        with meta_build():
            if pinn:
                from pdesurrogate.pinn.mlp import PINNMLP

                return PINNMLP(**spec["init_args"])
            return build_model(spec)
    except (TypeError, ValueError, RuntimeError):
        return None  # export says what is wrong with it; info describes the rest


def _int(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _callbacks(states) -> list[dict]:
    """``[{monitor, mode, best_score, best_path, last_path}]`` of the checkpoint's
    ``ModelCheckpoint`` states (Lightning keys them by the callback's class name and
    settings)."""
    from pdesurrogate.fit_metrics import _plain

    out = []
    for key, s in (states.items() if isinstance(states, dict) else ()):
        if not str(key).startswith("ModelCheckpoint") or not isinstance(s, dict):
            continue
        score = s.get("best_model_score")
        try:
            score = None if score is None else _plain(score)
        except (TypeError, ValueError, RuntimeError):
            score = None
        mode = "max" if "'mode': 'max'" in str(key) else "min"
        out.append({"monitor": s.get("monitor") if isinstance(s.get("monitor"), str) else None,
                    "mode": mode,
                    "best_score": None if score is None or not math.isfinite(score) else score,
                    "best_path": s.get("best_model_path") or None,
                    "last_path": s.get("last_model_path") or None})
    return out


def _next_commands(path: Path, writer: str, spec) -> list[str]:
    """What to run on the checkpoint: ``test`` with the run's saved config (a fit's run folder
    holds ``config.yaml`` beside ``checkpoints/``), ``export``."""
    if writer == "other" or (writer != "pinn" and not isinstance(spec, dict)):
        return []  # export refuses a checkpoint without a model_spec
    q = _quoted(path)
    out = []
    if writer == "fit":
        cfg = path.parent.parent / "config.yaml"
        if cfg.is_file():
            out.append(f"pdesurrogate test --config {_quoted(cfg)} --ckpt_path {q}")
        else:
            out.append(f"pdesurrogate test --config FIT_CONFIG.yaml --ckpt_path {q}")
    out.append(f"pdesurrogate export {q} OUTDIR")
    return out


def _quoted(path: Path) -> str:
    import shlex

    return shlex.quote(os.fspath(path))


# -- text ---------------------------------------------------------------------------------------
def render_checkpoint(info: dict) -> list[tuple[str, str]]:
    """The ``label  value`` rows of :func:`describe_checkpoint`'s dict (the title is
    :func:`checkpoint_title`)."""
    from pdesurrogate.info import _count, _field_rows, _metrics_text, _num, _recipe_text

    rows = [("module", info["module"] or "class not recorded (only pdesurrogate fit's "
                                          "LightningCLI records it)")]
    m = info["model"]
    if m is not None:
        args = ", ".join(f"{k}={json.dumps(v)}" for k, v in m["init_args"].items())
        rows += [("model", m["class"] + ("" if info["parameters_counted"] else
                                         " (a model of your own code, or one that does not "
                                         "build: its class is never imported)")),
                 ("arguments", args or "none")]
    counted = f"{info['n_parameters']:,} parameters (" if info["parameters_counted"] else "("
    dtypes = "/".join(info["weight_dtypes"]) or "no tensors"
    rows.append(("weights", f"{counted}{info['n_weights']:,} numbers in "
                            f"{_count(info['n_tensors'], 'tensor')}, {dtypes})"))
    if "problem" in info:
        rows += [("problem", json.dumps(info["problem"])),
                 ("estimator", json.dumps(info["estimator"]))]
    # Lightning's epoch counts from 0 (as the file names do), fit's progress line from 1
    progress = (f"epoch {_num(info['epoch'])} (from 0, as in checkpoint file names), global "
                f"step {_num(info['global_step'])}")
    if info.get("seed_everything") is not None:
        progress += f", seed {info['seed_everything']}"
    rows.append(("progress", progress))
    if "kind" in info:
        rows += _field_rows(info)
    if "recipe" in info:
        rows.append(("trained with", _recipe_text(info["recipe"])))
        rows.append(("metrics", "none recorded" if info["metrics"] is None else
                     _metrics_text(info["metrics"])))
    if info["checkpoint_callbacks"]:
        rows.append(("checkpoints", "\n".join(_callback_text(c)
                                              for c in info["checkpoint_callbacks"])))
    if "hyper_parameters" in info:
        rows.append(("hyper-parameters", ", ".join(info["hyper_parameters"]) or "none"))
    lightning = info["versions"]["lightning"]
    rows.append(("written by", f"lightning {lightning or 'version not recorded'}; the "
                               "pdesurrogate and torch versions are not recorded in a "
                               "checkpoint"))
    rows.append(("next", "\n".join(info["next"]) if info["next"] else
                 "pdesurrogate cannot test or export it (no model_spec hyper-parameter)"))
    return rows


def _callback_text(c: dict) -> str:
    from pdesurrogate.info import _num

    if c["monitor"] is None:
        text = "ModelCheckpoint without a monitored metric"
    else:
        text = f"ModelCheckpoint on {c['monitor']} ({c['mode']}): best " \
               + ("not recorded" if c["best_score"] is None else _num(c["best_score"]))
    if c["best_path"]:
        text += f"\n  {'best' if c['monitor'] else 'newest'} {c['best_path']}"
    if c["last_path"]:
        text += f"\n  last {c['last_path']}"
    return text


def checkpoint_title(info: dict) -> str:
    from pdesurrogate.info import _bytes

    return f"{info['path']}: {info['written_by']} checkpoint, {_bytes(info['file_bytes'])}"


#: what ``--json`` holds for a checkpoint, for the command's --help
JSON_KEYS = (
    "--json keys of a checkpoint (.ckpt): what ('checkpoint'), path, written_by ("
    + " | ".join(WRITERS.values()) + "), module (the LightningModule's class path; null: not "
    "recorded), model ({class, init_args} of its model_spec, a PINN's network as its export "
    "records it; null: none), n_parameters "
    "(trainable, of the model built on the meta device), parameters_counted (false: a model "
    "of your own code, not built: n_parameters counts all its tensors), n_weights, n_tensors, "
    "weight_dtypes, file_bytes, epoch, global_step, checkpoint_callbacks ([{monitor, mode, "
    "best_score, best_path, last_path}] of its ModelCheckpoint states); of a field "
    "surrogate's checkpoint also an export's kind, pde, channel_names, inputs, targets, "
    "param_names, data_param_names, param_ranges, grid, dt, k, residual, normalization, "
    "trained_on (the data-source record whose fingerprint test compares), fine_tuned_from, "
    "init_weights; a PINN's problem and estimator; of ours seed_everything, recipe and "
    "metrics as an export's; of another program's hyper_parameters (their names); then "
    "versions ({lightning}) and next (the test and export commands to run on it).",
)
