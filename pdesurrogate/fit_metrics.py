"""How good a fit was when its checkpoint or export was written: its last validation's metrics.

A module keeps a :class:`LastValidation`: the counters of its last validation (not Lightning's
sanity check), whose metrics it reads from ``trainer.callback_metrics`` (every key under
``val/``) when a checkpoint is saved, as plain floats under ``checkpoint[CHECKPOINT_KEY]
[VALIDATION_KEY]`` (Lightning keeps no metrics in a checkpoint). A checkpoint restores it, so a
resumed fit saved before it validates again, or a module loaded from a checkpoint, still
carries the metrics its weights were scored with.

An export writes them in ``config.json``'s ``metrics`` (:func:`export_metrics`):
``validation``, ``{"epoch", "global_step", "values": {name: value}}`` (null: never validated,
or written before metrics were recorded), and ``best``, each ``ModelCheckpoint``'s monitor,
best score and file (``[]``: none monitored). A value that is not finite is written as the
string ``"nan"``, ``"inf"`` or ``"-inf"`` (JSON has no such number). Depends on nothing but the
standard library, so ``load`` checks the key (:func:`check_metrics`) without Lightning.
"""

from __future__ import annotations

import math

from pdesurrogate.run_record import CHECKPOINT_KEY

#: the key of :data:`~pdesurrogate.run_record.CHECKPOINT_KEY`'s record holding the metrics
VALIDATION_KEY = "last_validation"
#: the prefix of the metrics recorded
PREFIX = "val/"
_NON_FINITE = ("nan", "inf", "-inf")


def _plain(v) -> float:
    return float(v.item() if hasattr(v, "item") else v)


class LastValidation:
    """The metrics of a module's last validation, kept for its checkpoints and exports.

    Call :meth:`validated` from the module's ``on_validation_epoch_end``, :meth:`record` from
    ``on_save_checkpoint``, :meth:`restore` from ``on_load_checkpoint``."""

    def __init__(self) -> None:
        self._at: tuple[int, int] | None = None
        self._restored: dict | None = None

    def validated(self, trainer) -> None:
        """Note the epoch and global step of the validation that ends now (its metrics reach
        ``trainer.callback_metrics`` after this hook, so they are read on saving)."""
        if trainer is not None and not trainer.sanity_checking:
            self._at = (int(trainer.current_epoch), int(trainer.global_step))

    def record(self, trainer) -> dict | None:
        """``{"epoch", "global_step", "values"}`` of the last validation (values: floats),
        else the record restored from a checkpoint, else None."""
        if self._at is not None and trainer is not None:
            values = {k: _plain(v) for k, v in trainer.callback_metrics.items()
                      if k.startswith(PREFIX)}
            if values:
                return {"epoch": self._at[0], "global_step": self._at[1],
                        "values": dict(sorted(values.items()))}
        return self._restored

    def restore(self, record) -> None:
        """Take the record a checkpoint holds (None: it has none)."""
        self._restored = _valid_record(record)


def _valid_record(record) -> dict | None:
    """``record`` if it has the layout :meth:`LastValidation.record` writes, else None (a
    checkpoint written before the metrics were recorded)."""
    if not isinstance(record, dict) or not isinstance(record.get("values"), dict):
        return None
    try:
        values = {str(k): float(v) for k, v in record["values"].items()}
    except (TypeError, ValueError):
        return None
    ints = [record.get(k) for k in ("epoch", "global_step")]
    if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in ints):
        return None
    return {"epoch": ints[0], "global_step": ints[1], "values": values}


def _best(states) -> list[dict]:
    """``[{"monitor", "score", "path"}]`` of the ``ModelCheckpoint`` states (their
    ``state_dict``) that monitor a metric and have a best score."""
    out = []
    for s in states:
        if not isinstance(s, dict) or not isinstance(s.get("monitor"), str) \
                or s.get("best_model_score") is None:
            continue
        path = s.get("best_model_path")
        out.append({"monitor": s["monitor"], "score": _plain(s["best_model_score"]),
                    "path": path if isinstance(path, str) and path else None})
    return out


def _json_number(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)


def export_metrics(validation: dict | None, checkpoint_states) -> dict | None:
    """config.json's ``metrics`` from a :meth:`LastValidation.record` and the states of the
    checkpoint callbacks (a checkpoint's ``callbacks`` values, or a trainer's
    ``checkpoint_callbacks``' ``state_dict()``); None when neither records anything."""
    validation = _valid_record(validation)
    best = _best(checkpoint_states)
    if validation is None and not best:
        return None
    if validation is not None:
        validation = {**validation, "values": {k: _json_number(v)
                                               for k, v in validation["values"].items()}}
    return {"validation": validation,
            "best": [{**b, "score": _json_number(b["score"])} for b in best]}


def of_checkpoint(ckpt: dict) -> dict | None:
    """:func:`export_metrics` of a Lightning checkpoint's contents."""
    saved = ckpt.get(CHECKPOINT_KEY) or {}
    states = ckpt.get("callbacks") or {}
    return export_metrics(saved.get(VALIDATION_KEY) if isinstance(saved, dict) else None,
                          states.values() if isinstance(states, dict) else ())


def of_module(module) -> dict | None:
    """:func:`export_metrics` of a live module (its trainer's, if it has one)."""
    trainer = getattr(module, "_trainer", None)
    last = getattr(module, "last_validation", None)
    record = last.record(trainer) if isinstance(last, LastValidation) else None
    states = [cb.state_dict() for cb in getattr(trainer, "checkpoint_callbacks", None) or []]
    return export_metrics(record, states)


#: the keys of config.json's ``metrics`` and of its two parts, as :func:`export_metrics` writes
#: them (the load of an export from a newer pdesurrogate ignores any others)
METRICS_KEYS = ("validation", "best")
VALIDATION_KEYS = ("epoch", "global_step", "values")
BEST_KEYS = ("monitor", "score", "path")


def check_metrics(metrics, where: str) -> None:
    """config.json's ``metrics``: null, or the layout :func:`export_metrics` writes; one
    ValueError naming ``where`` and the key otherwise."""
    if metrics is None:
        return

    def fail(key: str, expected: str, got) -> None:
        raise ValueError(f"{where!r}: metrics{key} must be {expected}, got {got!r}")

    def number(v) -> bool:
        return (isinstance(v, (int, float)) and not isinstance(v, bool)) or v in _NON_FINITE

    def count(v) -> bool:
        return v is None or (isinstance(v, int) and not isinstance(v, bool))

    if not isinstance(metrics, dict) or set(metrics) != set(METRICS_KEYS):
        fail("", "null or an object with keys 'validation' and 'best'", metrics)
    val = metrics["validation"]
    if val is not None:
        if not isinstance(val, dict) or set(val) != set(VALIDATION_KEYS):
            fail(".validation", "null or an object with keys 'epoch', 'global_step', 'values'",
                 val)
        for key in ("epoch", "global_step"):
            if not count(val[key]):
                fail(f".validation.{key}", "an int or null", val[key])
        if not isinstance(val["values"], dict) or not all(
                isinstance(k, str) and number(v) for k, v in val["values"].items()):
            fail(".validation.values", f"an object of numbers (or {', '.join(_NON_FINITE)})",
                 val["values"])
    best = metrics["best"]
    if not isinstance(best, list):
        fail(".best", "a list", best)
    for i, b in enumerate(best):
        if not isinstance(b, dict) or set(b) != set(BEST_KEYS) \
                or not isinstance(b["monitor"], str) or not number(b["score"]) \
                or not (b["path"] is None or isinstance(b["path"], str)):
            fail(f".best[{i}]", "an object {monitor: string, score: number, path: string or "
                 "null}", b)
