"""The Well HDF5 files (Ohana et al., 2024) as :class:`~.reader.Layout`.

A Well file holds ``n_trajectories`` trajectories on a uniform grid:

* ``dimensions``: ``time`` ``(T,)`` and one coordinate dataset per name in its
  ``spatial_dims`` attribute (that order is the order of the fields' spatial axes); a
  sample-varying one ``(N, L)`` must hold the same row for every trajectory (the first and last
  rows are compared);
* ``t0_fields`` (scalars ``(N, T, *grid)``), ``t1_fields`` (vectors ``(N, T, *grid, D)``),
  ``t2_fields`` (tensors ``(N, T, *grid, D, D)``), each listing its fields in ``field_names``;
  a field whose ``sample_varying`` / ``time_varying`` attribute is false lacks that axis, and a
  false entry of ``dim_varying`` drops that spatial axis: these are broadcast on reading;
* ``scalars``: named constants (``sample_varying`` ones become per-trajectory);
* ``boundary_conditions``: one group per boundary with ``bc_type``.

Channels are the t0 fields, then the t1 components (``velocity_x``, ``velocity_y``), then the t2
components (``stress_xx``, ``stress_xy``, ...). Non-time-varying scalars become parameters
(the root ``simulation_parameters`` attributes fill in any missing); time-varying scalars are
listed in ``attrs["time_varying_scalars"]`` and not read, and so are, in
``attrs["unread_scalars"]``, the other scalars that are neither one value nor one per trajectory
(``sample_varying`` and ``n_trajectories`` values). Boundary types go to
``attrs["boundary_conditions"]``.

Checked on opening (ValueError naming the file and the key): the coordinates, fields and scalars
are numeric arrays (not groups or strings), each field's shape matches the lengths of
``dimensions/time`` and the spatial coordinates, and a sample-varying coordinate's first and
last rows agree (the Well's own loader reads a row per trajectory; a Layout has one time axis
and one grid).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from .lazy import ArraySource, decode, decode_attrs
from .reader import Layout, key_name, require_array, require_group

FIELD_GROUPS = ("t0_fields", "t1_fields", "t2_fields")


def is_the_well(f: h5py.File) -> bool:
    return "dimensions" in f and any(g in f for g in FIELD_GROUPS)


def _flag(obj, name: str, default: bool = True) -> bool:
    return bool(decode(obj.attrs[name])) if name in obj.attrs else default


def _names(attr) -> list[str]:
    v = decode(attr)
    return [v] if isinstance(v, str) else [str(x) for x in v]


def _coordinate(dims: h5py.Group, name: str, where: str) -> np.ndarray:
    """``dimensions/<name>`` as a 1-D float64 array. A sample-varying ``(N, L)`` one gives its
    first row, and must repeat it: one time axis and one grid serve every trajectory.

    Raises ValueError naming the file and key when the first and last rows differ.
    """
    ds = require_array(dims, name, where, ndims=(1, 2))
    if ds.ndim == 1 or not ds.shape[0]:
        return np.asarray(ds[()], np.float64)
    # two rows, not all N: opening stays O(1) in the declared number of trajectories
    first, last = np.asarray(ds[0], np.float64), np.asarray(ds[-1], np.float64)
    if not np.array_equal(first, last):
        raise ValueError(
            f"{where}: {key_name(dims, name)!r} differs between trajectories (row 0 starts "
            f"{first[:3].tolist()}, row {ds.shape[0] - 1} {last[:3].tolist()}); per-trajectory "
            f"coordinates are not supported: every trajectory must have the same {name}")
    return first


def the_well_layout(f: h5py.File, path: Path) -> Layout:
    where = repr(str(path))
    dims = require_group(f, "dimensions", where, "the time and space coordinates")
    if "spatial_dims" in dims.attrs:
        spatial = _names(dims.attrs["spatial_dims"])
    else:
        spatial = [a for a in ("x", "y", "z") if a in dims]
    if not spatial:
        raise ValueError(f"{where}: 'dimensions' names no spatial axis (attribute spatial_dims, "
                         f"or datasets x, y, z); found {sorted(dims.keys())}")
    missing = [a for a in ["time", *spatial] if a not in dims]
    if missing:
        raise ValueError(f"{where}: 'dimensions' lacks {missing}; found {sorted(dims.keys())}")
    times = _coordinate(dims, "time", where)
    grid = [_coordinate(dims, a, where) for a in spatial]
    grid_shape = tuple(len(c) for c in grid)
    d = len(spatial)
    n = decode(f.attrs["n_trajectories"]) if "n_trajectories" in f.attrs else None
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ValueError(f"{where}: attribute 'n_trajectories' is {n!r}; expected a count")
    t = len(times)

    sources, channels = [], []
    for order, gname in enumerate(FIELD_GROUPS):
        if gname not in f:
            continue
        group = require_group(f, gname, where, "fields")
        names = _names(group.attrs["field_names"]) if "field_names" in group.attrs \
            else sorted(group.keys())
        for name in names:
            if name not in group:
                raise ValueError(f"{where}: {gname} lists field {name!r} but has no such dataset")
            ds = require_array(group, name, where)
            has_n, has_t = _flag(ds, "sample_varying"), _flag(ds, "time_varying")
            present = [bool(x) for x in np.atleast_1d(decode(ds.attrs["dim_varying"]))] \
                if "dim_varying" in ds.attrs else [True] * d
            if len(present) != d:
                raise ValueError(f"{where}: {gname}/{name} dim_varying {present} does not match "
                                 f"spatial_dims {spatial}")
            if has_n and n is None:
                n = ds.shape[0]
            kept = [s for s, p in zip(grid_shape, present, strict=True) if p]
            expect = ([n] if has_n else []) + ([t] if has_t else []) + kept + [d] * order
            if list(ds.shape) != expect:
                axes = (["trajectories"] if has_n else []) \
                    + ([f"time ({t} entries in 'dimensions/time')"] if has_t else []) \
                    + [f"{a} ({s} entries in 'dimensions/{a}')"
                       for a, s, p in zip(spatial, grid_shape, present, strict=True) if p] \
                    + [f"{order} component axes of size {d}"] * (order > 0)
                raise ValueError(f"{where}: {gname}/{name} has shape {ds.shape}, expected "
                                 f"{tuple(expect)}: {', '.join(axes)}")
            comps = [""] if order == 0 else [f"_{a}" for a in spatial] if order == 1 \
                else [f"_{a}{b}" for a in spatial for b in spatial]
            sources.append(ArraySource(
                f"{gname}/{name}", len(comps), grid_shape, has_sample=has_n, has_time=has_t,
                channel_axis=None if order == 0 else "trailing", n_components=order,
                spatial_present=present))
            channels += [name + c for c in comps]
    if not sources:
        raise ValueError(f"{where}: The Well file without fields in {list(FIELD_GROUPS)}")
    if n is None:
        raise ValueError(f"{where}: cannot tell the number of trajectories (no n_trajectories "
                         "attribute and no sample-varying field)")
    if n > 1 and not any(s.has_sample for s in sources):
        raise ValueError(f"{where}: attribute 'n_trajectories' declares {n} trajectories but no "
                         "field has a trajectory axis (all are sample_varying false): the file "
                         f"holds the data of one trajectory, not of {n}")

    params, time_varying, unread = _scalars(f, n, where)
    attrs = decode_attrs(f.attrs)
    attrs["time_varying_scalars"] = time_varying
    attrs["unread_scalars"] = unread
    if isinstance(f.get("boundary_conditions"), h5py.Group):
        attrs["boundary_conditions"] = {
            k: decode(g.attrs.get("bc_type", "unknown"))
            for k, g in f["boundary_conditions"].items() if isinstance(g, h5py.Group)}
    return Layout(
        format="the_well",
        shape=(n, t, len(channels), *grid_shape),
        sources=sources,
        times=times,
        grid=tuple(grid),
        grid_names=tuple(spatial),
        channel_names=tuple(channels),
        params=params,
        pde=str(attrs.get("dataset_name", path.stem)),
        attrs=attrs,
    )


def _scalars(f: h5py.File, n: int, where: str
             ) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """``(params, time_varying, unread)``: the parameters (``scalars/`` datasets of one value or
    of one per trajectory, then the root ``simulation_parameters`` attributes for names still
    missing), the names of the time-varying ``scalars/`` datasets, and the names of the others
    not read because of their size (kept apart: they are constant in time)."""
    params, time_varying, unread = {}, [], []
    if "scalars" in f:
        group = require_group(f, "scalars", where, "the simulation's scalar parameters")
        for name, ds in group.items():
            if not isinstance(ds, h5py.Dataset):
                continue
            require_array(group, name, where)  # a string "scalar" is refused, naming it
            if _flag(ds, "time_varying", default=False):
                time_varying.append(name)
                continue
            # sizes are checked before reading: a constant stays one value (FieldData
            # broadcasts it to the N trajectories without a copy)
            if ds.size == 1:
                params[name] = np.float64(np.asarray(ds[()]).reshape(-1)[0])
            elif ds.size == n and _flag(ds, "sample_varying", default=False):
                params[name] = np.asarray(ds[()], np.float64).reshape(-1)
            else:
                unread.append(name)
    if "simulation_parameters" in f.attrs:
        for name in _names(f.attrs["simulation_parameters"]):
            v = decode(f.attrs.get(name))
            if name not in params and isinstance(v, (int, float)) and not isinstance(v, bool):
                params[name] = np.float64(v)
    return params, time_varying, unread
