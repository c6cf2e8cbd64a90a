"""Whether a checkpoint is evaluated or resumed on the data and split it was fit on.

A checkpoint records its training data's source (``data_info["source"]``, see
:mod:`pdesurrogate.datasets.source`): a file, or a folder of files read as one (a file added,
removed or changed in it changes its fingerprint). ``test``, ``validate`` or a resumed ``fit``
on other data, or on a split that puts other trajectories in what the stage reads, would give a
number on the wrong trajectories (possibly ones the model trained on) with no sign of it:
:func:`check_source` refuses it in one error naming what differs and the fix.

A file's fingerprint recorded with an older version of the algorithm
(:mod:`pdesurrogate.datasets.fingerprint`) is compared with the file read now by recomputing it
with that version. A checkpoint of an online run (its source an online stream's record) is
compared with the settings of a resumed online run; tested or validated on a file, there is no
training file whose trajectories the split could repeat, so nothing is compared.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pdesurrogate.datasets.fingerprint import fingerprint_version, matches
from pdesurrogate.datasets.grid_extent import EXTENT_KEY
from pdesurrogate.datasets.source import SPLIT_FOLDERS_KEY, is_online, source_splits

# the split settings of a source record; equal settings over the same data (equal
# fingerprint) give the same train/val/test trajectories
SPLIT_KEYS = ("n_trajectories", "fractions", "seed", "max_train_trajectories", SPLIT_FOLDERS_KEY)
# which splits each stage reads: (train, val, test) positions of source_splits
_READS = {"test": (2,), "validate": (1,), "fit": (0, 1)}


def _same_settings(key: str, x, y) -> bool:
    if key == "fractions":
        return (x is not None and y is not None and len(x) == len(y)
                and all(abs(float(u) - float(v)) <= 1e-9 for u, v in zip(x, y, strict=True)))
    return x == y


def source_differences(recorded: dict, current: dict, stage: str = "fit",
                       compare_k: bool = True) -> list[str]:
    """What differs between two ``data_info`` records such that ``stage`` would read other
    trajectories or other data: ``"<key> <recorded> (checkpoint) vs <current> (now)"`` each,
    the fingerprint first; ``[]`` when the splits ``stage`` reads hold the same trajectories of
    the same data. The ``path`` is not compared (a moved or copied file is the same data), nor
    split settings that leave the stage's trajectories as they were (a ``test`` after a fit
    with another ``max_train_trajectories``). ``compare_k``: whether the saved times per model
    step matter to the module."""
    a, b = recorded["source"], current["source"]
    if is_online(a) or is_online(b):
        return _stream_differences(a, b)
    if a.get("fingerprint") != b.get("fingerprint") and not _same_data(a, b):
        return [f"data fingerprint {a.get('fingerprint')} of {a.get('path')!r} (checkpoint) vs "
                f"{b.get('fingerprint')} of {b.get('path')!r} (now)"]
    out = []
    try:
        old, new = source_splits(a), source_splits(b)
        moved = any(not np.array_equal(old[i], new[i]) for i in _READS.get(stage, (0, 1, 2)))
    except (KeyError, TypeError, ValueError):
        moved = True  # a record without usable settings: compare the settings themselves
    if moved:
        out += [f"{key} {a.get(key)!r} (checkpoint) vs {b.get(key)!r} (now)"
                for key in SPLIT_KEYS if not _same_settings(key, a.get(key), b.get(key))]
        if not out:
            out.append("the split's trajectories (checkpoint) vs (now)")
    if compare_k and recorded.get("k") != current.get("k"):
        out.append(f"k {recorded.get('k')!r} (checkpoint) vs {current.get('k')!r} (now)")
    return out


def _same_data(recorded: dict, current: dict) -> bool:
    """Whether the file of ``current`` holds the data of ``recorded`` although their
    fingerprints differ as strings: true only when they are of different versions (a record
    written before the current one) and the file, recomputed with the recorded version, gives
    the recorded string. ValueError for a recorded version this code does not know."""
    fa, fb, path = recorded.get("fingerprint"), current.get("fingerprint"), current.get("path")
    try:
        if fingerprint_version(fa) == fingerprint_version(fb):
            return False
    except ValueError:
        return False  # a record without a fingerprint: other data
    if not isinstance(path, str) or not os.path.exists(path):
        return False
    from pdesurrogate.datasets import open_dataset

    with open_dataset(path) as data:
        return matches(fa, data)


def _stream_differences(a: dict, b: dict) -> list[str]:
    """:func:`source_differences` where either record is an online stream's: a file's split
    cannot hold an online run's training trajectories (none: ``[]``); two streams differ in
    the settings that make their simulations (each ``"data stream's <key> ..."``); a file's
    checkpoint resumed on a stream is other data."""
    if is_online(a) and is_online(b):
        return [f"data stream's {key} {a.get(key)!r} (checkpoint) vs {b.get(key)!r} (now)"
                for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    if is_online(a):
        return []
    return [f"data file {a.get('path')!r} (checkpoint) vs an online stream (now)"]


# data_info's key for the sources a fit resumed on other data was fit on before, oldest first
EARLIER_KEY = "fine_tuned_from"


def resumed_record(saved: dict, current: dict | None, stage: str) -> dict:
    """The ``data_info`` a module keeps after loading a checkpoint whose record is ``saved``,
    with the datamodule's ``current`` record (already passed :func:`check_source`).

    The same file, perhaps moved: the saved record with the file's path now (and the fit's
    split settings, which a test may read with others, e.g. ``max_train_trajectories``). An
    online stream's checkpoint fine-tuned (``stage == "fit"``) on a file: the file is the
    source of this run, and the stream goes to the ``fine_tuned_from`` list (oldest first), so
    an export names the data the weights were last fit on. Tested or validated on a file, the
    stream stays the source: the weights were fit on it alone.

    A record written before records named the spatial axes (``grid_names``) or their extents
    (``grid_extent``) takes them from the same file read now (its fingerprint recorded), so
    that the export of a resumed fit records them and predict checks a file's axis order and
    domain."""
    out = dict(saved)
    old, new = saved.get("source"), (current or {}).get("source")
    if not (old and new):
        return out
    if not is_online(old) and not is_online(new):
        out["source"] = {**old, "path": new.get("path")}
        lacking = [key for key in ("grid_names", EXTENT_KEY)
                   if saved.get(key) is None and current.get(key) is not None]
        if lacking and old.get("fingerprint") \
                and (old["fingerprint"] == new.get("fingerprint") or _same_data(old, new)):
            out.update({key: list(current[key]) for key in lacking})
    elif stage == "fit" and is_online(old) != is_online(new):
        out["source"] = new
        out[EARLIER_KEY] = [*saved.get(EARLIER_KEY, []), old]
    return out


def check_source(recorded: dict | None, current: dict | None, ckpt_path, stage: str,
                 compare_k: bool = True) -> None:
    """Refuse to ``stage`` (``"test"``, ``"validate"``, ``"fit"``) a checkpoint fit on other
    data, or on a split whose trajectories for ``stage`` differ from those the datamodule
    reads now. One ValueError naming what differs and the fix.

    ``recorded``: the checkpoint's ``data_info``; ``current``: the datamodule's. Nothing is
    checked when either lacks a ``source`` (a checkpoint written before sources were
    recorded, or by an online run before it recorded its stream).
    """
    if not (recorded and current and recorded.get("source") and current.get("source")):
        return
    diff = source_differences(recorded, current, stage, compare_k)
    if not diff:
        return
    ckpt = str(ckpt_path) if ckpt_path else "the checkpoint"
    split = {"test": "test split", "validate": "validation split"}.get(
        stage, "training and validation splits")
    why = f"so its {split} would hold other trajectories (possibly ones the model trained on)"
    other_data = diff[0].startswith("data ")
    if other_data:
        what = "other data than the checkpoint was fit on"
    elif diff[0].startswith("k "):
        what = "the data at another k (saved times per model step) than the checkpoint was fit on"
        why = "so the model's steps would be compared with other saved times than it learned"
    else:
        what = "another split of the data than the checkpoint was fit on"
    saved = Path(ckpt_path).parent.parent / "config.yaml" if ckpt_path else None
    if saved is not None and saved.is_file():
        fix = f"use the config.yaml the fit saved: --config {saved}"
    else:
        fix = ("use the config the checkpoint was fit with (fit saves it as config.yaml next "
               "to its checkpoints/ folder)")
    if other_data and is_online(recorded["source"]):
        fix += (" (online: with --resume), whose solver, parameters and scheduler settings "
                "make the same simulations")
    elif other_data:
        fix += (", with the data file (or folder) it was fit on; a regenerated or changed file "
                "needs a new fit, as does a folder with a file added or removed")
        if stage in ("test", "validate"):
            fix += ("; to score it on another file (a held-out one), export it and run "
                    "pdesurrogate predict --input FILE")
    todo = {"fit": "resume its fit"}.get(stage, f"{stage} this checkpoint")
    raise ValueError(f"{ckpt!r}: this {stage} reads {what}, {why}: {'; '.join(diff)}. "
                     f"To {todo}, {fix}")
