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
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .lazy import ArraySource, GroupedSource, LazyArray, decode, decode_attrs
from .ourformat import PARAM_KIND
from .progress import progress_bar

# HDF5 chunk cache budget per open file: our chunks hold a few frames (about 128 KiB, see
# ourformat.chunk_shape), older files' and other formats' chunks up to a whole trajectory of a
# few MiB; consecutive reads within a trajectory should hit the cache either way. HDF5 gives
# every open chunked dataset a cache of its own, so FieldData splits this budget among the
# datasets it may hold open at once (DATASET_CACHE_SIZE of a grouped file: 1 MiB each, the
# largest chunk h5py picks by itself)
CHUNK_CACHE_BYTES = 64 * 2**20
# hash slots of that cache: HDF5 asks for a prime well above the number of chunks it holds
# (512 of 128 KiB here); its default of 521 would evict chunks on hash collisions
CHUNK_CACHE_SLOTS = 10007
# HDF5's default: chunks read in full are evicted first
CHUNK_CACHE_W0 = 0.75
# HDF5's data-sieve buffer, allocated per open contiguous dataset on its first small read: its
# default of 64 KiB cost ~90 KB per trajectory of a grouped PDEBench file kept open (850 MB for
# 10,000 groups); 4 KiB measured as fast, as our reads are whole frames, not small slices
SIEVE_BUF_BYTES = 4096
# HDF5 datasets each process keeps open (least recently used dropped first): a name lookup costs
# more than a small read (~170 us a miss), but a grouped file has one dataset per trajectory,
# and an unbounded cache grew by one open dataset per trajectory ever read
DATASET_CACHE_SIZE = 64
# top-level entries walked between two progress updates of refuse_links_out
_LINKS_PER_UPDATE = 256


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
    # why ``times`` are not the file's own, for messages; None when the file holds them
    times_note: str | None = None


class FieldData:
    """A dataset file as ``N`` trajectories of ``T`` frames ``(C, *grid)``.

    Attributes:
        u: lazy ``(N, T, C, *grid)`` float32 array; ``u[i]``, ``u[i, j]``, ``u[a:b, ::2]``, ...
            return numpy arrays.
        times: ``(T,)`` saved times.
        grid: one 1-D coordinate array per spatial axis, in the order of ``u``'s spatial axes.
        grid_names: their names (ours: ``("y", "x")`` in 2-D; PDEBench/The Well: ``("x", "y")``).
        channel_names: ``C`` channel names.
        params: ``{name: (N,)}`` per-trajectory parameters (constants: read-only broadcast
            views of one value).
        sim_id: ``(N,)`` trajectory ids (ours: as written; others: ``0..N-1``).
        times_note: None when ``times`` are the file's own; else why they are not, as a
            phrase (a PDEBench file without ``t-coordinate``: frame indices ``0 .. T - 1``).
        pde, attrs, format (``"pdesurrogate" | "pdebench" | "the_well"``), path.
    """

    def __init__(self, path: str | os.PathLike, layout: Layout):
        self.path = Path(path)
        self.format = layout.format
        self.times = np.asarray(layout.times, dtype=np.float64)
        self.times_note = layout.times_note
        self.grid = tuple(np.asarray(g, dtype=np.float64) for g in layout.grid)
        self.grid_names = tuple(layout.grid_names)
        self.channel_names = tuple(layout.channel_names)
        n = layout.shape[0]
        # constants stay scalars until asked for (as read-only (N,) views): a file declaring
        # 10**12 trajectories must not cost 8 TB per parameter to open (or to pickle)
        self._params = {k: np.asarray(v, np.float64) for k, v in layout.params.items()}
        for k, v in self._params.items():
            if v.shape not in ((), (1,), (n,)):
                raise ValueError(f"{str(self.path)!r}: parameter {k!r} has shape {v.shape}; "
                                 f"expected one value or ({n},), one per trajectory")
        self._sim_id = None if layout.sim_id is None else np.asarray(layout.sim_id, np.int64)
        self.pde = layout.pde
        self.attrs = dict(layout.attrs)
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._datasets: OrderedDict[str, h5py.Dataset] = OrderedDict()
        # names whose storage refuse_outside_data passed in this handle: a grouped file read
        # in shuffled order reopens a dataset nearly every item, and the check cost ~85 us of
        # a ~290 us item (a dataset's storage is set when it is created, and a handle stays
        # on the file it checked)
        self._checked: set[str] = set()
        self._dapl = None  # the access settings (chunk cache) of every dataset opened
        names = sum(len(s.groups) if isinstance(s, GroupedSource) else 1 for s in layout.sources)
        # each open dataset's share of the file's chunk cache budget
        self._chunk_cache_bytes = CHUNK_CACHE_BYTES // max(1, min(names, DATASET_CACHE_SIZE))
        self.u = LazyArray(self._dataset, layout.sources, layout.shape, where=str(self.path))

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{name: (N,)}`` per-trajectory parameters: the arrays read from the file, and
        for constants read-only broadcast views of the one value (copy one to write into it),
        which cost nothing however many trajectories the file declares."""
        n = self.u.shape[0]
        return {k: v if v.shape == (n,) else np.broadcast_to(v.reshape(()), (n,))
                for k, v in self._params.items()}

    @property
    def sim_id(self) -> np.ndarray:
        """``(N,)`` int64 trajectory ids: ours as written, other formats ``0 .. N - 1``."""
        if self._sim_id is None:
            return np.arange(self.u.shape[0], dtype=np.int64)
        return self._sim_id

    # -- file handle, one per process ----------------------------------------------------------
    def _dataset(self, name: str) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            # a handle inherited through fork is not used (HDF5 state is not fork-safe); the
            # child opens its own
            f = _open_h5(self.path)
            try:
                # the file may have been replaced since open_dataset checked it: walk it again
                # before any name lookup, which would open the file an external link names
                refuse_links_out(f, repr(str(self.path)))
            except BaseException:
                f.close()
                raise
            self._file, self._pid, self._datasets = f, os.getpid(), OrderedDict()
            self._checked = set()
            self._dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
            self._dapl.set_chunk_cache(CHUNK_CACHE_SLOTS, self._chunk_cache_bytes,
                                       CHUNK_CACHE_W0)
        ds = self._datasets.get(name)
        if ds is not None:
            self._datasets.move_to_end(name)
            return ds
        ds = h5py.Dataset(h5py.h5d.open(self._file.id, name.encode(), self._dapl))
        if name not in self._checked:
            # its storage is checked again too (external storage, virtual sources), for the
            # same reason, once per handle
            refuse_outside_data(self._file, ds, repr(str(self.path)), name)
            self._checked.add(name)
        self._datasets[name] = ds
        if len(self._datasets) > DATASET_CACHE_SIZE:
            self._datasets.popitem(last=False)  # its last reference: HDF5 closes it
        return ds

    def close(self) -> None:
        """Close this process's file handle (the view reopens it if indexed again)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._datasets, self._dapl = None, OrderedDict(), None
        self._checked = set()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"], state["_pid"], state["_datasets"] = None, None, OrderedDict()
        state["_checked"] = set()  # the copy checks what its own handle opens
        state["_dapl"] = None  # HDF5 property lists do not pickle; reopening makes one
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
    """``path`` opened read-only with our cache settings (h5py.File takes no sieve size).

    Datasets looked up through the file get the whole chunk cache budget each; they are only
    open while ``open_dataset`` reads the layout. :class:`FieldData` opens the ones it reads
    with their share of it."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_sieve_buf_size(SIEVE_BUF_BYTES)
    metadata_cache = fapl.get_cache()[0]
    fapl.set_cache(metadata_cache, CHUNK_CACHE_SLOTS, CHUNK_CACHE_BYTES, CHUNK_CACHE_W0)
    try:
        return h5py.File(h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY, fapl=fapl))
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


def open_dataset(path: str | os.PathLike, progress: bool | None = None) -> FieldData:
    """Open a dataset file of any supported format as a lazy :class:`FieldData`, or a folder
    of them as one :class:`~.file_set.FileSet` (the same interface).

    A folder: its files named ``*.nc``, ``*.h5``, ``*.hdf5`` or ``*.hdf``, in the order of
    their names, or those of its ``train/``, ``valid/`` (or ``val/``) and ``test/`` subfolders
    (The Well's layout), each opened as below; every file must hold the same times, grid,
    channels and parameter names (:mod:`.file_set`). A folder without dataset files, or whose
    files differ, is one ValueError naming the folder (and the first file that differs, what
    differs and both values).

    ``progress``: whether a long opening shows its progress on stderr
    (:func:`~.progress.progress_bar`): walking the links of a file of at least
    :data:`~.pdebench.GROUPS_PROGRESS` top-level entries (4-5 s for 50,000 PDEBench groups),
    and checking the groups of such a PDEBench file (seconds: ~230 us a group). ``None``:
    unless a launcher started this process as a rank other than 0
    (:func:`~.progress.other_rank`), whose line would repeat rank 0's.

    Supported: our netCDF files (:mod:`.ourformat`), PDEBench single-file (``tensor`` or CFD
    fields) and per-seed grouped files (:mod:`.pdebench`), The Well HDF5 files
    (:mod:`.the_well`).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a folder as above.
        OSError: HDF5 cannot open it (e.g. a truncated file); the message names the file.
        ValueError: not an HDF5/netCDF4 file, an HDF5 layout none of the readers knows (the
            message lists the top-level keys found), or a file of a known layout whose data,
            coordinates or parameters are not numeric arrays of the lengths ``u`` needs (the
            message names the file, the key and both lengths). Also, naming the file and the
            key: a file that could make a read leave it (an external link anywhere in it,
            an array with HDF5 external storage or a virtual dataset), an array declared with
            a shape but never written, and a file whose declared sizes exhaust memory on
            opening (the message lists its largest declared shapes). Opening costs O(1) in the
            declared number of trajectories beyond reading per-trajectory vectors the file
            actually stores.
    """
    from . import pdebench
    from .pdebench import is_pdebench, pdebench_layout
    from .progress import other_rank
    from .the_well import is_the_well, the_well_layout

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"dataset file {str(p)!r} does not exist")
    if p.is_dir():
        from .file_set import open_file_set

        return open_file_set(p, progress)
    if not h5py.is_hdf5(p):
        raise ValueError(f"{str(p)!r} is not an HDF5/netCDF4 file (netCDF3 and other formats "
                         "are not supported)")
    on = not other_rank() if progress is None else progress
    with _open_h5(p) as f:
        refuse_links_out(f, repr(str(p)), progress=on and len(f) >= pdebench.GROUPS_PROGRESS)
        # listed once: the PDEBench checks and the layout reuse it (a listing of 20,000
        # groups takes ~65 ms)
        keys = sorted(f.keys())
        if is_ours(f):
            kind, build = "pdesurrogate", lambda: our_layout(f)
        elif is_the_well(f):
            kind, build = "The Well", lambda: the_well_layout(f, p)
        elif is_pdebench(f, keys):
            kind, build = "PDEBench", lambda: pdebench_layout(f, p, on, keys=keys)
        elif "u" in f and "time" in f:
            # our layout without the attribute that marks it (a file written with plain xarray):
            # say which attribute, rather than "unknown layout"
            raise ValueError(
                f"{str(p)!r} has variables 'u' and 'time' as a pdesurrogate file does, but not "
                "its global attribute 'pdesurrogate_format' (nor 'pde'); set it before writing, "
                "e.g. ds.attrs['pdesurrogate_format'] = 1 with xarray, or write the file with "
                "pdesurrogate.datasets.DatasetWriter")
        else:
            shown = keys[:20] + (["..."] if len(keys) > 20 else [])
            raise ValueError(
                f"{str(p)!r}: unknown HDF5 layout (top-level keys {shown}, attrs "
                f"{sorted(f.attrs.keys())[:20]}); expected a pdesurrogate file (variable 'u' and "
                "attr 'pdesurrogate_format'), PDEBench ('tensor', CFD fields or per-seed groups "
                "with 'data') or The Well ('t0_fields'/'t1_fields' and 'dimensions')")
        try:
            layout = build()
            _check_layout(layout, p)
            return FieldData(p, layout)
        except (KeyError, TypeError, AttributeError, IndexError) as e:
            # a layout the checks above did not foresee: still one error naming the file, not
            # a traceback from inside h5py
            raise ValueError(f"{str(p)!r}: not a readable {kind} file: {type(e).__name__}: "
                             f"{e}") from None
        except MemoryError as e:
            # opening reads only coordinates and per-trajectory vectors: running out of memory
            # means the file declares absurd sizes, which the message shows
            raise ValueError(f"{str(p)!r}: opening it ran out of memory ({e}); its largest "
                             f"declared arrays are {_largest_arrays(f)}, more than this "
                             "machine holds") from None


def scored_path(path: str, command: str) -> tuple[str, str | None]:
    """What a command that scores a model on data (``command``: ``"predict --input"``,
    ``"compare --input"``) reads of ``path``, and a note saying so where it is not ``path``
    itself (else None).

    A dataset file, or a folder of them (read as one, :mod:`.file_set`): ``path``. A folder
    split into ``train/``, ``valid/`` (or ``val/``) and ``test/`` (The Well's ``data/``
    folders, :func:`~.file_set.split_folders`): its ``test/`` folder, the held-out part, since
    a score over the training trajectories too says little of the model; the note names it
    and how to score the other parts. A folder holding some of those subfolders but not all
    is the ValueError :func:`~.file_set.split_folders` raises, naming the folder."""
    p = Path(path)
    if not p.is_dir():
        return path, None
    from .file_set import split_folders

    parts = split_folders(p)
    if parts is None:
        return path, None
    train, valid, test = (os.path.join(path, q.name) for q in parts)
    return test, (f"{path!r} is split into train/, {parts[1].name}/ and test/ folders (The "
                  f"Well's layout): {command} reads its test/ folder {test!r} alone, the "
                  f"held-out part; pass {train!r} or {valid!r} to score the others")


def _largest_arrays(f: h5py.File, count: int = 3) -> str:
    """The ``count`` largest datasets of ``f`` with their declared shapes, for messages."""
    found = []
    f.visititems(lambda name, obj: found.append((obj.size, name, obj.shape))
                 if isinstance(obj, h5py.Dataset) else None)
    return ", ".join(f"{name!r} {shape}" for _, name, shape in sorted(found)[::-1][:count])


def _check_layout(layout: Layout, path: Path) -> None:
    """What every format must give: at least one trajectory, finite times and grid
    coordinates (a NaN there would make every time-step and spacing check pass or fail at
    random), and strictly increasing times (training pairs and rollouts step forward in
    them)."""
    if layout.shape[0] == 0:
        raise ValueError(f"{str(path)!r} holds no trajectories (u has shape {layout.shape})")
    named = [("time", np.asarray(layout.times))] + [
        (name, np.asarray(g)) for name, g in zip(layout.grid_names, layout.grid, strict=True)]
    for name, values in named:
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            raise ValueError(f"{str(path)!r}: the {name} coordinate holds NaN or Inf "
                             f"(first at index {int(np.flatnonzero(~np.isfinite(values))[0])})")
    times = np.asarray(layout.times, dtype=np.float64)
    back = np.flatnonzero(np.diff(times) <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise ValueError(f"{str(path)!r}: the saved times must be strictly increasing, but "
                         f"time {i} is {times[i]:g} after time {i - 1} = {times[i - 1]:g}")


# -- checks shared by the format adapters -------------------------------------------------------
def refuse_links_out(f: h5py.File, where: str, progress: bool = False) -> None:
    """Refuse a file holding an external or user-defined link anywhere in it.

    Such a link makes h5py open another file (any path on this machine, or a FIFO that blocks)
    as soon as a name is looked up through it, so the whole file is walked before any lookup.
    Soft links stay: they name a path in this file, which with no external link in it cannot
    lead out. ``H5Lvisit`` follows hard links only, so the walk ends on cyclic files.
    ``progress``: show the walk's progress on stderr in top-level entries (a grouped file's
    groups): 100,000 links of 20,000 PDEBench groups took ~0.7 s, 250,000 of 50,000 4-5 s.

    Raises:
        ValueError: naming ``where``, the link and its target.
    """
    found: list[tuple[str, int]] = []
    total = len(f)
    entered = [0, 0]  # top-level entries walked into, and reported

    with progress_bar(progress, f"checking the links of {Path(f.filename).name}", total,
                      "groups") as advance:
        def visit(name: bytes, info) -> bool | None:
            if b"/" not in name:
                entered[0] += 1
                if entered[0] - entered[1] >= _LINKS_PER_UPDATE:
                    advance(entered[0] - entered[1])
                    entered[1] = entered[0]
            if info.type in (h5py.h5l.TYPE_HARD, h5py.h5l.TYPE_SOFT):
                return None
            found.append((name.decode("utf-8", "replace"), info.type))
            return True  # stop at the first one

        f.id.links.visit(visit, info=True)
        if found:
            name, kind = found[0]
            link = f.get(name, getlink=True)
            what = f"an external link to {link.path!r} in file {link.filename!r}" \
                if isinstance(link, h5py.ExternalLink) \
                else f"a user-defined HDF5 link (type {kind})"
            raise ValueError(f"{where}: {name!r} is {what}; links that may leave the file are "
                             "refused, as they would read other files on this machine")
        advance(total - entered[1])


def refuse_outside_data(f: h5py.File, ds: h5py.Dataset, where: str, name: str) -> None:
    """Refuse a dataset whose values are not stored in ``f`` itself.

    HDF5 external storage (raw bytes from any named file, e.g. a secret one), virtual datasets
    (values mapped from other files or datasets) and datasets reached through a link into
    another file would all let a crafted dataset file read files it names.

    Raises:
        ValueError: naming ``where`` and ``name`` and saying where the values would come from.
    """
    if ds.file.filename != f.filename:
        raise ValueError(f"{where}: {name!r} lies in another file ({ds.file.filename!r}); "
                         "arrays from other files are refused")
    if ds.external:
        files = sorted({str(e[0]) for e in ds.external})
        raise ValueError(f"{where}: {name!r} keeps its values outside the file (HDF5 external "
                         f"storage in {files}); such arrays are refused, as they can read any "
                         "file on this machine")
    if ds.is_virtual:
        files = sorted({m.file_name for m in ds.virtual_sources()})
        raise ValueError(f"{where}: {name!r} is an HDF5 virtual dataset (values mapped from "
                         f"{files}); such arrays are refused, as they can read other files")


def holds_data(ds: h5py.Dataset) -> bool:
    """Whether HDF5 has stored any values of ``ds``; an array created with its shape and never
    written has none (reading it gives fill values, usually zeros). O(1) in its size."""
    if ds.size == 0:
        return True
    layout = ds.id.get_create_plist().get_layout()
    if layout == h5py.h5d.CHUNKED and hasattr(ds.id, "chunk_iter"):
        # the first stored chunk settles it; get_storage_size would walk every chunk
        found: list[bool] = []
        ds.id.chunk_iter(lambda info: found.append(True) or True)
        return bool(found)
    if layout in (h5py.h5d.CHUNKED, h5py.h5d.CONTIGUOUS):
        return ds.id.get_storage_size() > 0
    return True  # compact: the values sit in the object header


def key_name(group, key: str) -> str:
    """The path of ``group[key]`` in its file, without the leading ``/`` (for messages)."""
    return f"{group.name.rstrip('/')}/{key}".lstrip("/")


def require_array(group, key: str, where: str, *, ndims: Sequence[int] | None = None,
                  shape_hint: str = "", kinds: str = "fiu") -> h5py.Dataset:
    """The HDF5 dataset ``group[key]``, checked to be an array of numbers of an allowed rank.

    Args:
        group: the h5py File or Group holding it.
        where: the file, as it should appear in messages.
        ndims: allowed numbers of axes (``None``: any).
        shape_hint: the expected shape in words, e.g. ``"(N, T, *grid)"``, for the message.
        kinds: allowed numpy dtype kinds (default: float, signed and unsigned int).

    Raises:
        ValueError: naming the file and key, when it is missing, a group, holds other values
            (strings, compounds, ...), has another number of axes, keeps its values outside
            the file (:func:`refuse_outside_data`) or declares a shape the file holds no
            values for (created and never written, :func:`holds_data`).
    """
    name = key_name(group, key)
    hint = f" {shape_hint}" if shape_hint else ""
    obj = group.get(key) if isinstance(group, h5py.Group) else None
    if obj is None:
        raise ValueError(f"{where}: {name!r} is missing; expected a numeric array{hint}")
    if not isinstance(obj, h5py.Dataset):
        raise ValueError(f"{where}: {name!r} is an HDF5 group; expected a numeric array{hint}")
    if obj.dtype.kind not in kinds:
        held = "strings" if obj.dtype.kind in "SU" or h5py.check_string_dtype(obj.dtype) \
            else f"values of type {obj.dtype}"
        raise ValueError(f"{where}: {name!r} holds {held}; expected numbers{hint}")
    if ndims is not None and obj.ndim not in ndims:
        lo, hi = min(ndims), max(ndims)
        axes = f"{lo} to {hi}" if len(ndims) > 2 and list(ndims) == list(range(lo, hi + 1)) \
            else " or ".join(str(n) for n in ndims)
        raise ValueError(f"{where}: {name!r} has shape {obj.shape}; expected {axes} axes{hint}")
    refuse_outside_data(group.file, obj, where, name)
    if not holds_data(obj):
        raise ValueError(f"{where}: {name!r} declares shape {obj.shape} but the file holds no "
                         "values for it (created and never written: reading it would give fill "
                         "values, not data)")
    return obj


def require_group(group, key: str, where: str, what: str) -> h5py.Group:
    """The HDF5 group ``group[key]``; a ValueError naming the file and key if it is not one."""
    obj = group.get(key) if isinstance(group, h5py.Group) else None
    if not isinstance(obj, h5py.Group):
        state = "missing" if obj is None else "a dataset, not a group"
        raise ValueError(f"{where}: {key_name(group, key)!r} is {state}; expected a group "
                         f"holding {what}")
    return obj


# -- our format ---------------------------------------------------------------------------------
def is_ours(f: h5py.File) -> bool:
    return "u" in f and "time" in f and ("pdesurrogate_format" in f.attrs or "pde" in f.attrs)


def our_layout(f: h5py.File) -> Layout:
    """Our netCDF schema (:mod:`.ourformat`); every variable's length is checked against ``u``."""
    where = repr(f.filename)
    u = require_array(f, "u", where, shape_hint="(sample, time, channel, *space)")
    dims = _netcdf_dims(u)
    if u.ndim < 4 or dims[:3] not in ((), ("sample", "time", "channel")):
        raise ValueError(f"{where}: variable 'u' must have dimensions (sample, time, "
                         f"channel, *space), got {dims or u.shape}")
    n, t, c = u.shape[:3]
    grid_names = dims[3:] if dims else ("z", "y", "x")[3 - (u.ndim - 3):]

    def vector(name: str, size: int, what: str, kinds: str = "fiu") -> np.ndarray:
        """Variable ``name``, which must hold one entry per ``what`` (``size`` of them)."""
        v = require_array(f, name, where, ndims=(1,), shape_hint=f"({what},)", kinds=kinds)
        if v.shape[0] != size:
            raise ValueError(f"{where}: variable {name!r} has {v.shape[0]} entries but 'u' "
                             f"{u.shape} has {size} along its {what} axis")
        return v[()]

    # a dimension written without a coordinate variable (xarray/netCDF4 leave an empty
    # dimension-scale array of that name) gives what a missing coordinate gives, as xarray
    # does: index positions 0 .. n - 1 along the axis, channels named u0, u1, ...
    grid = tuple(vector(name, u.shape[3 + i], name) if _has_coordinate(f, name)
                 else np.arange(u.shape[3 + i], dtype=np.float64)
                 for i, name in enumerate(grid_names))
    channels = tuple(decode(x) for x in vector("channel", c, "channel", kinds="SOUfiu")) \
        if _has_coordinate(f, "channel") else tuple(f"u{i}" for i in range(c))
    if not _has_coordinate(f, "time"):
        raise ValueError(f"{where}: 'time' is a netCDF dimension without a coordinate "
                         f"variable; expected the ({t},) saved times")
    params, unmarked = {}, []
    for name in f:
        obj = f[name]
        if not isinstance(obj, h5py.Dataset):
            continue
        if decode(obj.attrs.get("kind")) == PARAM_KIND:
            params[name] = vector(name, n, "sample")
        elif name not in PER_SAMPLE_IDS and _netcdf_dims(obj) == ("sample",) \
                and obj.dtype.kind in "fiu":
            unmarked.append(name)
    if unmarked:
        # a per-sample number the writer did not mark (plain xarray): most likely a parameter
        # meant for the model, silently left out of params; it may also be metadata, so a warning
        warnings.warn(f"{where}: per-sample variable(s) {unmarked} are not read as parameters, "
                      f"as they lack the attribute kind = {PARAM_KIND!r}; to train on one, set it "
                      f"(xarray: ds[{unmarked[0]!r}].attrs['kind'] = {PARAM_KIND!r}) before "
                      "writing the file", stacklevel=4)
    attrs = decode_attrs(f.attrs)
    return Layout(
        format="pdesurrogate",
        shape=u.shape,
        sources=[ArraySource("u", c, u.shape[3:], channel_axis="after_time")],
        times=vector("time", t, "time"),
        grid=grid,
        grid_names=tuple(grid_names),
        channel_names=channels,
        params=params,
        pde=str(attrs.get("pde", "unknown")),
        attrs=attrs,
        sim_id=vector("sim_id", n, "sample", kinds="iu") if "sim_id" in f else None,
    )


# per-sample variables every file of ours holds besides its parameters
PER_SAMPLE_IDS = ("sim_id", "seed")

# the NAME attribute netCDF4 (and h5netcdf) give the placeholder array of a dimension that has
# no coordinate variable; the array is never written
NETCDF_BARE_DIMENSION = "This is a netCDF dimension but not a netCDF variable."


def _has_coordinate(f: h5py.File, name: str) -> bool:
    """Whether ``f`` holds a variable ``name``, not just a netCDF dimension of that name."""
    obj = f.get(name)
    if obj is None:
        return False
    if isinstance(obj, h5py.Dataset):
        label = decode(obj.attrs.get("NAME", ""))
        return not (isinstance(label, str) and label.startswith(NETCDF_BARE_DIMENSION))
    return True  # a group: require_array names it as the wrong kind of object


def _netcdf_dims(ds: h5py.Dataset) -> tuple[str, ...]:
    """Dimension names of a netCDF4 variable (from its HDF5 dimension scales), or ()."""
    names = []
    for dim in ds.dims:
        if len(dim) == 0:
            return ()
        names.append(dim[0].name.rsplit("/", 1)[-1])
    return tuple(names)
