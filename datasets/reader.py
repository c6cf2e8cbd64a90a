"""``open_dataset``: one lazily indexed view over our files, PDEBench files and The Well files.

>>> with open_dataset("burgers.nc") as data:          # doctest: +SKIP
...     frame = data.u[3, 10]                          # (C, *grid) numpy, read from disk
...     print(data.format, data.u.shape, data.params["nu"][3])

The view never loads the whole file: ``data.u[i, j]`` reads the requested trajectories/times
with h5py. Each process opens its own file handle on first use (the handle is dropped when the
view is pickled or when it notices it runs in a forked child), so a :class:`FieldData` can be
handed to DataLoader workers with either start method.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .lazy import ArraySource, LazyArray, decode, decode_attrs
from .ourformat import PARAM_KIND

# HDF5 chunk cache per open file: a chunk holds a whole trajectory (up to a few MiB), so
# consecutive reads within a trajectory should hit the cache
CHUNK_CACHE_BYTES = 64 * 2**20


@dataclass
class Layout:
    """What a format adapter found in a file: metadata plus the sources of ``u``."""

    format: str
    shape: tuple[int, ...]
    sources: list
    times: np.ndarray
    grid: tuple[np.ndarray, ...]
    grid_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    params: dict[str, np.ndarray]
    pde: str
    attrs: dict = field(default_factory=dict)
    sim_id: np.ndarray | None = None


class FieldData:
    """A dataset file as ``N`` trajectories of ``T`` frames ``(C, *grid)``.

    Attributes:
        u: lazy ``(N, T, C, *grid)`` float32 array; ``u[i]``, ``u[i, j]``, ``u[a:b, ::2]``, ...
            return numpy arrays.
        times: ``(T,)`` saved times.
        grid: one 1-D coordinate array per spatial axis, in the order of ``u``'s spatial axes.
        grid_names: their names (ours: ``("y", "x")`` in 2-D; PDEBench/The Well: ``("x", "y")``).
        channel_names: ``C`` channel names.
        params: ``{name: (N,)}`` per-trajectory parameters (constants broadcast to ``(N,)``).
        sim_id: ``(N,)`` trajectory ids (ours: as written; others: ``0..N-1``).
        pde, attrs, format (``"pdesurrogate" | "pdebench" | "the_well"``), path.
    """

    def __init__(self, path: str | os.PathLike, layout: Layout):
        self.path = Path(path)
        self.format = layout.format
        self.times = np.asarray(layout.times, dtype=np.float64)
        self.grid = tuple(np.asarray(g, dtype=np.float64) for g in layout.grid)
        self.grid_names = tuple(layout.grid_names)
        self.channel_names = tuple(layout.channel_names)
        n = layout.shape[0]
        self.params = {k: np.broadcast_to(np.asarray(v, np.float64), (n,)).copy()
                       for k, v in layout.params.items()}
        self.sim_id = (np.arange(n, dtype=np.int64) if layout.sim_id is None
                       else np.asarray(layout.sim_id, np.int64))
        self.pde = layout.pde
        self.attrs = dict(layout.attrs)
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._datasets: dict[str, h5py.Dataset] = {}
        self.u = LazyArray(self._dataset, layout.sources, layout.shape, where=str(self.path))

    # -- file handle, one per process ----------------------------------------------------------
    def _dataset(self, name: str) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            # a handle inherited through fork is not used (HDF5 state is not fork-safe); the
            # child opens its own
            self._file = _open_h5(self.path)
            self._pid = os.getpid()
            self._datasets = {}
        ds = self._datasets.get(name)
        if ds is None:  # h5py's name lookup costs more than a small read: keep the objects
            ds = self._datasets[name] = self._file[name]
        return ds

    def close(self) -> None:
        """Close this process's file handle (the view reopens it if indexed again)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._datasets = None, {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"], state["_pid"], state["_datasets"] = None, None, {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.u._get = self._dataset  # rebind to this copy's handle

    def __enter__(self) -> FieldData:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- conveniences --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.u.shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.u.shape

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.params)

    def __repr__(self) -> str:
        return (f"FieldData({str(self.path)!r}, format={self.format!r}, pde={self.pde!r}, "
                f"shape={self.u.shape}, channels={list(self.channel_names)}, "
                f"params={list(self.params)})")


def _open_h5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
    except OSError as e:
        # h5py's message names neither the file nor what to do about it
        raise type(e)(_unreadable(path, e)) from None


def _unreadable(path: Path, error: OSError) -> str:
    """What went wrong opening ``path``, for an error message that names the file."""
    reason = str(error)
    m = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", reason)
    if m:
        return (f"dataset file {str(path)!r} is truncated: {m.group(1)} bytes on disk, its "
                f"HDF5 header says {m.group(2)} (an interrupted copy, download or write); copy "
                "or generate it again")
    return f"dataset file {str(path)!r} cannot be opened as HDF5/netCDF4: {reason}"


def open_dataset(path: str | os.PathLike) -> FieldData:
    """Open a dataset file of any supported format as a lazy :class:`FieldData`.

    Supported: our netCDF files (:mod:`.ourformat`), PDEBench single-file (``tensor`` or CFD
    fields) and per-seed grouped files (:mod:`.pdebench`), The Well HDF5 files
    (:mod:`.the_well`).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        OSError: HDF5 cannot open it (e.g. a truncated file); the message names the file.
        ValueError: not an HDF5/netCDF4 file, or an HDF5 layout none of the readers knows (the
            message lists the top-level keys found).
    """
    from .pdebench import is_pdebench, pdebench_layout
    from .the_well import is_the_well, the_well_layout

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"dataset file {str(p)!r} does not exist")
    if p.is_dir():
        raise ValueError(f"{str(p)!r} is a folder; open_dataset reads one file (for The Well, "
                         "open one of its .hdf5 files)")
    if not h5py.is_hdf5(p):
        raise ValueError(f"{str(p)!r} is not an HDF5/netCDF4 file (netCDF3 and other formats "
                         "are not supported)")
    with _open_h5(p) as f:
        keys = sorted(f.keys())
        if is_ours(f):
            layout = our_layout(f)
        elif is_the_well(f):
            layout = the_well_layout(f, p)
        elif is_pdebench(f):
            layout = pdebench_layout(f, p)
        else:
            shown = keys[:20] + (["..."] if len(keys) > 20 else [])
            raise ValueError(
                f"{str(p)!r}: unknown HDF5 layout (top-level keys {shown}, attrs "
                f"{sorted(f.attrs.keys())[:20]}); expected a pdesurrogate file (variable 'u' and "
                "attr 'pdesurrogate_format'), PDEBench ('tensor', CFD fields or per-seed groups "
                "with 'data') or The Well ('t0_fields'/'t1_fields' and 'dimensions')")
    return FieldData(p, layout)


# -- our format ---------------------------------------------------------------------------------
def is_ours(f: h5py.File) -> bool:
    return "u" in f and "time" in f and ("pdesurrogate_format" in f.attrs or "pde" in f.attrs)


def our_layout(f: h5py.File) -> Layout:
    u = f["u"]
    dims = _netcdf_dims(u)
    if u.ndim < 4 or dims[:3] not in ((), ("sample", "time", "channel")):
        raise ValueError(f"{f.filename!r}: variable 'u' must have dimensions (sample, time, "
                         f"channel, *space), got {dims or u.shape}")
    grid_names = dims[3:] if dims else ("z", "y", "x")[3 - (u.ndim - 3):]
    grid = tuple(f[name][()] if name in f else np.arange(u.shape[3 + i], dtype=np.float64)
                 for i, name in enumerate(grid_names))
    channels = tuple(decode(c) for c in f["channel"][()]) if "channel" in f \
        else tuple(f"u{i}" for i in range(u.shape[2]))
    params = {name: f[name][()] for name in f if isinstance(f[name], h5py.Dataset)
              and decode(f[name].attrs.get("kind")) == PARAM_KIND}
    attrs = decode_attrs(f.attrs)
    return Layout(
        format="pdesurrogate",
        shape=u.shape,
        sources=[ArraySource("u", u.shape[2], u.shape[3:], channel_axis="after_time")],
        times=f["time"][()],
        grid=grid,
        grid_names=tuple(grid_names),
        channel_names=channels,
        params=params,
        pde=str(attrs.get("pde", "unknown")),
        attrs=attrs,
        sim_id=f["sim_id"][()] if "sim_id" in f else None,
    )


def _netcdf_dims(ds: h5py.Dataset) -> tuple[str, ...]:
    """Dimension names of a netCDF4 variable (from its HDF5 dimension scales), or ()."""
    names = []
    for dim in ds.dims:
        if len(dim) == 0:
            return ()
        names.append(dim[0].name.rsplit("/", 1)[-1])
    return tuple(names)
