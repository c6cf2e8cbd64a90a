"""``fingerprint``: a cheap content hash of a dataset file, to tell "the same data" from "other
data" without reading a multi-GB file in full.

A model's checkpoint and export record the fingerprint of the file it was trained on, so that a
later ``test`` or ``predict`` can tell whether it reads that data (possibly moved or copied:
the path is not hashed) or another file (regenerated, extended, edited).

What the hash covers (sha256, in this order):

* the array shape ``(N, T, C, *grid)``;
* the saved times, the grid coordinates and names, the channel names;
* every parameter's name and its ``N`` values, and the trajectory ids (``sim_id``);
* every value of the first and of the last trajectory (``u[0]`` and ``u[N - 1]``).

What it cannot detect: a change confined to trajectories ``1 .. N - 2`` that keeps the shape,
times, coordinates, names, parameters and ids (e.g. one trajectory edited in place), and a
change in file attributes the training never reads (the solver settings recorded as metadata,
the ``pde`` name). A file regenerated with another seed, solver setting, resolution, time
grid or number of trajectories changes it, since the parameters or the first trajectory
differ. For PDEBench files the parameters are read from the file name
(``..._Nu0.01.hdf5``), so a rename that changes those tokens changes the fingerprint, as it
changes what a model is fed.

Cost: two trajectories read, a frame block at a time (at most :data:`BLOCK_BYTES` in memory),
plus the small coordinate arrays.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .reader import FieldData

# bump when what the hash covers changes: fingerprints of another version never compare equal
FINGERPRINT_VERSION = 1
BLOCK_BYTES = 64 * 2**20


def fingerprint(data: FieldData) -> str:
    """The content fingerprint of ``data`` (see the module docstring for what it covers):
    ``"sha256:<64 hex digits>"``. Independent of the file's path and name (except where a
    format reads values from the name, as PDEBench's parameters)."""
    h = hashlib.sha256()

    def add(tag: str, value) -> None:
        # the tag and the length frame each field, so no two layouts give the same byte stream
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        h.update(f"{tag}:{len(raw)}:".encode())
        h.update(raw)

    def floats(a) -> bytes:
        return np.ascontiguousarray(np.asarray(a, dtype="<f8")).tobytes()

    shape = tuple(int(s) for s in data.u.shape)
    add("version", FINGERPRINT_VERSION)
    add("shape", shape)
    add("times", floats(data.times))
    for name, coord in zip(data.grid_names, data.grid, strict=True):
        add("grid", name)
        add("coord", floats(coord))
    add("channels", repr(list(data.channel_names)))
    for name, values in data.params.items():
        add("param", name)
        add("values", floats(values))
    add("sim_id", np.ascontiguousarray(np.asarray(data.sim_id, dtype="<i8")).tobytes())
    n, t = shape[0], shape[1]
    frame_bytes = 4 * int(np.prod(shape[2:], dtype=np.int64))
    per_block = max(1, BLOCK_BYTES // max(frame_bytes, 1))
    for i in sorted({0, n - 1}) if n else ():
        add("trajectory", i)
        for start in range(0, t, per_block):
            block = np.asarray(data.u[i, start: start + per_block], dtype="<f4")
            h.update(np.ascontiguousarray(block).tobytes())
    return f"sha256:{h.hexdigest()}"
