"""Data-source records: what a model was trained on, and the split a file record describes.

A checkpoint or an export records where its training data came from (``data_info["source"]``,
exported as ``provenance.data_source``), in one of two forms:

* a **file** or a folder of files (written by :class:`~pdesurrogate.training.FieldDataModule`):
  ``path``, content ``fingerprint`` (:func:`~pdesurrogate.datasets.fingerprint.fingerprint`),
  ``n_trajectories``, ``fractions``, ``seed`` and ``max_train_trajectories``; a folder split
  into ``train/``, ``valid/`` and ``test/`` also ``split_folders`` (``[train, valid, test]``
  trajectories of each), its split, which ``fractions`` and ``seed`` then do not make. Equal
  settings over data of equal fingerprint give the same train/validation/test trajectories;
  :func:`source_splits` recomputes them, for ``test``'s check against the checkpoint and for
  ``predict`` on the training file.
* an **online stream** (``pdesurrogate online``; :func:`online_source`), ``"kind": "online"``:
  the solver (``{"class_path", "init_args"}``), the parameter box the scheduler drew from
  (``parameters``: ``{name: [low, high]}``), its ``sampling``, ``seed``, ``simulations`` and
  ``max_retries`` (a rerun draws a new seed), the ``n_steps`` saved steps ``dt`` apart of each
  simulation, and the held-out ``validation`` and normalisation ``statistics`` sets
  (``{"trajectories", "seed"}`` each: initial states from the solver's ``sample(trajectories,
  seed)``, parameters drawn uniformly at random in the box with that seed). The same record
  and pdesurrogate version give the same simulations (up to the solvers' floating-point
  determinism); which of them training saw depends on the buffer and timing.

:func:`check_source_record` checks either form, key by key, as ``load`` does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .torch_datasets import split_indices

ONLINE = "online"
FILE_KEYS = ("path", "fingerprint", "n_trajectories", "fractions", "seed",
             "max_train_trajectories")
# a folder split into train/, valid/ and test/ (The Well's layout) records its split as the
# trajectories of each, [train, valid, test], which then replace fractions and seed
SPLIT_FOLDERS_KEY = "split_folders"
ONLINE_KEYS = ("kind", "solver", "parameters", "sampling", "seed", "simulations",
               "max_retries", "n_steps", "dt", "validation", "statistics")
HELD_OUT_KEYS = ("trajectories", "seed")


def is_online(source) -> bool:
    """Whether ``source`` is an online stream's record (not a file's)."""
    return isinstance(source, Mapping) and source.get("kind") == ONLINE


def source_splits(source: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, val, test)`` trajectory indices of a file record, the training split cut
    to ``max_train_trajectories`` as the datamodule cuts it. KeyError, TypeError or ValueError
    for a record without usable split settings (an online record among them)."""
    sizes = source.get(SPLIT_FOLDERS_KEY)
    if sizes is not None:
        ends = np.cumsum([0, *(int(k) for k in sizes)])
        train, val, test = (np.arange(a, b) for a, b in zip(ends[:-1], ends[1:], strict=True))
    else:
        train, val, test = split_indices(int(source["n_trajectories"]), source["fractions"],
                                         int(source["seed"]))
    m = source.get("max_train_trajectories")
    return (train[:m] if m is not None else train), val, test


def online_source(solver: Mapping, parameters: Mapping, sampling: str, seed: int,
                  simulations: int, max_retries: int, n_steps: int, dt: float,
                  validation: tuple[int, int], statistics: tuple[int, int]) -> dict:
    """The record of an online run's data (module docstring), as plain JSON types.

    Args:
        solver: ``{"class_path": str, "init_args": {...}}`` (JSON values).
        parameters: ``{name: (low, high)}``, the box the scheduler draws from.
        sampling, seed, simulations, max_retries: the scheduler's settings.
        n_steps, dt: saved steps per simulation and the time between them.
        validation, statistics: ``(trajectories, seed)`` of each generated set.
    """
    import json

    record = {
        "kind": ONLINE,
        "solver": {"class_path": solver["class_path"],
                   "init_args": dict(solver.get("init_args") or {})},
        "parameters": {str(k): [float(lo), float(hi)] for k, (lo, hi) in parameters.items()},
        "sampling": str(sampling), "seed": int(seed), "simulations": int(simulations),
        "max_retries": int(max_retries), "n_steps": int(n_steps), "dt": float(dt),
        "validation": dict(zip(HELD_OUT_KEYS, (int(v) for v in validation), strict=True)),
        "statistics": dict(zip(HELD_OUT_KEYS, (int(v) for v in statistics), strict=True)),
    }
    try:  # a copy in JSON's types (tuples become lists); a value JSON cannot hold is an error
        record = json.loads(json.dumps(record, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"online data source: the solver's init_args must be JSON values: "
                         f"{e}") from None
    check_source_record(record, "online data source")
    return record


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v))


def _check_keys(record: Mapping, keys: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(record) - set(keys))
    missing = [k for k in keys if k not in record]
    if unknown or missing:
        raise ValueError(f"{what} has unknown key(s) {unknown}, missing key(s) {missing}; "
                         f"expected exactly {list(keys)}")


def check_source_record(source, where: str, name: str = "provenance.data_source") -> None:
    """Refuse a data-source record (either form) with a key missing, unknown or of the wrong
    type: one ValueError ``'<where>': <name>.<key> must be ..., got ...``."""
    from .fingerprint import fingerprint_version

    what = f"{where!r}: {name}"
    if not isinstance(source, Mapping):
        raise ValueError(f"{what} must be an object, got {type(source).__name__}")

    def need(key: str, ok: bool, expected: str) -> None:
        if not ok:
            raise ValueError(f"{what}.{key} must be {expected}, got {source[key]!r}")

    if "kind" in source:
        need("kind", source["kind"] == ONLINE, f"{ONLINE!r} (or absent, for a file)")
        _check_keys(source, ONLINE_KEYS, f"{what} (an online stream's)")
        s = source["solver"]
        need("solver", isinstance(s, Mapping) and set(s) == {"class_path", "init_args"}
             and isinstance(s["class_path"], str) and bool(s["class_path"])
             and isinstance(s["init_args"], Mapping),
             "an object {'class_path': str, 'init_args': {...}}")
        box = source["parameters"]
        need("parameters", isinstance(box, Mapping) and all(
            isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v)
            and v[0] <= v[1] for v in box.values()), "an object {name: [low, high]}")
        need("sampling", isinstance(source["sampling"], str), "a string")
        for key, low in (("seed", None), ("simulations", 1), ("max_retries", 0),
                         ("n_steps", 1)):
            v = source[key]
            need(key, _is_int(v) and (low is None or v >= low),
                 "an int" if low is None else f"an int >= {low}")
        need("dt", _is_number(source["dt"]) and source["dt"] > 0, "a number > 0")
        for key in ("validation", "statistics"):
            v = source[key]
            need(key, isinstance(v, Mapping) and set(v) == set(HELD_OUT_KEYS)
                 and _is_int(v["trajectories"]) and v["trajectories"] >= 1
                 and _is_int(v["seed"]), "an object {'trajectories': int >= 1, 'seed': int}")
        return
    optional = (SPLIT_FOLDERS_KEY,) if SPLIT_FOLDERS_KEY in source else ()
    _check_keys(source, FILE_KEYS + optional, f"{what} (a file's)")
    need("path", isinstance(source["path"], str), "a string")
    try:
        fingerprint_version(source["fingerprint"])
        fp_ok = True
    except ValueError:
        fp_ok = False
    need("fingerprint", fp_ok, "a data fingerprint 'sha256:[v<n>:]<64 hex digits>'")
    need("n_trajectories", _is_int(source["n_trajectories"]) and source["n_trajectories"] >= 0,
         "an int >= 0")
    f = source["fractions"]
    need("fractions", isinstance(f, list) and len(f) == 3 and all(_is_number(x) and x >= 0
                                                                   for x in f),
         "a list of 3 numbers >= 0")
    need("seed", _is_int(source["seed"]), "an int")
    m = source["max_train_trajectories"]
    need("max_train_trajectories", m is None or (_is_int(m) and m >= 1), "null or an int >= 1")
    if optional:
        k = source[SPLIT_FOLDERS_KEY]
        need(SPLIT_FOLDERS_KEY, isinstance(k, list) and len(k) == 3
             and all(_is_int(x) and x >= 0 for x in k)
             and sum(k) == source["n_trajectories"],
             "a list of 3 ints >= 0 (train, valid, test) summing to n_trajectories")
