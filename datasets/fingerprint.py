"""``fingerprint``: a cheap content hash of a dataset file, to tell "the same data" from "other
data" without reading a multi-GB file in full.

A model's checkpoint and export record the fingerprint of the file it was trained on, so that a
later ``test`` or ``predict`` can tell whether it reads that data (possibly moved or copied:
the path is not hashed) or another file (regenerated, extended, edited).

What the hash covers (sha256, in this order), version 3 (:data:`FINGERPRINT_VERSION`):

* the array shape ``(N, T, C, *grid)``;
* the saved times, the grid coordinates and names, the channel names;
* every parameter's name and its ``N`` values, and the trajectory ids (``sim_id``);
* every value of the first and of the last trajectory (``u[0]`` and ``u[N - 1]``) if their
  frames fit in :data:`TRAJECTORY_BYTES` each, else every value of as many frames of them as
  fit, spread evenly over ``0 .. T - 1`` (both ends included; at least those two);
* the last saved frame ``u[i, T - 1]`` of every other trajectory ``i``, or, in a file of more
  than :data:`SAMPLE_TRAJECTORIES` trajectories (or whose frames of all trajectories would
  exceed :data:`SAMPLE_BYTES`), of those among that many trajectories spread evenly over
  ``0 .. N - 1`` (both ends included; the same ones for every file of that shape). The last
  frame is the state after the whole trajectory: an edit of its initial state, parameters or
  solver changes it.

The frames and trajectories sampled depend on the shape alone (and on these constants, which
are part of the version: changing one needs a new version).

What it cannot detect: a change in a trajectory that leaves its last frame as it was (an
earlier frame edited in place), unless it is the first or the last trajectory and the changed
frame is among those hashed of it (all of them, for trajectories of at most
:data:`TRAJECTORY_BYTES`); in a file of more than :data:`SAMPLE_TRAJECTORIES` trajectories, a
change confined to trajectories outside the sample; and a change in file attributes the
training never reads (the solver settings recorded as metadata, the ``pde`` name). A file
regenerated with another seed, solver setting, resolution, time grid or number of trajectories
changes it, since the parameters or the first trajectory's initial state differ. For PDEBench
files the parameters are read from the file name (``..._Nu0.01.hdf5``), so a rename that
changes those tokens changes the fingerprint, as it changes what a model is fed.

Cost: at most :data:`TRAJECTORY_BYTES` of frames (or two frames, if more) of each of two
trajectories, read a frame block at a time (at most :data:`BLOCK_BYTES` in memory), plus one
frame of at most :data:`SAMPLE_TRAJECTORIES` - 2 more trajectories (at most
:data:`SAMPLE_BYTES` of frames, or two if one is more), plus the small coordinate arrays:
bounded whatever the length of a trajectory (version 2 read the two trajectories in full:
minutes for the multi-GB trajectories of 3-D data, at every setup of a fit). A frame is read
whole: a single frame of more than these bounds is still read in full. HDF5 reads whole
chunks: in our files (chunks of about 128 KiB, :func:`~.ourformat.chunk_shape`) one frame
costs one chunk, so the sample reads at most ``SAMPLE_TRAJECTORIES`` chunks (64 MiB for frames
under 128 KiB).

A folder read as one dataset (:class:`~.file_set.FileSet`, its files' trajectories one after
the other) is hashed as above over all its trajectories, and, in version 3, also over the number
of its files, each file's number of trajectories and own trajectory ids, and the last frame of
the first and of the last trajectory of every file (of as many files as
:func:`sampled_trajectories` takes, with frames of both): a file added, removed or regenerated
changes it. Its files' names and the folder's path are not hashed.

Versions. The string names the version it was computed with: ``"sha256:<64 hex>"`` is version 1
(the first and last trajectories in full only, no frame sample), ``"sha256:v2:<64 hex>"``
version 2 (the first and last trajectories in full, and the last frames of the sample
including those two), ``"sha256:v3:<64 hex>"`` version 3. :func:`matches` compares a recorded
fingerprint with a file by recomputing it with the recorded version, so records written before
version 3 (checkpoints, exports, run records) keep matching their unchanged file, at the cost
of the old version's reads.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from .file_set import FileSet
from .reader import FieldData

FINGERPRINT_VERSION = 3
VERSIONS = (1, 2, 3)
BLOCK_BYTES = 64 * 2**20
# version 3 reads at most this many bytes of frames of the first and of the last trajectory
# (or their first and last frames, if two frames are more)
TRAJECTORY_BYTES = 32 * 2**20
# versions 2 and 3's sample of last frames: at most this many trajectories, and this many bytes
SAMPLE_TRAJECTORIES = 512
SAMPLE_BYTES = 64 * 2**20
_PATTERN = re.compile(r"sha256:(?:v(\d+):)?[0-9a-f]{64}")


def fingerprint_version(fp: str) -> int:
    """The version a fingerprint string was computed with (``"sha256:<hex>"``: 1,
    ``"sha256:v<n>:<hex>"``: n). ValueError for a string of neither form."""
    m = _PATTERN.fullmatch(fp) if isinstance(fp, str) else None
    if m is None:
        raise ValueError(f"not a data fingerprint: {fp!r}; expected 'sha256:<64 hex digits>' "
                         "or 'sha256:v<version>:<64 hex digits>'")
    return int(m.group(1)) if m.group(1) else 1


def sampled_trajectories(n: int, frame_bytes: int) -> np.ndarray:
    """The trajectories whose last frame versions 2 and 3 hash: all ``n``, or, beyond
    :data:`SAMPLE_TRAJECTORIES` (or :data:`SAMPLE_BYTES` of frames of ``frame_bytes``), that many
    spread evenly over ``0 .. n - 1`` with both ends, increasing."""
    m = min(n, SAMPLE_TRAJECTORIES, max(2, SAMPLE_BYTES // max(frame_bytes, 1)))
    if m >= n:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, m)).astype(np.int64))


def fingerprint(data: FieldData, version: int = FINGERPRINT_VERSION) -> str:
    """The content fingerprint of ``data`` (see the module docstring for what it covers):
    ``"sha256:v3:<64 hex digits>"`` (``version=1``: ``"sha256:<64 hex digits>"``, ``version=2``:
    ``"sha256:v2:<64 hex digits>"``, the algorithms of records written before version 3).
    Independent of the file's path and name (except where a format reads values from the name,
    as PDEBench's parameters)."""
    if version not in VERSIONS:
        raise ValueError(f"fingerprint version {version!r} is not known to this pdesurrogate "
                         f"(it computes versions {list(VERSIONS)}); a record of a newer "
                         "version needs a newer pdesurrogate")
    h = hashlib.sha256()

    def add(tag: str, value) -> None:
        # the tag and the length frame each field, so no two layouts give the same byte stream
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        h.update(f"{tag}:{len(raw)}:".encode())
        h.update(raw)

    def floats(a) -> bytes:
        return np.ascontiguousarray(np.asarray(a, dtype="<f8")).tobytes()

    def values(a) -> bytes:
        return np.ascontiguousarray(np.asarray(a, dtype="<f4")).tobytes()

    shape = tuple(int(s) for s in data.u.shape)
    add("version", version)
    add("shape", shape)
    add("times", floats(data.times))
    for name, coord in zip(data.grid_names, data.grid, strict=True):
        add("grid", name)
        add("coord", floats(coord))
    add("channels", repr(list(data.channel_names)))
    for name, vals in data.params.items():
        add("param", name)
        add("values", floats(vals))
    add("sim_id", np.ascontiguousarray(np.asarray(data.sim_id, dtype="<i8")).tobytes())
    n, t = shape[0], shape[1]
    frame_bytes = 4 * int(np.prod(shape[2:], dtype=np.int64))
    per_block = max(1, BLOCK_BYTES // max(frame_bytes, 1))
    if version >= 3:
        _add_bounded(data, add, h.update, values, n, t, frame_bytes, per_block)
    else:
        for i in sorted({0, n - 1}) if n else ():
            add("trajectory", i)
            for start in range(0, t, per_block):
                h.update(values(data.u[i, start: start + per_block]))
    if version >= 3 and isinstance(data, FileSet):
        _add_files(data, add, update=h.update, values=values, t=t, frame_bytes=frame_bytes)
    if version == 2 and n and t:
        add("last frames", t - 1)
        for i in sampled_trajectories(n, frame_bytes).tolist():
            add("frame of", i)
            h.update(values(data.u[i, t - 1]))
    tag = "" if version == 1 else f"v{version}:"
    return f"sha256:{tag}{h.hexdigest()}"


def sampled_frames(t: int, frame_bytes: int) -> np.ndarray:
    """The frames of the first and of the last trajectory version 3 hashes: all ``t``, or,
    beyond :data:`TRAJECTORY_BYTES` of frames of ``frame_bytes``, as many as fit in it (at
    least the first and the last) spread evenly over ``0 .. t - 1`` with both ends,
    increasing."""
    m = min(t, max(2, TRAJECTORY_BYTES // max(frame_bytes, 1)))
    if m >= t:
        return np.arange(t)
    return np.unique(np.round(np.linspace(0, t - 1, m)).astype(np.int64))


def _add_bounded(data: FieldData, add, update, values, n: int, t: int, frame_bytes: int,
                 per_block: int) -> None:
    """Version 3's values: :func:`sampled_frames` of the first and of the last trajectory
    (read a block of frames at a time when they are all of them), then the last frame of the
    :func:`sampled_trajectories` in between (those two ends already hold theirs)."""
    frames = sampled_frames(t, frame_bytes)
    for i in sorted({0, n - 1}) if n else ():
        add("trajectory", i)
        if frames.size == t:
            for start in range(0, t, per_block):
                update(values(data.u[i, start: start + per_block]))
            continue
        add("frames", frames.size)
        for j in frames.tolist():
            add("frame", j)
            update(values(data.u[i, j]))
    if n > 2 and t:
        add("last frames", t - 1)
        for i in sampled_trajectories(n, frame_bytes).tolist():
            if 0 < i < n - 1:
                add("frame of", i)
                update(values(data.u[i, t - 1]))


def _add_files(data: FileSet, add, update, values, t: int, frame_bytes: int) -> None:
    """A folder's (:class:`~.file_set.FileSet`'s) own part: its files' number and trajectory
    counts and own trajectory ids, and the last frame of the first and of the last trajectory
    of each of :func:`sampled_trajectories` of its files (every file, up to
    :data:`SAMPLE_TRAJECTORIES` files or :data:`SAMPLE_BYTES` of frames): a file added,
    removed, reordered or regenerated changes it even where the set's own sample of
    trajectories misses that file's."""
    add("files", len(data.members))
    for m in data.members:
        add("file trajectories", len(m))
        add("file sim_id", np.ascontiguousarray(np.asarray(m.sim_id, dtype="<i8")).tobytes())
    if not t:
        return
    for i in sampled_trajectories(len(data.members), 2 * frame_bytes).tolist():
        m = data.members[i]
        add("ends of file", i)
        for j in sorted({0, len(m) - 1}):
            update(values(m.u[j, t - 1]))


def matches(recorded: str, data: FieldData) -> bool:
    """Whether ``data`` is the data a fingerprint was recorded for: ``recorded`` recomputed
    with the version it names (so a version-1 record still matches its unchanged file).
    ValueError for a string that is not a fingerprint or names a version this code lacks."""
    return fingerprint(data, fingerprint_version(recorded)) == recorded
