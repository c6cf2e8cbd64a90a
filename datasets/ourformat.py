"""The pdesurrogate dataset file: netCDF4 (HDF5) written with h5netcdf, readable by xarray.

Schema (``T`` saved times, ``C`` channels, spatial axes in the state's order, e.g. ``(y, x)``)::

    dimensions: sample = N, time = T, channel = C, [z,] [y,] x
    u(sample, time, channel, [z,] [y,] x)   float32, chunked by a few frames (below)
    time(time)                               float64, attrs units, long_name (axis "T" only
                                             with CF time units "<unit> since <date>")
    x(x), y(y), ...                          float64, attr units (coordinate variables)
    channel(channel)                         variable-length strings (channel names), long_name
    <param>(sample)                          float64, attrs kind = "parameter", long_name,
                                             units (when known), one per parameter
    sim_id(sample)                           int64, global sample index
    seed(sample)                             int64, seed the sample was drawn with (-1: unknown)
    global attrs: pde, solver_settings (JSON), seed, pdesurrogate_version,
                  pdesurrogate_format, Conventions = "CF-1.8", title, source, history,
                  + extra attrs

CF's ``source`` says what made the data (``"pdesurrogate <version>, solver <pde>"`` unless the
caller says otherwise: a rollout names its surrogate) and ``history`` one line per program
that made or changed the file, newest first: ``"<UTC time> <command line>"``, the command
line of the process that wrote it (``pdesurrogate generate --config ...``, or the script
that called the writer), followed by the lines of the file it was made from, if any
(``history_of``), as NCO and CDO do.

Chunks hold a few frames, not a trajectory: ``u`` is chunked ``(1, Tc, C, *grid)``
(:func:`chunk_shape`), with ``Tc`` the number of frames that fills about
:data:`TARGET_CHUNK_BYTES` (at least 1, at most ``T``). HDF5 reads whole chunks, and training
reads a pair or a short window of frames of a random trajectory: with whole-trajectory chunks
each such item read the whole trajectory, ``T / 2`` times the bytes it used, once the file no
longer fits in the page cache. A frame larger than :data:`MAX_CHUNK_BYTES` (e.g. 1024x1024 with
two channels) is one chunk per block of its first grid axis (then the next, if one slab is still
too large), so no chunk exceeds that size; HDF5's own limit is 4 GiB. Files written with other
chunks (older files had one trajectory per chunk) read the same: the reader does not depend on
the chunk shape.

:class:`DatasetWriter` streams batches into a temporary file in the same folder and renames it
to ``path`` only when every sample was written and the writer closed without an exception; on
failure the temporary file is deleted, so a file under the final name is always complete. With
``overwrite=False`` an existing ``path`` is refused when the writer opens and when it renames
(atomically where the file system has hard links); a file that appeared there meanwhile is left
alone and the finished file is kept as ``<path>.tmp-<pid>``, its name in the error.

The temporary name is ``.<name>.<host>.<pid>.<16 random hex digits>.tmp``, the scheme of
:mod:`.temp_files` shared by every writer, created exclusively (``O_CREAT | O_EXCL |
O_NOFOLLOW``), so a file or symbolic link planted in the folder is never followed or truncated,
and the name cannot be guessed. HDF5 writes it through a :class:`~.guarded_file.GuardedFile`:
a write that fails (a full disk or quota, ``ENOSPC``; a file size limit, ``EFBIG``) stops the
writer at the end of that block with ``OSError`` naming ``path`` (``[Errno 28] No space left
on device: 'data/burgers.nc'``), and the temporary file is deleted.

A writer killed with SIGKILL leaves its temporary file; the next writer of the same ``path``
on the same host removes those whose process no longer runs, with a warning.

Compression is off by default: Navier-Stokes vorticity, smooth but never repeating, compresses
only 1.1 to 1.3 times, and every read of a compressed chunk pays its decompression.
``compression="gzip"`` (``compression_level`` 0 to 9, default 4) or ``"lzf"`` (faster, weaker)
compresses ``u`` (the small coordinate and parameter variables stay as they are) through h5py's
filters, with the byte-shuffle filter before it, which groups the float32 values' exponent
bytes (128x128 Navier-Stokes, gzip 4: 1.09 times without it, 1.30 with it). The values read
back are the same, bit for bit. gzip is part of netCDF4 (ncdump, netCDF-C and xarray's netcdf4
engine read it); lzf is an h5py filter, which netCDF-C reads only with the HDF5 LZF plugin
installed (h5py, h5netcdf, xarray's h5netcdf engine and :func:`~.reader.open_dataset` read it).

CF: the solvers are nondimensional, so the files :func:`~.generate.generate_dataset` writes
have ``units = "1"`` on time, space and parameters. CF reads a coordinate with ``axis = "T"`` as
a time coordinate, whose units must be ``"<unit> since <date>"``; a nondimensional time
therefore gets no ``axis`` attribute, only its ``long_name``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5netcdf
import h5py
import numpy as np

from .guarded_file import GuardedFile
from .storable_text import storable_text
from .temp_files import clean_leftovers, named_error, open_temp_file, temp_name

FORMAT_VERSION = 1
PARAM_KIND = "parameter"
# a chunk of about this size costs one read no longer than a seek on disks and SSDs alike,
# and keeps HDF5's chunk index small (a few chunks per trajectory)
TARGET_CHUNK_BYTES = 128 * 2**10
MAX_CHUNK_BYTES = 4 * 2**20
RESERVED_NAMES = ("u", "time", "channel", "sample", "sim_id", "seed", "x", "y", "z")
COMPRESSIONS = ("gzip", "lzf")
GZIP_LEVELS = range(10)  # zlib's: 0 stores, 9 compresses hardest
DEFAULT_GZIP_LEVEL = 4  # h5py's and netCDF's default: most of level 9's ratio at half its time


def check_compression(compression: str | None, level: int | None = None
                      ) -> tuple[str | None, int | None]:
    """``(compression, level)`` as the writer uses them: ``(None, None)`` (uncompressed),
    ``("gzip", 0..9)`` (``level`` default :data:`DEFAULT_GZIP_LEVEL`) or ``("lzf", None)``.

    Raises ValueError for another compression, or a level that is not an int in 0..9 or is
    given without gzip."""
    if compression is not None and compression not in COMPRESSIONS:
        raise ValueError(f"compression must be None (uncompressed), 'gzip' or 'lzf', got "
                         f"{compression!r}")
    if level is None:
        return compression, DEFAULT_GZIP_LEVEL if compression == "gzip" else None
    if compression != "gzip":
        raise ValueError(f"compression_level {level!r} goes with compression='gzip' only, got "
                         f"compression={compression!r}")
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) \
            or level not in GZIP_LEVELS:
        raise ValueError(f"compression_level must be an int from 0 to 9 (gzip), got {level!r}")
    return compression, int(level)


def package_version() -> str:
    """The installed ``pdesurrogate`` version, or ``"unknown"``."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("pdesurrogate")
    except PackageNotFoundError:
        return "unknown"


def command_line() -> str:
    """This process's command line as a shell would take it, the program by its file name
    (``pdesurrogate generate --out a.nc``; ``python -m pdesurrogate ...`` for a package run with
    ``-m``); ``"python"`` where there is no ``sys.argv``."""
    argv = [str(a) for a in getattr(sys, "argv", None) or []]
    if not argv:
        return "python"
    prog = Path(argv[0])
    program = f"python -m {prog.parent.name}" if prog.name == "__main__.py" \
        else prog.name or "python"
    return " ".join([program, *(shlex.quote(a) for a in argv[1:])])


def default_grid_names(ndim: int) -> tuple[str, ...]:
    """Names of the spatial axes in state order: ``(x,)``, ``(y, x)``, ``(z, y, x)``."""
    if not 1 <= ndim <= 3:
        raise ValueError(f"spatial dimension must be 1, 2 or 3, got {ndim}")
    return ("z", "y", "x")[3 - ndim:]


def chunk_shape(n_times: int, n_channels: int, shape: Sequence[int], itemsize: int = 4
                ) -> tuple[int, ...]:
    """The chunk of ``u`` ``(N, T, C, *shape)``: ``(1, Tc, C, *block)``.

    Up to ``TARGET_CHUNK_BYTES // frame`` frames (at least 1), ``frame = C * prod(shape) *
    itemsize`` bytes, as equal as they can be: ``Tc = ceil(T / ceil(T / max))``. An
    uncompressed file stores its last, partial chunk at full size, so chunks of equal length
    keep the file within a few per cent of its data (33 times in chunks of 32 would store 64).
    ``block`` is ``shape`` unless one frame exceeds :data:`MAX_CHUNK_BYTES`; then the first grid
    axis is cut into blocks, as equal as they can be, that keep the chunk within it (and, when
    a single slab of that axis is still larger, the next axis as well). The channel axis is
    never cut: a chunk holds at least one grid point of every channel.
    """
    def equal(n: int, most: int) -> int:
        return -(-n // -(-n // max(1, most)))  # ceil(n / ceil(n / most))

    frame = n_channels * math.prod(shape) * itemsize
    tc = equal(n_times, min(n_times, TARGET_CHUNK_BYTES // max(frame, 1)))
    block = [int(n) for n in shape]
    size = frame
    for axis in range(len(block)):
        if size <= MAX_CHUNK_BYTES:
            break
        slab = size // block[axis]  # bytes of one index along this axis
        block[axis] = equal(block[axis], min(block[axis], MAX_CHUNK_BYTES // slab))
        size = slab * block[axis]
    return (1, tc, n_channels, *block)


def _as_1d(name: str, values, dtype=np.float64) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _grid_axes(grid) -> Sequence:
    """``grid`` as given, once it is a sequence of coordinate arrays; a single array of numbers
    (``grid=x`` for ``grid=[x]``) is refused with the fix, as it would read as many 0-D axes."""
    if isinstance(grid, (str, bytes)) or not hasattr(grid, "__len__"):
        raise ValueError(f"grid must be a list of 1-D coordinate arrays, one per spatial axis "
                         f"([x], [y, x]), got {type(grid).__name__}")
    flat = np.ndim(grid) == 1 if hasattr(grid, "ndim") else len(grid) > 0 and all(
        isinstance(g, (int, float, np.number)) for g in grid)
    if flat:
        raise ValueError(f"grid must be a list of 1-D coordinate arrays, one per spatial axis; "
                         f"got one array of {len(grid)} numbers: for a 1-D grid pass grid=[x]")
    return grid


def _attr_value(key: str, value):
    """A netCDF-storable attribute value: str (:func:`storable_text`), number, or 1-D numeric
    array; dicts become JSON."""
    if isinstance(value, (dict, list, tuple)) and not (
        isinstance(value, (list, tuple)) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return np.asarray(value)
    raise TypeError(f"attribute {key!r}: cannot store a {type(value).__name__} in a netCDF file "
                    "(use str, a number, a list of numbers, or a JSON-friendly dict)")


class DatasetWriter:
    """Streaming writer of one dataset file (context manager).

    Args:
        path: final file name (``.nc`` recommended); its folder must exist.
        pde: PDE / solver name (global attr ``pde``).
        grid: 1-D coordinate arrays, one per spatial axis in the state's order.
        grid_names: their names (e.g. ``("y", "x")``), same order as ``grid``.
        times: ``(T,)`` saved times.
        channel_names: ``C`` names of the state channels.
        param_names: names of the per-sample parameters.
        n_samples: ``N``, number of trajectories the file will hold.
        attrs: extra global attributes (dict/list values are stored as JSON strings).
        solver_settings: the solver's constructor arguments (stored as JSON).
        seed: the generation seed (global attr ``seed``), if any.
        time_units, space_units: ``units`` attrs of the coordinates (``"1"``: nondimensional).
        param_units: ``units`` of the parameters: one string for all, or ``{name: units}``;
            ``None``: not known, no ``units`` attr.
        title: global ``title`` (default ``"<pde> dataset"``).
        source: global ``source``, what made the data (default ``"pdesurrogate <version>,
            solver <pde>"``).
        history_of: the ``history`` of the file this one is made from; its lines follow
            this writer's own line (default: none).
        state_long_name: ``long_name`` of ``u`` (default ``"state"``).
        overwrite: replace an existing ``path`` (default); ``False`` refuses it with
            ``FileExistsError``, on opening and again on the final rename.
        rename: rename the finished file to ``path`` on ``close`` (default); ``False`` leaves
            it complete at :attr:`tmp_path` for the caller to rename (as ``predict`` does, to
            put its rollout and plot in place together) or delete.
        compression: ``None`` (default: uncompressed), ``"gzip"`` or ``"lzf"``, for ``u``
            (with the byte-shuffle filter; see the module's docstring).
        compression_level: gzip's level, 0 (stored) to 9 (smallest); default 4.

    Use ``write(start, u, params)`` for consecutive or scattered blocks of samples, or
    ``write(start, u, params, time=t)`` for a block's saved times ``t, t + 1, ...`` alone (a
    long trajectory a frame at a time); ``close()`` (or leaving the ``with`` block) checks that
    every sample was written at every time and renames the file. Trajectories already in
    memory as one ``(N, T, C, *grid)`` array: :meth:`write_arrays`, one call, with the names
    the arrays cannot give defaulted.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        pde: str,
        grid: Sequence[Sequence[float]],
        grid_names: Sequence[str],
        times: Sequence[float],
        channel_names: Sequence[str],
        param_names: Sequence[str],
        n_samples: int,
        attrs: Mapping[str, object] | None = None,
        *,
        solver_settings: Mapping[str, object] | None = None,
        seed: int | None = None,
        time_units: str = "1",
        space_units: str = "1",
        param_units: str | Mapping[str, str] | None = None,
        title: str | None = None,
        source: str | None = None,
        history_of: str | None = None,
        state_long_name: str = "state",
        overwrite: bool = True,
        compression: str | None = None,
        compression_level: int | None = None,
        rename: bool = True,
    ):
        self.path = Path(path)
        self.rename = bool(rename)
        self.pde = str(pde)
        self.grid = tuple(_as_1d(f"grid[{i}]", g) for i, g in enumerate(_grid_axes(grid)))
        self.grid_names = tuple(str(g) for g in grid_names)
        self.times = _as_1d("times", times)
        self.channel_names = tuple(str(c) for c in channel_names)
        self.param_names = tuple(str(p) for p in param_names)
        self.n_samples = n_samples
        self.attrs = dict(attrs or {})
        self.solver_settings = dict(solver_settings or {})
        self.seed = seed
        self.time_units, self.space_units = str(time_units), str(space_units)
        self.param_units = ({p: str(param_units) for p in self.param_names}
                            if isinstance(param_units, str)
                            else {str(k): str(v) for k, v in (param_units or {}).items()})
        self.overwrite = bool(overwrite)
        self.compression, self.compression_level = compression, compression_level
        self.title = title if title is not None else f"{self.pde} dataset"
        self.source = source if source is not None else (
            f"pdesurrogate {package_version()}, solver {self.pde}")
        self.history_of = str(history_of).strip() if history_of else ""
        self.state_long_name = str(state_long_name)
        self._validate()
        self.shape = (n_samples, len(self.times), len(self.channel_names),
                      *(len(g) for g in self.grid))
        clean_leftovers(self.path)
        self.tmp_path = temp_name(self.path)  # another if it is taken (_open)
        self._created = False  # whether tmp_path is ours to remove
        self._written = np.zeros(self.shape[:2], dtype=bool)  # (sample, time) stored
        self._file: h5netcdf.File | None = None
        self._raw = self._guard = None  # the temporary file and HDF5's access to it (_open)
        self._open()

    @classmethod
    def write_arrays(cls, path: str | os.PathLike, u, times: Sequence[float],
                     grid: Sequence[Sequence[float]],
                     params: Mapping[str, object] | None = None, *, pde: str = "unknown",
                     grid_names: Sequence[str] | None = None,
                     channel_names: Sequence[str] | None = None, **kwargs) -> Path:
        """Write trajectories held in memory (your own solver's arrays) as one file at ``path``,
        with the names the arrays do not give defaulted; returns ``path``.

        Args:
            u: ``(N, T, C, *grid)`` array or tensor (stored as float32): ``N`` trajectories of
                ``T`` saved states of ``C`` channels on a 1-D to 3-D grid. One channel's
                ``(N, T, *grid)`` array is ``u[:, :, None]``.
            times: ``(T,)`` saved times.
            grid: one 1-D coordinate array per spatial axis, in ``u``'s axis order: ``[x]``,
                ``[y, x]``.
            params: ``{name: (N,)}``, one value per trajectory of each PDE parameter (the
                model's ``n_params`` inputs); default none.
            pde: global attr ``pde`` (default ``"unknown"``, what the reader reports for a file
                without one).
            grid_names: default ``("x",)``, ``("y", "x")``, ``("z", "y", "x")``.
            channel_names: default ``("u",)`` for one channel, ``("u0", "u1", ...)`` for more.
            **kwargs: the writer's keyword arguments (``attrs``, ``time_units``,
                ``space_units``, ``param_units``, ``overwrite``, ``compression``, ...).

        Missing folders of ``path`` are created (the writer itself needs its folder).
        """
        u = _to_numpy(u)
        axes = _grid_axes(grid)
        if u.ndim != 3 + len(axes):
            raise ValueError(f"u must have shape (N, T, C, *grid) with one axis per grid "
                             f"coordinate ({len(axes)} given), got {tuple(u.shape)}; one "
                             "channel's (N, T, *grid) array is u[:, :, None]")
        if channel_names is None:
            channel_names = ("u",) if u.shape[2] == 1 else tuple(f"u{i}"
                                                                  for i in range(u.shape[2]))
        params = dict(params or {})
        # as `pdesurrogate generate --out` does: data/own.nc in a fresh folder just works
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with cls(path, pde, axes, grid_names or default_grid_names(len(axes)), times,
                 channel_names, list(params), u.shape[0], **kwargs) as writer:
            writer.write(0, u, params)
        return writer.path

    def _validate(self) -> None:
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"folder of {str(self.path)!r} does not exist")
        if not self.overwrite and (self.path.exists() or self.path.is_symlink()):
            raise FileExistsError(f"{str(self.path)!r} exists; pass --overwrite (overwrite=True) "
                                  "to replace it")
        if isinstance(self.n_samples, bool) or not isinstance(self.n_samples, (int, np.integer)) \
                or self.n_samples < 1:
            raise ValueError(f"n_samples must be a positive int, got {self.n_samples!r}")
        self.n_samples = int(self.n_samples)
        if not 1 <= len(self.grid) <= 3:
            raise ValueError(f"grid must have 1 to 3 coordinate arrays, got {len(self.grid)}")
        if len(self.grid_names) != len(self.grid):
            raise ValueError(f"grid_names {list(self.grid_names)} must name the "
                             f"{len(self.grid)} grid axes")
        if not self.channel_names:
            raise ValueError("channel_names must name at least one channel")
        names = [*self.grid_names, *self.param_names]
        if len(set(names)) != len(names) or len(set(self.channel_names)) != len(self.channel_names):
            raise ValueError(f"grid, channel and parameter names must be unique, got grid "
                             f"{list(self.grid_names)}, channels {list(self.channel_names)}, "
                             f"params {list(self.param_names)}")
        for p in self.param_names:
            if p in RESERVED_NAMES or not p.isidentifier():
                raise ValueError(f"parameter name {p!r} is reserved or not an identifier "
                                 f"(reserved: {list(RESERVED_NAMES)})")
        self.compression, self.compression_level = check_compression(
            self.compression, self.compression_level)
        if self.seed is not None and (isinstance(self.seed, bool)
                                      or not isinstance(self.seed, (int, np.integer))):
            raise ValueError(f"seed must be an int or None, got {self.seed!r}")

    def _open(self) -> None:
        # created exclusively (O_EXCL | O_NOFOLLOW: never a file or link planted at the name)
        # and written by HDF5 through a GuardedFile, which keeps a failed write for this
        # writer to raise (guarded_file's docstring: a full disk was a crash at exit)
        self.tmp_path, raw = open_temp_file(self.path, readable=True, buffering=0)
        self._raw, self._guard, self._created = raw, GuardedFile(raw), True
        try:
            f = h5netcdf.File(self._guard, "w")
        except BaseException:
            self.abort()
            raise
        self._file = f
        try:
            t, c = len(self.times), len(self.channel_names)
            space = {n: len(g) for n, g in zip(self.grid_names, self.grid, strict=True)}
            f.dimensions = {"sample": self.n_samples, "time": t, "channel": c, **space}
            tv = f.create_variable("time", ("time",), "f8")
            tv[:] = self.times
            tv.attrs.update(units=self.time_units, long_name="simulated time" + (
                " (nondimensional)" if self.time_units == "1" else ""))
            if " since " in self.time_units:  # CF: a T axis has "<unit> since <date>" units
                tv.attrs["axis"] = "T"
            for name, g in zip(self.grid_names, self.grid, strict=True):
                v = f.create_variable(name, (name,), "f8")
                v[:] = g
                v.attrs.update(units=self.space_units, long_name=f"{name} coordinate")
                if name in ("x", "y", "z"):
                    v.attrs["axis"] = name.upper()
            cv = f.create_variable("channel", ("channel",), dtype=h5py.string_dtype())
            cv[:] = np.array(self.channel_names, dtype=object)
            cv.attrs["long_name"] = "channel name"
            dims = ("sample", "time", "channel", *self.grid_names)
            filters = {} if self.compression is None else {
                "compression": self.compression, "compression_opts": self.compression_level,
                "shuffle": True}
            u = f.create_variable("u", dims, "f4",
                                  chunks=chunk_shape(t, c, [len(g) for g in self.grid]),
                                  **filters)
            u.attrs.update(long_name=self.state_long_name, units="1")
            for p in self.param_names:
                v = f.create_variable(p, ("sample",), "f8")
                v.attrs.update(kind=PARAM_KIND, long_name=f"PDE parameter {p}")
                if p in self.param_units:
                    v.attrs["units"] = self.param_units[p]
            f.create_variable("sim_id", ("sample",), "i8").attrs["long_name"] = \
                "global sample index"
            f.create_variable("seed", ("sample",), "i8").attrs["long_name"] = \
                "seed the sample was drawn with (-1: unknown)"
            now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            base = {
                "Conventions": "CF-1.8",
                "title": self.title,
                "source": self.source,
                "history": "\n".join(line for line in (f"{now} {command_line()}",
                                                        self.history_of) if line),
                "pde": self.pde,
                "solver_settings": json.dumps(self.solver_settings, default=str),
                "pdesurrogate_version": package_version(),
                "pdesurrogate_format": FORMAT_VERSION,
            }
            if self.seed is not None:
                base["seed"] = int(self.seed)
            self.set_attrs(**{**base, **self.attrs})
        except BaseException:
            self._raise_write_error()  # the cause, if a write failed
            self.abort()
            raise
        self._raise_write_error()

    def set_attrs(self, **attrs: object) -> None:
        """Add or overwrite global attributes (any time before ``close``)."""
        f = self._require_open()
        for k, v in attrs.items():
            f.attrs[k] = _attr_value(k, v)

    def _require_open(self) -> h5netcdf.File:
        if self._file is None:
            raise RuntimeError(f"DatasetWriter for {str(self.path)!r} is closed")
        return self._file

    def write(self, start: int, u, params: Mapping[str, object] | None = None,
              sim_id=None, seed=None, time: int = 0) -> None:
        """Store samples ``start .. start + b - 1``, or their saved times ``time .. time + f - 1``
        alone (their parameters, ids and seeds are stored again with each part).

        Args:
            u: ``(b, T, C, *grid)`` array or tensor (cast to float32), or ``(b, f, C, *grid)``
                with ``time + f <= T``; must be finite.
            params: ``{name: (b,)}`` for every name in ``param_names``.
            sim_id: ``(b,)`` ints (default: ``start + arange(b)``).
            seed: ``(b,)`` ints or one int for the whole block (default ``-1``).
            time: the index of ``u``'s first saved time (default 0).
        """
        f = self._require_open()
        u = _to_numpy(u).astype(np.float32, copy=False)
        b = u.shape[0] if u.ndim else 0
        n_times = self.shape[1]
        if isinstance(time, bool) or not isinstance(time, (int, np.integer)) \
                or not 0 <= time < n_times:
            raise ValueError(f"{self.path.name}: time must be an int in 0..{n_times - 1}, got "
                             f"{time!r}")
        frames = n_times - time if u.ndim < 2 else u.shape[1]
        if u.ndim != len(self.shape) or tuple(u.shape[2:]) != self.shape[2:] \
                or not 1 <= frames <= n_times - time:
            want = ", ".join(map(str, self.shape[1:]))
            part = f" or (b, f <= {n_times - time}, ...) from time {time}" if time else ""
            raise ValueError(f"{self.path.name}: u must have shape (b, {want}){part}, "
                             f"got {tuple(u.shape)}")
        if not (0 <= start and start + b <= self.n_samples) or b == 0:
            raise ValueError(f"{self.path.name}: block [{start}, {start + b}) is empty or outside "
                             f"[0, {self.n_samples})")
        if not np.all(np.isfinite(u)):
            raise ValueError(f"{self.path.name}: u has NaN/Inf values in the block starting "
                             f"at {start}")
        params = dict(params or {})
        missing = [p for p in self.param_names if p not in params]
        extra = [p for p in params if p not in self.param_names]
        if missing or extra:
            raise ValueError(f"{self.path.name}: params must have exactly "
                             f"{list(self.param_names)}; missing {missing}, unexpected {extra}")
        cols = {}
        for p in self.param_names:
            v = _to_numpy(params[p]).astype(np.float64).reshape(-1)
            if v.shape != (b,):
                raise ValueError(f"{self.path.name}: parameter {p!r} must have shape ({b},), "
                                 f"got {v.shape}")
            cols[p] = v
        sl, times = slice(start, start + b), slice(time, time + frames)
        try:
            if frames == n_times:
                f.variables["u"][sl] = u
            else:
                f.variables["u"][sl, times] = u
            for p, v in cols.items():
                f.variables[p][sl] = v
            ids = (np.arange(start, start + b) if sim_id is None
                   else _to_numpy(sim_id).reshape(-1))
            f.variables["sim_id"][sl] = ids.astype(np.int64)
            seeds = np.broadcast_to(np.asarray(-1 if seed is None else _to_numpy(seed),
                                               np.int64), (b,))
            f.variables["seed"][sl] = seeds
        except Exception:
            # after a dropped write HDF5 may fail on its own terms (reading back what it
            # thinks it wrote): the write that failed is the error to report
            self._raise_write_error()
            raise
        self._written[sl, times] = True
        self._raise_write_error()

    def _raise_write_error(self) -> None:
        """If a write to the temporary file failed (a full disk, a file size limit), discard
        it and raise that error, naming ``path``; the caller stops there, not at the end."""
        if self._guard is not None and self._guard.error is not None:
            error = self._guard.error
            self.abort()
            raise named_error(error, self.path)

    def close(self) -> None:
        """Finish the file and rename it to ``path``; raises if samples are missing."""
        if self._file is None:
            return
        missing = np.flatnonzero(~self._written.all(axis=1))
        if missing.size:
            self.abort()
            raise RuntimeError(f"{str(self.path)!r}: {missing.size} of {self.n_samples} samples "
                               f"were never written (first: {int(missing[0])}); file discarded")
        try:
            self._file.close()
            self._file = None
            self._close_raw()
        except BaseException:
            self._raise_write_error()  # the cause, if a write failed
            self.abort()
            raise
        self._raise_write_error()
        if not self.rename:
            return
        if self.overwrite:
            os.replace(self.tmp_path, self.path)
        else:
            self._rename_no_clobber()

    def _rename_no_clobber(self) -> None:
        """Move the temporary file to ``path`` unless something is there by now."""
        try:
            os.link(self.tmp_path, self.path)  # fails if path exists: no window for a race
        except FileExistsError:
            raise self._taken() from None
        except OSError:  # no hard links on this file system: check, then rename
            if self.path.exists() or self.path.is_symlink():
                raise self._taken() from None
            os.replace(self.tmp_path, self.path)
            return
        os.remove(self.tmp_path)

    def _taken(self) -> FileExistsError:
        """The error when ``path`` was taken meanwhile; the finished file is kept under the
        visible name ``<path>.tmp-<pid>`` (not one the next writer's clean-up removes), or,
        when that name is taken too, where it is."""
        kept = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        _move_no_clobber(self.tmp_path, kept)
        if not os.path.lexists(self.tmp_path):
            self.tmp_path = kept
        return FileExistsError(
            f"{str(self.path)!r} was created by someone else while this file was written; it is "
            f"left alone, and the finished file is {str(self.tmp_path)!r}")

    def abort(self) -> None:
        """Close and delete the temporary file; nothing appears under ``path``."""
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # the file is being discarded anyway
                pass
            self._file = None
        with contextlib.suppress(OSError):
            self._close_raw()
        self._remove_tmp()

    def _close_raw(self) -> None:
        """Close the temporary file's descriptor (after HDF5 closed it); an error closing it
        (a network file system's quota, found at close) counts as a failed write."""
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.close()
            except OSError as e:
                if self._guard.error is None:
                    self._guard.error = e

    def _remove_tmp(self) -> None:
        if not self._created:
            return
        try:
            os.remove(self.tmp_path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self):
        # a writer dropped without close() must not leave a half-written temporary file
        if getattr(self, "_file", None) is not None:
            self.abort()


def _move_no_clobber(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` unless ``dst`` exists (a link there is not followed); any
    failure leaves ``src`` where it is."""
    try:
        os.link(src, dst)
    except FileExistsError:
        return
    except OSError:  # no hard links here
        if not os.path.lexists(dst):
            with contextlib.suppress(OSError):
                os.rename(src, dst)
        return
    os.remove(src)


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)
