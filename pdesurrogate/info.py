"""What an exported surrogate folder or a dataset file holds, read without running or loading it
(``pdesurrogate info PATH``, as ``ncdump -h`` or ``h5ls`` for our layouts).

:func:`describe` returns one JSON-ready dict; :func:`render` turns it into aligned text.

An **export** (``config.json`` + ``model.safetensors``: a time-stepping surrogate, a steady map
or a PINN) is checked as :func:`pdesurrogate.load` checks it, with the same errors naming the
file and key, but its weights are never read: the model is built on the meta device and matched
against the safetensors header, whose shapes give the number of parameters. A model of the
user's own code is described from its config alone (its class is never imported).

A **dataset file** (ours, PDEBench, The Well), or a folder of them read as one dataset (its files
listed with their trajectories, and The Well's train/ valid/ test/ split), is opened with
:func:`pdesurrogate.datasets.open_dataset`, which reads coordinates and per-trajectory
parameters only; the fields ``u`` are never read.

A **Lightning checkpoint** (``.ckpt``, or any torch.save archive) is described by
:mod:`pdesurrogate.checkpoint_info`, read weights-only as ``export`` reads it.
"""

from __future__ import annotations

import json
import math
import os
import re
import textwrap
from pathlib import Path

import numpy as np

# not export_files, which imports torch: a dataset file is described without it
from pdesurrogate.export_names import CONFIG_NAME, WEIGHTS_NAME

#: what PATH may be, for the error about one that is neither
EXPECTED = (f"an exported surrogate folder ({CONFIG_NAME} + {WEIGHTS_NAME}) or a dataset file "
            "(pdesurrogate netCDF, PDEBench or The Well HDF5; or a folder of them) or a "
            "Lightning checkpoint (.ckpt)")
#: the kinds of export :func:`describe` tells apart (config.json's ``kind``; none: a
#: time-stepping surrogate)
EXPORT_KINDS = {None: "time-stepping surrogate", "steady": "steady map", "pinn": "PINN"}
# attribute values longer than this are cut in the text output (JSON keeps them whole)
_ATTR_CHARS = 100
# a dataset folder's files listed in the text output, at most (its first and last halves)
_FILES_SHOWN = 10
# the hyper-parameters a recipe's row names first, when the module has them
_RECIPE_FIRST = ("loss", "lr", "weight_decay", "scheduler", "rollout_steps", "curriculum")
# the recipe row's hyper-parameters are wrapped at this width
_RECIPE_CHARS = 80


def describe(path: str | os.PathLike) -> dict:
    """A JSON-ready description of the export folder or dataset file at ``path``.

    Raises FileNotFoundError for a missing path, and ValueError (or OSError) naming the file
    for anything that is neither kind or that :func:`pdesurrogate.load` /
    :func:`~pdesurrogate.datasets.open_dataset` would refuse.
    """
    p = Path(path)
    if not os.path.lexists(p):
        raise FileNotFoundError(f"{str(p)!r} does not exist; expected {EXPECTED}")
    if p.is_dir():
        if not (p / CONFIG_NAME).exists() and not (p / WEIGHTS_NAME).exists():
            if _holds_datasets(p):
                return _jsonable(describe_dataset(p))
            raise ValueError(f"{str(p)!r} is a folder without {CONFIG_NAME} or {WEIGHTS_NAME}; "
                             f"expected {EXPECTED}")
        # JSON's types only: a NaN a file holds becomes the string "nan", which JSON can hold
        return _jsonable(describe_export(p))
    if p.name in (CONFIG_NAME, WEIGHTS_NAME):
        raise ValueError(f"{str(p)!r} is one file of an export; give its folder "
                         f"{str(p.parent)!r}")
    import h5py

    from pdesurrogate.checkpoint_info import describe_checkpoint, is_checkpoint

    if is_checkpoint(p) and not h5py.is_hdf5(p):
        return _jsonable(describe_checkpoint(p))
    if not p.is_file() or not h5py.is_hdf5(p):
        raise ValueError(f"{str(p)!r} is neither an export folder nor an HDF5/netCDF4 file; "
                         f"expected {EXPECTED}")
    return _jsonable(describe_dataset(p))


# -- exports ------------------------------------------------------------------------------------
def describe_export(folder: Path) -> dict:
    """:func:`describe` of an export folder (module docstring)."""
    from pdesurrogate.export_files import check_header, read_config, read_header

    cfg_path, w_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    for f in (cfg_path, w_path):
        if not f.exists():
            raise FileNotFoundError(f"{str(f)!r} does not exist (an exported surrogate is a "
                                    f"directory holding {CONFIG_NAME} and {WEIGHTS_NAME})")
    cfg = read_config(cfg_path)
    if isinstance(cfg, dict) and cfg.get("kind") == "pinn":
        return _describe_pinn(folder, cfg)
    model, checked = _checked_field_model(cfg, cfg_path)
    header = read_header(w_path)
    if model is not None:
        check_header(model, w_path)
    stats = cfg["normalization"]
    pn = list(cfg["param_names"] or [])
    ranges = _ranges(stats)
    out = {
        "what": "export",
        "path": str(folder),
        "kind": EXPORT_KINDS[cfg.get("kind")],
        "model": cfg["model"],
        "checked_against_model": checked,
        **_weights(header, None if model is None else
                   {n for n, _ in model.named_parameters()}, w_path),
        "pde": cfg["pde"],
        "channel_names": cfg["channel_names"],
        "inputs": cfg.get("inputs"),
        "targets": cfg.get("targets"),
        "param_names": pn,
        "data_param_names": cfg.get("data_param_names"),
        "param_ranges": {n: ranges.get(n) for n in (cfg.get("data_param_names") or pn)},
        "grid": {"names": cfg.get("grid_names"), "shape": cfg["grid_shape"],
                 "extent": cfg.get("grid_extent")},
        "dt": cfg["dt"],
        "k": cfg["k"],
        "residual": cfg["residual"],
        "normalization": "identity" if stats is None else "channel mean/std",
    }
    prov = cfg.get("provenance") or {}
    out["trained_on"] = _data_source(prov.get("data_source"))
    out["fine_tuned_from"] = [_data_source(r) for r in prov.get("fine_tuned_from", [])]
    out["init_weights"] = prov.get("init_weights")
    out.update(_run(prov, cfg))
    return out


def _checked_field_model(cfg, cfg_path: Path):
    """The model ``cfg`` names, built on the meta device and checked as ``load`` checks it,
    and whether it could be (False: a model of the user's own code, whose class is never
    imported; its config is still checked)."""
    # load's own checks: the same errors naming config.json and the key
    from pdesurrogate.export_checks import _check_config, _model_of_checked
    from pdesurrogate.models import missing_models

    _check_config(cfg, cfg_path)  # once: a newer export's ignored keys are warned once
    if missing_models(cfg["model"]):
        return None, False
    return _model_of_checked(cfg, cfg_path), True


def _weights(header: dict, names: set[str] | None, w_path: Path) -> dict:
    """The size of the weights: every number in ``model.safetensors`` (``n_weights``), the
    model's trainable parameters among them (``n_parameters``: the tensors ``names``; all of
    them when None, a model that could not be built), tensors, dtypes and the file's size."""
    names = set(header) if names is None else names
    sizes = {n: math.prod(shape) for n, (shape, _) in header.items()}
    return {"n_parameters": sum(s for n, s in sizes.items() if n in names),
            "n_weights": sum(sizes.values()), "n_tensors": len(header),
            "weight_dtypes": sorted({str(d).removeprefix("torch.") for _, d in header.values()}),
            "weights_bytes": w_path.stat().st_size}


def _describe_pinn(folder: Path, cfg: dict) -> dict:
    # load_pinn's checks; a PINN's MLP is small, so its weights are read with them
    from pdesurrogate.export_files import read_header
    from pdesurrogate.pinn.export import load_pinn

    sur = load_pinn(folder, cfg)
    # the problem's coefficients (problem.c) are weights, not parameters of the network
    w_path = folder / WEIGHTS_NAME
    out = {"what": "export", "path": str(folder), "kind": EXPORT_KINDS["pinn"],
           "model": cfg["network"], "checked_against_model": True,
           **_weights(read_header(w_path),
                      {f"net.{n}" for n, _ in sur.net.named_parameters()}, w_path),
           "problem": cfg["problem"], "training": cfg["training"]}
    out.update(_run(cfg.get("provenance") or {}, cfg))
    return out


def _ranges(stats) -> dict[str, list[float]]:
    """``{name: [min, max]}``: the parameters' training range the statistics record."""
    if not stats or not stats.get("param_min"):
        return {}
    return {n: [lo, hi] for n, lo, hi in zip(stats["param_names"], stats["param_min"],
                                             stats["param_max"], strict=True)}


def _data_source(record) -> dict | None:
    """A data-source record with the name of the file it names (``file``), as recorded."""
    if record is None:
        return None
    out = dict(record)
    if record.get("kind") != "online":
        out = {"kind": "file", "file": os.path.basename(record["path"]), **out}
    return out


def _run(prov: dict, cfg: dict) -> dict:
    libs = cfg.get("versions") or {}   # exports older than metrics and versions lack them
    return {"training_run": {k: prov.get(k) for k in ("epoch", "global_step", "checkpoint",
                                                       "seed_everything")},
            # exports older than format revision 4 lack it
            "recipe": prov.get("recipe"),
            "metrics": cfg.get("metrics"),
            "versions": {"pdesurrogate": cfg["pdesurrogate_version"],
                         **{k: libs.get(k) for k in ("torch", "lightning", "neuraloperator")},
                         "format_version": cfg["format_version"],
                         "git_commit": prov.get("git_commit"),
                         "git_dirty": prov.get("git_dirty")}}


# -- dataset files ------------------------------------------------------------------------------
def _holds_datasets(folder: Path) -> bool:
    """Whether ``folder`` holds dataset files, or The Well's train/ valid/ test/ folders."""
    from pdesurrogate.datasets.file_set import DATASET_SUFFIXES, SPLIT_FOLDERS

    return any(q.suffix.lower() in DATASET_SUFFIXES and q.is_file() for q in folder.iterdir()) \
        or any((folder / name).is_dir() for names in SPLIT_FOLDERS for name in names)


def describe_dataset(path: Path) -> dict:
    """:func:`describe` of a dataset file or folder: never reads its fields ``u``."""
    from pdesurrogate.datasets import open_dataset

    with open_dataset(path) as data:
        n, t, c, *grid = data.u.shape
        params = {name: {"min": float(np.min(v)), "max": float(np.max(v))}
                  for name, v in data.params.items()}
        members = getattr(data, "members", None)
        extra = {}
        if members is not None:
            extra["files"] = [{"name": str(m.path.relative_to(path)), "trajectories": len(m)}
                              for m in members]
            sizes = data.split_sizes
            extra["splits"] = None if sizes is None else dict(zip(("train", "valid", "test"),
                                                                  sizes, strict=True))
        return {
            "what": "dataset",
            "path": str(path),
            "format": data.format,
            "pde": data.pde,
            "shape": {"trajectories": n, "times": t, "channels": c, "grid": grid},
            "dims": ["trajectory", "time", "channel", *data.grid_names],
            "channel_names": list(data.channel_names),
            "params": params,
            "time": _axis(data.times),
            "time_note": getattr(data, "times_note", None),
            "grid": [{"name": name, **_axis(g)}
                     for name, g in zip(data.grid_names, data.grid, strict=True)],
            "file_bytes": sum(f.stat().st_size for f in getattr(data, "files", [path])),
            "attrs": {k: v for k, v in data.attrs.items() if not (members and k == "files")},
            **extra,
        }


def _axis(values: np.ndarray) -> dict:
    """``size``, ``first``, ``last`` and ``step`` of coordinates (``step`` null where the
    spacing is not uniform, or for one value)."""
    v = np.asarray(values, np.float64)
    step = None
    if v.size > 1:
        d = np.diff(v)
        if np.allclose(d, d[0], rtol=1e-6, atol=0):
            step = float((v[-1] - v[0]) / (v.size - 1))
    return {"size": int(v.size), "first": float(v[0]) if v.size else None,
            "last": float(v[-1]) if v.size else None, "step": step}


def _jsonable(v):
    """``v`` (attributes decoded from HDF5: numpy scalars and arrays, bytes, nested dicts)
    in JSON's types."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN or inf
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


# -- text ---------------------------------------------------------------------------------------
def render(info: dict) -> str:
    """:func:`describe`'s dict as aligned text: a title line, then ``label  value`` rows."""
    if info["what"] == "checkpoint":
        from pdesurrogate.checkpoint_info import checkpoint_title, render_checkpoint

        rows = render_checkpoint(info)
    else:
        rows = _export_rows(info) if info["what"] == "export" else _dataset_rows(info)
    width = max(len(label) for label, _ in rows)
    lines = []
    for label, value in rows:
        for i, part in enumerate(str(value).split("\n")):
            lines.append(f"  {label if i == 0 else '':<{width}}  {part}")
    if info["what"] == "checkpoint":
        title = checkpoint_title(info)
    elif info["what"] == "export":
        title = f"{info['path']}: exported {info['kind']}"
    else:
        files = info.get("files")
        what = "dataset file" if files is None else \
            f"dataset folder of {len(files)} file{'s' if len(files) != 1 else ''}"
        title = (f"{info['path']}: {what}, {_FORMATS.get(info['format'], info['format'])}"
                 f" layout, {_bytes(info['file_bytes'])}")
    return "\n".join([title, *lines])


_FORMATS = {"pdesurrogate": "pdesurrogate netCDF", "pdebench": "PDEBench",
            "the_well": "The Well"}


def _num(v) -> str:
    return "-" if v is None else format(v, ".6g") if isinstance(v, float) else str(v)


def _bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _names(v) -> str:
    return "not recorded" if v is None else ", ".join(v) if v else "none"


def _export_rows(info: dict) -> list[tuple[str, str]]:
    m = info["model"]
    args = ", ".join(f"{k}={json.dumps(v)}" for k, v in m["init_args"].items())
    checked = "" if info["checked_against_model"] else (
        " (a model of your own code: its class is never imported, so the weights were not "
        "checked against it)")
    rows = [("model", f"{m['class']}{checked}"), ("arguments", args or "none"),
            ("weights", f"{info['n_parameters']:,} parameters ({info['n_weights']:,} numbers in "
                        f"{info['n_tensors']} tensors, {'/'.join(info['weight_dtypes'])}), "
                        f"{WEIGHTS_NAME} {_bytes(info['weights_bytes'])}")]
    if info["kind"] == EXPORT_KINDS["pinn"]:
        pr, tr = info["problem"], info["training"]
        rows += [("problem", ", ".join(f"{k} {_num(v)}" for k, v in pr.items())),
                 ("training", ", ".join(f"{k} {json.dumps(v)}" for k, v in tr.items()))]
    else:
        rows += _field_rows(info)
    run = info["training_run"]
    steps = "not recorded" if run["epoch"] is None and run["global_step"] is None else \
        f"epoch {_num(run['epoch'])}, global step {_num(run['global_step'])}"
    if run["seed_everything"] is not None:
        steps += f", seed {run['seed_everything']}"
    if run["checkpoint"]:
        steps += f", from {run['checkpoint']}"
    rows += [("run", steps), ("trained with", _recipe_text(info["recipe"])),
             ("metrics", _metrics_text(info["metrics"]))]
    v = info["versions"]
    git = "" if v["git_commit"] is None else \
        f", git {v['git_commit'][:12]}{' (uncommitted changes)' if v['git_dirty'] else ''}"
    libs = ", ".join(f"{k} {v[k] or 'not installed'}" for k in ("torch", "lightning",
                                                                 "neuraloperator"))
    rows.append(("written by", f"pdesurrogate {v['pdesurrogate']} (format "
                               f"{v['format_version']}){git}; "
                               + (libs if v["torch"] else "torch version not recorded")))
    return rows


def _recipe_text(recipe) -> str:
    """config.json's ``provenance.recipe``: the module and batch size, then its
    hyper-parameters (:data:`_RECIPE_FIRST` first), wrapped, then the names left out."""
    if recipe is None:
        return "not recorded in the export"
    size = recipe["batch_size"]
    lines = [(recipe["module"] or "module not recorded")
             + (f", batch size {size}" if size is not None else "")]
    hp = recipe["hparams"]
    order = [k for k in _RECIPE_FIRST if k in hp] + [k for k in hp if k not in _RECIPE_FIRST]
    args = ", ".join(f"{k}={json.dumps(hp[k])}" for k in order)
    lines += textwrap.wrap(args, _RECIPE_CHARS, break_long_words=False,
                           break_on_hyphens=False) or ["no hyper-parameters recorded"]
    if recipe["omitted"]:
        lines.append(f"not recorded: {', '.join(recipe['omitted'])} (no plain JSON values, or "
                     "local paths)")
    return "\n".join(lines)


def _metric_rows(values: dict) -> list[tuple[str, str]]:
    """``(name, text)`` per metric, a per-step series (``val/rel_l2_step_1`` ..
    ``_step_20``, one a rollout step) as one row from its first step to its last, in step
    order (every value is in ``--json``)."""
    series: dict[str, dict[int, object]] = {}
    rows: list[tuple[str, object]] = []
    for name, x in values.items():
        m = re.fullmatch(r"(.+)_step_(\d+)", name)
        if m is None:
            rows.append((name, _num(x)))
            continue
        if m.group(1) not in series:
            series[m.group(1)] = {}
            rows.append((m.group(1), series[m.group(1)]))
        series[m.group(1)][int(m.group(2))] = x
    out = []
    for name, x in rows:
        if isinstance(x, dict):
            steps = sorted(x)
            name = f"{name}_step_{steps[0]}..{steps[-1]}" if len(steps) > 1 else \
                f"{name}_step_{steps[0]}"
            x = " .. ".join(_num(x[k]) for k in dict.fromkeys((steps[0], steps[-1])))
            x += f" (first .. last of {len(steps)} steps)" if len(steps) > 1 else ""
        out.append((name, x))
    return out


def _metrics_text(m) -> str:
    """config.json's ``metrics``: the last validation's values, one a line, then each
    checkpoint callback's best score."""
    if m is None:
        return "not recorded in the export"
    lines = []
    val = m["validation"]
    if val is not None:
        lines.append(f"last validation (epoch {_num(val['epoch'])}, global step "
                     f"{_num(val['global_step'])}):")
        rows = _metric_rows(val["values"])
        width = max((len(k) for k, _ in rows), default=0)
        lines += [f"  {k:<{width}}  {text}" for k, text in rows]
    lines += [f"best {b['monitor']} {_num(b['score'])}" + (f", {b['path']}" if b["path"] else "")
              for b in m["best"]]
    return "\n".join(lines) or "none recorded"


def _field_rows(info: dict) -> list[tuple[str, str]]:
    rows = [("pde", _num(info["pde"]) if info["pde"] else "not recorded"),
            ("channels", _names(info["channel_names"]))]
    if info["inputs"] is not None:
        rows.append(("map", f"{', '.join(info['inputs'])} -> {', '.join(info['targets'])}"))
    ranges = info["param_ranges"]
    if ranges:
        width = max(len(n) for n in ranges)
        taken = set(info["param_names"])
        rows.append(("parameters", "\n".join(
            f"{n:<{width}}  " + ("training range unknown" if r is None else
                                 f"trained on [{_num(r[0])}, {_num(r[1])}]")
            + ("" if n in taken else " (in the data; the model takes none)")
            for n, r in ranges.items())))
    else:
        rows.append(("parameters", "none" if info["param_names"] == [] else "not recorded"))
    g = info["grid"]
    if g["shape"] is None:
        grid = "not recorded"
    else:
        grid = " x ".join(map(str, g["shape"])) + (f" ({', '.join(g['names'])})"
                                                   if g["names"] else "")
    if g.get("extent"):  # exports older than grid_extent lack it
        from pdesurrogate.datasets.grid_extent import axis_text

        names = g["names"] or [f"axis {i}" for i in range(len(g["shape"]))]
        grid += "".join(f"\n{name} {axis_text(a, n)}"
                        for name, a, n in zip(names, g["extent"], g["shape"], strict=True))
    rows.append(("grid", grid))
    if info["kind"] != EXPORT_KINDS["steady"]:
        step = "not recorded" if info["dt"] is None else f"dt {_num(info['dt'])} a model step"
        if info["k"] is not None:
            step += f" (k = {info['k']} saved step{'s' if info['k'] != 1 else ''})"
        rows.append(("time step", step + (", predicts the change (residual)"
                                          if info["residual"] else "")))
    rows.append(("normalisation", info["normalization"]))
    rows.append(("trained on", _source_text(info["trained_on"])))
    for earlier in info["fine_tuned_from"]:
        rows.append(("fine-tuned from", _source_text(earlier)))
    if info["init_weights"]:
        rows.append(("started from", f"the weights of {info['init_weights']}"))
    return rows


def _source_text(src) -> str:
    if src is None:
        return "not recorded"
    if src.get("kind") == "online":
        box = ", ".join(f"{k} in [{_num(lo)}, {_num(hi)}]" for k, (lo, hi)
                        in src["parameters"].items())
        return (f"online stream of {src['solver']['class_path']}, {src['simulations']} "
                f"simulations of {src['n_steps']} steps, dt {_num(src['dt'])}"
                + (f", {box}" if box else ""))
    f = src["fractions"]
    cut = "" if src["max_train_trajectories"] is None else \
        f", at most {src['max_train_trajectories']} for training"
    return (f"{src['file']} ({src['n_trajectories']} trajectories, split "
            f"{'/'.join(_num(float(x)) for x in f)} with seed {src['seed']}{cut})\n"
            f"{src['path']}\n{src['fingerprint']}")


def _dataset_rows(info: dict) -> list[tuple[str, str]]:
    s = info["shape"]
    shape = [s["trajectories"], s["times"], s["channels"], *s["grid"]]
    rows = [("pde", info["pde"]),
            ("shape", f"({', '.join(map(str, shape))}): {', '.join(info['dims'])}"),
            ("channels", _names(info["channel_names"]))]
    params = info["params"]
    if params:
        width = max(len(n) for n in params)
        rows.append(("parameters", "\n".join(
            # a NaN makes min and max NaN (JSON "nan"): not one value of all trajectories
            f"{n:<{width}}  " + ("nan in one or more trajectories" if r["min"] == "nan" else
                                 f"{_num(r['min'])} (all trajectories)" if r["min"] == r["max"]
                                 else f"min {_num(r['min'])}, max {_num(r['max'])}")
            for n, r in params.items())))
    else:
        rows.append(("parameters", "none"))
    if info.get("files") is not None:
        rows.append(("files", _files_text(info["files"])))
        if info.get("splits"):
            rows.append(("split", ", ".join(f"{k}/ {_count(v, 'trajectory')}"
                                            for k, v in info["splits"].items())))
    rows.append(("time", _axis_text(info["time"], "times")
                 + (f" ({info['time_note']})" if info.get("time_note") else "")))
    for g in info["grid"]:
        rows.append((f"grid {g['name']}", _axis_text(g, "points")))
    attrs = info["attrs"]
    if attrs:
        width = max(len(k) for k in attrs)
        lines = []
        for k, v in attrs.items():
            text = " ".join((v if isinstance(v, str) else json.dumps(v)).split())
            if len(text) > _ATTR_CHARS:
                text = text[:_ATTR_CHARS - 3] + "..."
            lines.append(f"{k:<{width}}  {text}")
        label = "attributes" if info.get("files") is None else "first file's attributes"
        rows.append((label, "\n".join(lines)))
    return rows


def _files_text(files: list[dict]) -> str:
    """A folder's files, one a line with its trajectories (the first and last few of many)."""
    width = max(len(f["name"]) for f in files)
    lines = [f"{f['name']:<{width}}  {_count(f['trajectories'], 'trajectory')}" for f in files]
    if len(lines) > _FILES_SHOWN:
        half = _FILES_SHOWN // 2
        lines = [*lines[:half], f"... {len(lines) - 2 * half} more", *lines[-half:]]
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    """``"1 trajectory"``, ``"3 trajectories"``."""
    return f"{n} {noun if n == 1 else noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


def _axis_text(a: dict, what: str) -> str:
    if a["size"] == 1:  # "1 time, 0 .. 0" reads as a range
        return f"1 {what.removesuffix('s')}, {_num(a['first'])}"
    text = f"{a['size']} {what}, {_num(a['first'])} .. {_num(a['last'])}"
    if a["step"] is not None:
        return f"{text}, step {_num(a['step'])}"
    return text + (", not evenly spaced" if a["size"] > 1 else "")


#: what ``--json`` holds, for the command's --help: an export's keys, a dataset file's
JSON_KEYS = (
    "--json keys of an export: what ('export'), path, kind (time-stepping surrogate | steady "
    "map | PINN), model ({class, init_args}), n_parameters, n_weights (every number in the "
    "weights), n_tensors, weight_dtypes, weights_bytes, checked_against_model (false: a model "
    "of your own code, described from its config); a field surrogate's pde, channel_names, "
    "inputs and targets (a steady map's; else null), param_names, data_param_names, "
    "param_ranges ({name: [min, max]} of training; null: not recorded), grid ({names, "
    "shape, extent: the training file's [{first, last, step}] per axis, null: not "
    "recorded}), dt, k, residual, normalization ('channel mean/std' | 'identity'), trained_on "
    "(the data-source record, with file: its name; null: not recorded), fine_tuned_from, "
    "init_weights (the export or checkpoint a fine-tuning fit started from; null: none); a "
    "PINN's problem and training; then training_run ({epoch, global_step, checkpoint, "
    "seed_everything}), recipe (how it was trained: {module: the LightningModule's class "
    "path, null: not recorded; hparams: its hyper-parameters, e.g. loss, lr, scheduler; "
    "batch_size: per process, null: not recorded; omitted: hyper-parameters left out}; null: "
    "an export older than it), metrics (config.json's: {validation: {epoch, global_step, values: "
    "{name: value}} of the last validation, best: [{monitor, score, path}] of the checkpoint "
    "callbacks}; null: not recorded), versions ({pdesurrogate, torch, lightning, "
    "neuraloperator (null: not recorded), format_version, git_commit, git_dirty}).",
    "--json keys of a dataset file: what ('dataset'), path, format (pdesurrogate | pdebench | "
    "the_well), pde, shape ({trajectories, times, channels, grid}), dims, channel_names, "
    "params ({name: {min, max}} over the file's trajectories), time ({size, first, last, "
    "step}; step null: uneven), time_note (why the times are not the file's own, e.g. "
    "frame indices of a PDEBench file without 't-coordinate'; null: they are), grid ([{name, "
    "size, first, last, step}]), file_bytes, attrs "
    "(the global attributes); of a dataset folder also files ([{name, trajectories}] in "
    "order) and splits ({train, valid, test} trajectories of its train/ valid/ test/ "
    "folders; null: none), its attrs the first file's and file_bytes all files'.",
)
