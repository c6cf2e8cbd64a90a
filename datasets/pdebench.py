"""PDEBench HDF5 files (Takamoto et al., 2022) as :class:`~.reader.Layout`.

Two layouts are read:

* **single file**: ``tensor`` ``(N, T, X)``, ``(N, T, X, Y)``, ``(N, T, X, Y, Z)`` or with a
  trailing channel axis ``(N, T, *grid, C)``; or the compressible-flow fields ``density``,
  ``pressure`` and one velocity ``Vx`` [, ``Vy``, ``Vz``] per spatial axis, each ``(N, T, *grid)``
  (one channel each, in that order; a missing or extra one is refused, naming it); plus
  ``x-coordinate`` [, ``y-coordinate``, ``z-coordinate``] and ``t-coordinate``. PDEBench's
  ``t-coordinate`` often has ``T + 1`` entries; the first ``T`` are the saved times. Darcy flow
  (``nu`` ``(N, X, Y)`` and ``tensor`` ``(N, 1, X, Y)``) becomes channels ``("nu", "u")``
  with ``T = 1`` (its ``t-coordinate``, 10 entries in PDEBench's files, does not describe the
  steady solution: only its first entry is kept).
* **grouped**: one group per seed (``"0000"``, ``"0001"``, ...) with ``data`` ``(T, *grid[, C])``
  and ``grid/x`` [, ``grid/y``] and ``grid/t`` (diffusion-reaction, shallow water,
  diffusion-sorption).

Spatial axes keep the file's order and are named ``("x",)``, ``("x", "y")``, ``("x", "y", "z")``,
as PDEBench's own loaders (``FNODatasetSingle``, ``FNODatasetMult``) pair them with
``x-coordinate`` / ``grid/x`` first. (Its 2-D diffusion-reaction generator, sim_diff_react.py,
reshapes to ``(t, y, x)``; on that file's square grid with equal ``grid/x`` and ``grid/y`` the
swap cannot be seen, and it is kept as the loaders have it.)
Parameters come from numeric file attributes and from the PDE parameters PDEBench writes into
its file names (:data:`NAME_PARAMS`: ``Nu``, ``Beta``/``beta``, ``Rho``, ``Eta``, ``Zeta``,
``M`` (Mach number), ``Re`` (Reynolds number), e.g. ``1D_Burgers_Sols_Nu0.01.hdf5`` ->
``nu = 0.01``), lower-cased, constant over samples; a file attribute wins over the file name.
The values keep PDEBench's meaning: Burgers' ``Nu`` is the ``ν`` of ``u_t + u u_x = (ν/π)
u_xx`` (pdebench/models/pinn/pde_definitions.py), so its viscosity is ``nu / π``, not the ``nu``
of :mod:`~pdesurrogate.solvers.burgers`. Other ``<letters><digits>`` tokens
(``_v2``, ``_seed42``, ``_dk10``) are not parameters. The test files' ``M01``, ``M05`` (a
leading zero, no point) are Mach 0.1 and 0.5.

Not supported (ValueError naming the file, the key and what was found): the incompressible
Navier–Stokes files (``velocity``/``particles``/``force``); data or coordinates that are not
numeric arrays (a group, strings) or lack the sample, time or space axes; coordinates whose
lengths disagree with the data (a space coordinate needs one entry per point, or one more:
cell edges; ``t-coordinate`` ``T`` or ``T + 1`` entries, so a file whose data were subsampled in
time without its ``t-coordinate`` is refused rather than given the wrong times).
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np

from .lazy import ArraySource, GroupedSource, decode_attrs
from .progress import progress_bar
from .reader import Layout, key_name, require_array

AXES = ("x", "y", "z")
CFD_FIELDS = ("density", "pressure", "Vx", "Vy", "Vz")
# checking a grouped file's groups shows progress from this many groups on (about 230 us a
# group: 2.3 s at 10,000, 11 s at 50,000)
GROUPS_PROGRESS = 10_000
# groups checked between two progress updates
_GROUPS_PER_UPDATE = 256
# the PDE parameters in PDEBench's file names (pdebench/data_download/pdebench_data_urls.csv):
# 1D_Advection_Sols_beta0.1, 1D_Burgers_Sols_Nu0.001, ReacDiff_Nu0.5_Rho1.0,
# 1D_CFD_Rand_Eta1.e-8_Zeta1.e-8_..., 2D_CFD_Rand_M0.1_Eta0.01_..., 2D_DarcyFlow_beta1.0_Train,
# KH_M01_dk10_Re1e3, Turb_M05 (lower-case name -> parameter key)
NAME_PARAMS = ("nu", "beta", "rho", "eta", "zeta", "m", "re")
_PARAM_TOKEN = re.compile(r"^([A-Za-z]+)(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)$")


def _name_param(token: str) -> tuple[str, float] | None:
    """``(name, value)`` if a file-name token is one of PDEBench's parameters (``Nu0.01`` ->
    ``("nu", 0.01)``), else None."""
    m = _PARAM_TOKEN.match(token)
    if not m or m.group(1).lower() not in NAME_PARAMS:
        return None
    digits = m.group(2)
    if len(digits) > 1 and digits.isdigit() and digits.startswith("0"):
        digits = f"0.{digits[1:]}"  # KH_M01, Turb_M05: Mach 0.1, 0.5
    return m.group(1).lower(), float(digits)


def params_from_name(path: Path) -> dict[str, float]:
    """PDEBench's PDE parameters in the file stem, e.g. ``..._Nu0.01_Rho1.0`` ->
    ``{"nu": 0.01, "rho": 1.0}``; only the names in :data:`NAME_PARAMS` count (any case)."""
    return dict(p for p in map(_name_param, path.stem.split("_")) if p is not None)


_SPLIT_TOKENS = ("train", "valid", "val", "test")


def pde_from_name(path: Path) -> str:
    """The PDE a PDEBench file holds: its stem without the parameter tokens of
    :func:`params_from_name` and a split suffix (``_Train``, ``_Valid``, ``_Test``), e.g.
    ``1D_Burgers_Sols_Nu0.01`` -> ``1D_Burgers_Sols``, so files of one PDE at other parameter
    values (a model trained at one viscosity, rolled out at another) name the same PDE."""
    kept = [t for t in path.stem.split("_")
            if _name_param(t) is None and t.lower() not in _SPLIT_TOKENS]
    return "_".join(kept) or path.stem


def _grouped_keys(f: h5py.File, keys: list[str]) -> list[str]:
    """``keys`` (``f``'s top-level keys, sorted) if they are the groups of a per-seed grouped
    file, else ``[]``."""
    if keys and all(k.isdigit() for k in keys) and isinstance(f[keys[0]], h5py.Group) \
            and "data" in f[keys[0]]:
        return keys
    return []


def is_pdebench(f: h5py.File, keys: list[str]) -> bool:
    """Whether ``f``, whose top-level keys are ``keys`` (sorted), is a PDEBench file."""
    names = set(keys)
    return ("tensor" in names or "x-coordinate" in names or bool(names & set(CFD_FIELDS))
            or "velocity" in names or bool(_grouped_keys(f, keys)))


def pdebench_layout(f: h5py.File, path: Path, progress: bool = False, *,
                    keys: list[str]) -> Layout:
    """The layout of PDEBench file ``f`` at ``path``, whose top-level keys are ``keys``
    (sorted, as :func:`~.reader.open_dataset` listed them once); with ``progress``, checking
    the groups of a grouped file of at least :data:`GROUPS_PROGRESS` shows its progress on
    stderr."""
    groups = _grouped_keys(f, keys)
    if groups:
        return _grouped_layout(f, path, groups, progress)
    return _single_layout(f, path, keys)


def _params(f: h5py.File, path: Path) -> dict[str, np.ndarray]:
    params = params_from_name(path)
    for k, v in decode_attrs(f.attrs).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            params[k.lower()] = float(v)
    # one value each: FieldData broadcasts it to the N trajectories without a copy
    return {k: np.float64(v) for k, v in params.items()}


def _coords(f, names: list[str], sizes: tuple[int, ...], where: str) -> tuple[np.ndarray, ...]:
    """One coordinate array per spatial axis: ``f[name]`` (``size`` entries, or ``size + 1``
    cell edges whose midpoints are taken), or ``0 .. size - 1`` when the file has none."""
    out = []
    for name, size in zip(names, sizes, strict=True):
        if name not in f:
            out.append(np.arange(size, dtype=np.float64))
            continue
        ds = require_array(f, name, where)
        if ds.size not in (size, size + 1):  # checked before reading: the size is declared
            raise ValueError(f"{where}: coordinate {key_name(f, name)!r} has {ds.size} entries "
                             f"but the data have {size} points along that axis")
        c = np.asarray(ds[()], np.float64).reshape(-1)
        if c.size == size + 1:  # cell edges: use the centres
            c = 0.5 * (c[1:] + c[:-1])
        out.append(c)
    return tuple(out)


def _times_note(f, key: str) -> str | None:
    """What :func:`_times` gave instead of the file's times, for messages: None when ``f``
    holds ``key``."""
    if key in f:
        return None
    return (f"frame indices 0, 1, 2, ..: the file has no {key_name(f, key)!r} dataset of "
            "saved times")


def _times(f, key: str, n_times: int, where: str, steady: bool = False) -> np.ndarray:
    """``(T,)`` saved times from ``f[key]``: ``T`` entries, or ``T + 1`` of which the first
    ``T`` are kept (PDEBench stores the final time too); ``0 .. T - 1`` when there is none
    (:func:`_times_note` says so).

    ``steady``: the data are one steady solution (Darcy) and only the first entry is kept.
    Raises ValueError naming the file, the key and both lengths for any other length.
    """
    if key not in f:
        return np.arange(n_times, dtype=np.float64)
    ds = require_array(f, key, where)
    # per-sample time arrays: PDEBench uses one grid for all, so only the first row is read
    t = np.asarray(ds[(0,) * (ds.ndim - 1)] if ds.ndim > 1 and ds.size else ds[()],
                   np.float64).reshape(-1)
    if steady:
        return t[:1] if t.size else np.zeros(1)
    if t.size not in (n_times, n_times + 1):
        raise ValueError(f"{where}: {key_name(f, key)!r} has {t.size} entries but the data "
                         f"have {n_times} time steps (expected {n_times}, or {n_times + 1} with "
                         "the final time); were the data subsampled in time without it?")
    return t[:n_times]


_DATA_HINT = "(N, T, *grid) or (N, T, *grid, C) with 1 to 3 spatial axes"


def _single_layout(f: h5py.File, path: Path, names: list[str]) -> Layout:
    where = repr(str(path))
    keys = set(names)
    if "velocity" in keys and "tensor" not in keys:
        raise ValueError(f"{where}: PDEBench incompressible Navier–Stokes files ('velocity', "
                         f"'particles', 'force') are not supported; found keys {sorted(keys)}")
    ndim = sum(f"{a}-coordinate" in keys for a in AXES)
    coord_names = [f"{a}-coordinate" for a in AXES[:ndim]]
    steady = False
    if "tensor" in keys:
        ten = require_array(f, "tensor", where, ndims=(3, 4, 5, 6), shape_hint=_DATA_HINT)
        if ndim == 0:  # no coordinates: every axis after (N, T) is a spatial one
            ndim = ten.ndim - 2
            if ndim > len(AXES):
                raise ValueError(f"{where}: 'tensor' of shape {ten.shape} without coordinates: "
                                 f"expected (N, T, *grid) with 1 to 3 spatial axes")
            coord_names = [f"{a}-coordinate" for a in AXES[:ndim]]
        n, t = ten.shape[:2]
        grid_shape = ten.shape[2:2 + ndim]
        if ten.ndim == 2 + ndim:
            sources = [ArraySource("tensor", 1, grid_shape)]
            channels = ["u"]
        elif ten.ndim == 3 + ndim:
            c = ten.shape[-1]
            sources = [ArraySource("tensor", c, grid_shape, channel_axis="trailing",
                                   n_components=1)]
            channels = [f"u{i}" for i in range(c)] if c > 1 else ["u"]
        else:
            raise ValueError(f"{where}: 'tensor' of shape {ten.shape} does not fit {ndim} "
                             "coordinate axes: expected (N, T, *grid) or (N, T, *grid, C)")
        nu = f.get("nu")
        if nu is not None:
            # Darcy: coefficient + steady solution. Read without it, a file whose 'nu' does
            # not fit would train a model that never sees the coefficient it maps from
            nu = require_array(f, "nu", where)
            if nu.shape != (n, *grid_shape) or t != 1:
                raise ValueError(f"{where}: 'nu' of shape {nu.shape} beside 'tensor' of shape "
                                 f"{ten.shape}: a PDEBench Darcy file holds the coefficient "
                                 f"'nu' (N, *grid) = {(n, *grid_shape)} beside one steady "
                                 f"solution per sample, 'tensor' (N, 1, *grid)")
            sources.insert(0, ArraySource("nu", 1, grid_shape, has_time=False))
            channels.insert(0, "nu")
            steady = True
    else:
        fields = [k for k in CFD_FIELDS if k in keys]
        if not fields:
            raise ValueError(f"{where}: PDEBench file without 'tensor' or CFD fields "
                             f"{list(CFD_FIELDS)}; found keys {sorted(keys)}")
        shape = require_array(f, fields[0], where, ndims=(3, 4, 5), shape_hint=_DATA_HINT).shape
        if ndim == 0:
            ndim = len(shape) - 2
            coord_names = [f"{a}-coordinate" for a in AXES[:ndim]]
        for k in fields:
            if require_array(f, k, where).shape != shape or len(shape) != 2 + ndim:
                raise ValueError(f"{where}: CFD field {k!r} has shape {f[k].shape}; expected "
                                 f"{shape} with {ndim} spatial axes like {fields[0]!r}")
        # one velocity component per spatial axis: a 2-D file without Vy is not a 2-D flow
        expected = ["density", "pressure", *(f"V{a}" for a in AXES[:ndim])]
        if fields != expected:
            missing = [k for k in expected if k not in fields]
            extra = [k for k in fields if k not in expected]
            parts = [f"{missing} missing"] * bool(missing) + [f"{extra} extra"] * bool(extra)
            raise ValueError(f"{where}: a PDEBench CFD file with {ndim} spatial axes holds "
                             f"{expected}: {'; '.join(parts)} (found keys {sorted(keys)})")
        n, t = shape[:2]
        grid_shape = shape[2:]
        sources = [ArraySource(k, 1, grid_shape) for k in fields]
        channels = fields
    grid = _coords(f, coord_names, grid_shape, where)
    return Layout(
        format="pdebench",
        shape=(n, t, len(channels), *grid_shape),
        sources=sources,
        times=_times(f, "t-coordinate", t, where, steady=steady),
        times_note=None if steady else _times_note(f, "t-coordinate"),
        grid=grid,
        grid_names=AXES[:ndim],
        channel_names=tuple(channels),
        params=_params(f, path),
        pde=pde_from_name(path),
        attrs=decode_attrs(f.attrs),
    )


def _grouped_layout(f: h5py.File, path: Path, groups: list[str],
                    progress: bool = False) -> Layout:
    where = repr(str(path))
    g0 = f[groups[0]]
    gridg = g0.get("grid")
    ndim = sum(a in gridg for a in AXES) if isinstance(gridg, h5py.Group) else 0
    data_shape = require_array(g0, "data", where, ndims=(2, 3, 4, 5),
                               shape_hint="(T, *grid) or (T, *grid, C)").shape
    if ndim == 0:
        raise ValueError(f"{where}: group {groups[0]!r} has no grid/x coordinate; "
                         f"found {sorted(g0.keys())}")
    if len(data_shape) == 1 + ndim:
        trailing, c = False, 1
    elif len(data_shape) == 2 + ndim:
        trailing, c = True, data_shape[-1]
    else:
        raise ValueError(f"{where}: {groups[0]}/data has shape {data_shape}; expected "
                         f"(T, *grid) or (T, *grid, C) with {ndim} spatial axes")
    on = progress and len(groups) >= GROUPS_PROGRESS
    with progress_bar(on, f"checking the groups of {path.name}", len(groups),
                      "groups") as advance:
        reported = 0
        for k, g in enumerate(groups[1:], start=2):  # k: the groups checked with this one
            obj = f[g]  # looked up once: each lookup costs ~60 us
            if not isinstance(obj, h5py.Group) or "data" not in obj \
                    or require_array(obj, "data", where).shape != data_shape:
                raise ValueError(f"{where}: group {g!r} has no 'data' of shape {data_shape} "
                                 f"like group {groups[0]!r}")
            if k - reported >= _GROUPS_PER_UPDATE:
                advance(k - reported)
                reported = k
        advance(len(groups) - reported)
    grid_shape = data_shape[1:1 + ndim]
    grid = _coords(gridg, list(AXES[:ndim]), grid_shape, where)
    channels = tuple(f"u{i}" for i in range(c)) if c > 1 else ("u",)
    n = len(groups)
    return Layout(
        format="pdebench",
        shape=(n, data_shape[0], c, *grid_shape),
        sources=[GroupedSource(groups, c, grid_shape, trailing_channel=trailing)],
        times=_times(gridg, "t", data_shape[0], where),
        times_note=_times_note(gridg, "t"),
        grid=grid,
        grid_names=AXES[:ndim],
        channel_names=channels,
        params=_params(f, path),
        pde=pde_from_name(path),
        attrs={**decode_attrs(f.attrs), "groups": [groups[0], groups[-1]]},
        sim_id=np.array([int(g) for g in groups], np.int64),
    )
