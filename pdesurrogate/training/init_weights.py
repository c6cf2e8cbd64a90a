"""The weights a new fit starts from (fine-tuning): those of a trained model, read from an export
folder (``config.json`` + ``model.safetensors``, never unpickled) or a Lightning checkpoint
(``torch.load(weights_only=True)``, the ``model.`` entries of its ``state_dict``).

Only the weights are taken: the new fit has its own optimizer, schedule, step count and the
normalisation of its own data. They must be those of the same model class with the same
tensor names and shapes; anything else is one ValueError naming the first tensors that differ
and both shapes (no partial load).

They are read once, as a new fit makes its optimizer (``NextStepModule.configure_optimizers``),
before any batch; a fit resumed from a checkpoint takes the checkpoint's weights and reads
nothing here, so the path it started from may be gone by then.

What the fit records (its ``data_info``, saved in checkpoints and exported as ``provenance``):
:data:`INIT_KEY`, the absolute path the weights came from, and under ``fine_tuned_from`` the
data-source records the weights were fit on before, oldest first.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from pdesurrogate.export_files import read_checkpoint, read_config, read_weights
from pdesurrogate.export_names import CONFIG_NAME, WEIGHTS_NAME

from ..run_record import CHECKPOINT_KEY
from .data_source import EARLIER_KEY

#: ``data_info``'s (and an export's ``provenance``'s) key: the path a fit's weights started from
INIT_KEY = "init_weights"
MODEL_PREFIX = "model."
# mismatching tensors named in an error; the rest are counted
SHOWN = 3
WHAT = ("give an export folder (config.json + model.safetensors, written by pdesurrogate "
        "export) or a Lightning checkpoint (.ckpt, e.g. a run's checkpoints/last.ckpt)")


@dataclass
class TrainedWeights:
    """A trained model's weights as read from ``path`` (absolute): its ``tensors`` (the model's
    state dict, on the CPU), ``spec`` (``{"class", "init_args"}``; None: not recorded),
    ``residual`` (None: not recorded) and ``sources``, the data-source records it was fit on,
    oldest first."""

    path: str
    tensors: dict[str, torch.Tensor]
    spec: dict | None = None
    residual: bool | None = None
    sources: list[dict] = field(default_factory=list)

    def record(self) -> dict:
        """The keys this fit adds to its ``data_info``."""
        return {INIT_KEY: self.path, EARLIER_KEY: [dict(s) for s in self.sources]}


def read_trained_weights(path: str | os.PathLike) -> TrainedWeights:
    """The weights at ``path``, an export folder or a Lightning checkpoint; ValueError (or
    FileNotFoundError) naming ``path`` and what to give instead for anything else."""
    p = Path(path)
    where = f"init_weights {str(p)!r}"
    if not p.exists():
        raise FileNotFoundError(f"{where} does not exist; {WHAT}")
    if p.is_dir():
        return _read_export(p, where)
    if p.name in (CONFIG_NAME, WEIGHTS_NAME) and (p.parent / CONFIG_NAME).is_file():
        raise ValueError(f"{where} is one file of an export; give its folder {str(p.parent)!r}")
    try:
        ckpt = read_checkpoint(p)
    except ValueError as e:
        raise ValueError(f"init_weights: {e}; {WHAT}") from None
    tensors = {k[len(MODEL_PREFIX):]: v for k, v in ckpt["state_dict"].items()
               if k.startswith(MODEL_PREFIX)}
    if not tensors:
        raise ValueError(f"{where}: its state_dict holds no '{MODEL_PREFIX}' weights (not a "
                         f"checkpoint of pdesurrogate fit's field training); {WHAT}")
    hp = ckpt.get("hyper_parameters") or {}
    info = (ckpt.get(CHECKPOINT_KEY) or {}).get("data_info") or {}
    residual = hp.get("residual")
    return TrainedWeights(os.path.abspath(p), tensors, hp.get("model_spec"),
                          residual if isinstance(residual, bool) else None,
                          _sources(info.get("source"), info.get(EARLIER_KEY)))


def _read_export(folder: Path, where: str) -> TrainedWeights:
    cfg_path = folder / CONFIG_NAME
    if not cfg_path.is_file() or not (folder / WEIGHTS_NAME).is_file():
        raise ValueError(f"{where} is a folder without {CONFIG_NAME} and {WEIGHTS_NAME}, so "
                         f"not an export (a run folder? give its checkpoints/last.ckpt, or "
                         f"export it first: pdesurrogate export); {WHAT}")
    cfg = read_config(cfg_path)
    spec = cfg.get("model") if isinstance(cfg, dict) else None
    if not (isinstance(spec, dict) and isinstance(spec.get("class"), str)):
        raise ValueError(f"{str(cfg_path)!r} names no model class (model.class); {WHAT}")
    from pdesurrogate.export_checks import (
        FIELD_PROVENANCE_KEYS,
        _check_format,
        _without_newer_keys,
    )

    # an export of a newer format is refused saying to upgrade, as load refuses it; keys a
    # newer pdesurrogate added to provenance are dropped (with a warning), as load does
    _check_format(cfg, str(cfg_path))
    cfg = _without_newer_keys(cfg, str(cfg_path), tuple(cfg), FIELD_PROVENANCE_KEYS)
    prov = cfg.get("provenance")
    if prov is not None:
        from pdesurrogate.provenance import check_provenance

        # its records become this fit's: a typo would only surface when this fit exports
        check_provenance(prov, str(cfg_path))
    prov = prov or {}
    residual = cfg.get("residual")
    return TrainedWeights(os.path.abspath(folder), read_weights(folder / WEIGHTS_NAME), spec,
                          residual if isinstance(residual, bool) else None,
                          _sources(prov.get("data_source"), prov.get(EARLIER_KEY)))


def _sources(source: dict | None, earlier: list | None) -> list[dict]:
    return [*(earlier or []), *([source] if source else [])]


def load_trained_weights(model: nn.Module, spec: dict | None, residual: bool,
                         weights: TrainedWeights) -> None:
    """Copy ``weights`` into ``model`` (recorded as ``spec``; None: not recordable, then only
    the tensors are compared), all or nothing: ValueError naming the path, the model classes
    or the first tensors that differ, with both shapes and the constructor arguments that
    differ. Warns where the weights were fit with another ``residual``."""
    where = f"init_weights {weights.path!r}"
    theirs = (weights.spec or {}).get("class")
    ours = (spec or {}).get("class")
    if theirs and ours and theirs != ours:
        raise ValueError(f"{where} holds the weights of a {theirs!r} model; this fit trains a "
                         f"{ours!r}: give weights of a {ours!r}, or fit a {theirs!r} with the "
                         "constructor arguments of those weights")
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights.tensors]
    unexpected = [k for k in weights.tensors if k not in expected]
    wrong = [f"{k}: {tuple(weights.tensors[k].shape)} in the file, {tuple(v.shape)} in this "
             "fit's model" for k, v in expected.items()
             if k in weights.tensors and weights.tensors[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = [f"{len(wrong)} tensor(s) of other shapes ({'; '.join(wrong[:SHOWN])}"
                 f"{', ...' if len(wrong) > SHOWN else ''})"] if wrong else []
        parts += [f"{len(names)} {what} ({', '.join(names[:SHOWN])}"
                  f"{', ...' if len(names) > SHOWN else ''})"
                  for names, what in ((missing, "tensor(s) of this fit's model not in the file"),
                                      (unexpected, "tensor(s) in the file this model lacks"))
                  if names]
        args = _argument_differences(weights.spec, spec)
        hint = f"; the constructor arguments differ: {', '.join(args)}" if args else ""
        raise ValueError(f"{where} does not fit this fit's model{f' ({ours!r})' if ours else ''}"
                         f": {'; '.join(parts)}{hint}. Build the model with the constructor "
                         "arguments of those weights (pdesurrogate info shows an export's)")
    if weights.residual is not None and weights.residual != residual:
        warnings.warn(f"{where} was fit with residual={weights.residual}, this fit has "
                      f"residual={residual}: the weights start from another meaning of the "
                      "model's output", UserWarning, stacklevel=3)
    with torch.no_grad():
        model.load_state_dict(weights.tensors, strict=True)


def _argument_differences(theirs: dict | None, ours: dict | None) -> list[str]:
    a = (theirs or {}).get("init_args") or {}
    b = (ours or {}).get("init_args") or {}
    return [f"{k}={a.get(k)!r} in the file, {b.get(k)!r} here"
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
