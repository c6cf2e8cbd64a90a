"""Lazy ``(N, T, C, *grid)`` views assembled from HDF5 datasets of different layouts.

A :class:`LazyArray` reads only what is indexed. Its channels come from one or more *sources*,
each knowing how one HDF5 object stores its part of the data:

* :class:`ArraySource`: one dataset per (group of) channel(s), with or without the sample and
  time axes (a missing axis is broadcast), channels either right after time (our format) or as
  trailing component axes (PDEBench ``(N, T, X, Y, C)``, The Well vectors ``(..., D)`` and
  tensors ``(..., D, D)``), spatial axes possibly absent (The Well's ``dim_varying``);
* :class:`GroupedSource`: one group per trajectory holding ``data (T, *grid[, C])`` (PDEBench's
  diffusion-reaction, shallow-water and diffusion-sorption files).

Indexing on the first two axes takes ints, slices (any step) and 1-D integer arrays. Index
lists on both the sample and time axes select their cross product (orthogonal indexing, as in
h5py and xarray), not numpy's pointwise pairs. Further index entries (channel, space) mean
what numpy makes of them on the ``(C, *grid)`` frames, and their ints, slices (any step) and
integer arrays reach the HDF5 read: a window of a large frame reads the window (widened where
HDF5 would gather values one by one, see :func:`read_selection`), not the whole frame. Other
entries (boolean masks) apply with numpy to whole frames. HDF5 wants increasing indices,
positive steps and at most one index list per read, so lists are sorted and deduplicated,
negative steps read forwards, before the read, and put back in the requested order after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import h5py
import numpy as np

Selection = slice | np.ndarray  # slice with step > 0, or sorted unique int64 indices

# a read's innermost axes are widened until each run of values contiguous in the file holds
# this many bytes. HDF5 copies run by run: one channel of two in a 512 x 512 frame (4-byte
# runs) took as long as the whole frame (~0.57 ms), a 40-column window of both (320-byte
# runs) 0.37 ms, 64 rows of 64-byte runs faster than the whole frame too
MIN_RUN_BYTES = 64
# ... but not beyond this many bytes a run: a column of a wide grid is gathered, not read whole
MAX_WIDEN_BYTES = 16384


def decode(value):
    """An HDF5 attribute value as plain Python: str for bytes, scalars for size-1 arrays."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in ("S", "O", "U"):
            items = [decode(v) for v in value.reshape(-1)]
            return items[0] if value.size == 1 and value.ndim == 0 else items
        if value.size == 1:
            return value.reshape(-1)[0].item()
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode_attrs(attrs) -> dict:
    """All attributes of an HDF5 object, decoded; netCDF bookkeeping (``_...``) dropped."""
    out = {}
    for k in attrs.keys():
        if k.startswith("_") or k in ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME"):
            continue
        try:
            out[k] = decode(attrs[k])
        except (OSError, TypeError, ValueError):  # unreadable attribute types are skipped
            continue
    return out


def _as_selection(key, n: int, axis: str) -> tuple[Selection, np.ndarray | None, bool]:
    """Normalise one index entry: (selection to read, order to restore or None, drop axis)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        i = int(key)
        if not -n <= i < n:
            raise IndexError(f"{axis} index {i} out of range for size {n}")
        i %= n
        return slice(i, i + 1, 1), None, True
    if isinstance(key, slice):
        start, stop, step = key.indices(n)
        if step > 0:
            return slice(start, max(start, stop), step), None, False
        key = np.arange(start, stop, step)
    idx = np.asarray(key)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise IndexError(f"boolean {axis} index must have shape ({n},), got {idx.shape}")
        idx = np.flatnonzero(idx)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise IndexError(f"{axis} index must be an int, a slice or a 1-D integer array, "
                         f"got {key!r}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"{axis} index out of range for size {n}")
    idx %= max(n, 1)
    uniq, inverse = np.unique(idx, return_inverse=True)
    return uniq, inverse.reshape(-1), False


def selection_length(sel: Selection) -> int:
    if isinstance(sel, slice):
        return len(range(sel.start, sel.stop, sel.step))
    return len(sel)


def _full(n: int) -> slice:
    return slice(0, n, 1)


def _as_slice(idx: np.ndarray) -> Selection:
    """Sorted unique indices as the equal slice when evenly spaced (HDF5 reads a slice as one
    hyperslab and any number of them per read), else unchanged."""
    if len(idx) == 1:
        return slice(int(idx[0]), int(idx[0]) + 1, 1)
    gaps = np.diff(idx)
    if len(idx) and (gaps == gaps[0]).all():
        return slice(int(idx[0]), int(idx[-1]) + 1, int(gaps[0]))
    return idx


def _covering(sel: Selection, step: int | None = None) -> slice:
    """The slice from the first to the last index of ``sel``, every ``step`` (default: the
    gcd of its gaps)."""
    if isinstance(sel, slice):
        last = sel.start + (selection_length(sel) - 1) * sel.step
        return slice(sel.start, last + 1, sel.step if step is None else step)
    if step is None:
        step = int(np.gcd.reduce(np.diff(sel))) if len(sel) > 1 else 1
    return slice(int(sel[0]), int(sel[-1]) + 1, step)


def _read_plan(ds, sels: list[Selection], lead: int, shape: Sequence[int]
               ) -> list[Selection]:
    """What to read for ``sels``: axes before ``lead`` (samples, time) as asked; the others
    widened where HDF5 gathers slowly. HDF5 copies a selection run by run of values
    contiguous in the file, at ~20 ns a run for 4-byte runs against ~3 ns a value for whole
    frames (measured), and walks steps inside a chunk value by value (~240 ns a value).
    So the innermost axes are read whole or as their covering range until a run holds
    :data:`MIN_RUN_BYTES`, and in a chunked dataset (whose chunks are read whole anyway)
    lists and steps not longer than a chunk become their covering range."""
    read = list(sels)
    chunks = ds.chunks
    if chunks is not None:
        for a in range(lead, len(read)):
            sel = read[a]
            if isinstance(sel, np.ndarray):
                sel = read[a] = _covering(sel)
            if sel.step > 1 and sel.step <= chunks[a]:
                read[a] = _covering(sel, 1)
    run = ds.dtype.itemsize
    for a in range(len(read) - 1, lead - 1, -1):
        if run >= MIN_RUN_BYTES:
            break
        cover = _covering(read[a], 1)
        n = shape[a]
        if selection_length(cover) * run >= MIN_RUN_BYTES or n * run > MAX_WIDEN_BYTES:
            read[a] = cover
            break
        read[a] = slice(0, n, 1)
        run *= n
    return read


def read_selection(ds, sels: Sequence[Selection], loop_axis: int | None = None,
                   lead: int = 0, shape: Sequence[int] | None = None) -> np.ndarray:
    """``ds`` at one selection per axis (slices with step > 0 or sorted unique indices), the
    result keeping every axis; the axes from ``lead`` on (channels, space) may be read as a
    larger block (:func:`_read_plan`) and picked in memory. ``shape``: ``ds.shape``, if known.

    HDF5 takes one index list a read: with several, ``loop_axis`` (when it holds one) is read
    one entry at a time; otherwise the list whose covering range would hold the most unwanted
    entries stays a list and the others are read as their covering slice (step: the gcd of
    their gaps). No axis reads more than its whole length, as every read did before.
    """
    sels = [_as_slice(s) if isinstance(s, np.ndarray) else s for s in sels]
    sizes = [selection_length(s) for s in sels]
    if 0 in sizes:
        return np.zeros(sizes, ds.dtype)
    shape = ds.shape if shape is None else shape  # ~20 us an h5py lookup
    read = _read_plan(ds, sels, lead, shape)
    lists = [a for a, s in enumerate(read) if isinstance(s, np.ndarray)]
    if len(lists) > 1 and loop_axis in lists:
        parts = [read_selection(ds, [*sels[:loop_axis], slice(int(i), int(i) + 1, 1),
                                     *sels[loop_axis + 1:]], lead=lead, shape=shape)
                 for i in sels[loop_axis]]
        return np.concatenate(parts, axis=loop_axis)
    if len(lists) > 1:
        waste = {a: selection_length(_covering(read[a])) / len(read[a]) for a in lists}
        keep = max(lists, key=lambda a: waste[a])
        read = [_covering(r) if a in lists and a != keep else r for a, r in enumerate(read)]
    out = ds[tuple(read)]
    for a, (sel, r) in enumerate(zip(sels, read, strict=True)):
        if r is sel or (isinstance(sel, slice) and r == sel):
            continue
        if isinstance(sel, slice):  # a view: the caller copies once
            first, k = (sel.start - r.start) // r.step, sel.step // r.step
            pick = slice(first, first + (selection_length(sel) - 1) * k + 1, k)
            out = out[(slice(None),) * a + (pick,)]
        else:
            out = np.take(out, (sel - r.start) // r.step, axis=a)
    return out


def _components(channels: np.ndarray, shape: Sequence[int]
                ) -> tuple[list[np.ndarray], tuple[np.ndarray, ...]]:
    """For flattened trailing component channels: the sorted unique index on each component
    axis to read, and each channel's position in what is read."""
    comps = np.unravel_index(channels, tuple(shape))
    read = [np.unique(c) for c in comps]
    return read, tuple(np.searchsorted(r, c) for r, c in zip(read, comps, strict=True))


class ArraySource:
    """Channels stored in one HDF5 dataset.

    Args:
        name: path of the dataset in the file.
        has_sample, has_time: whether the dataset has the sample / time axis (else broadcast).
        channel_axis: ``"after_time"`` (``(N, T, C, *grid)``), ``"trailing"`` (``n_components``
            trailing axes flattened into channels) or ``None`` (a single channel).
        n_components: number of trailing component axes (1 vector, 2 tensor) for ``"trailing"``.
        spatial_present: per spatial axis, whether the dataset has it (else broadcast).
        grid_shape: the full spatial shape.
    """

    def __init__(self, name: str, n_channels: int, grid_shape: Sequence[int], *,
                 has_sample: bool = True, has_time: bool = True,
                 channel_axis: str | None = None, n_components: int = 0,
                 spatial_present: Sequence[bool] | None = None):
        self.name = name
        self.n_channels = n_channels
        self.grid_shape = tuple(grid_shape)
        self.has_sample, self.has_time = has_sample, has_time
        self.channel_axis = channel_axis
        self.n_components = n_components
        self.spatial_present = tuple(spatial_present or [True] * len(self.grid_shape))

    def read(self, get: Callable[[str], h5py.Dataset], nsel: Selection, tsel: Selection,
             csel: np.ndarray | None = None, ssel: Sequence[Selection] | None = None
             ) -> np.ndarray:
        """``(len(nsel), len(tsel), len(csel), *len(ssel))`` values: channels ``csel``
        (sorted unique, of this source's; all by default) at spatial selections ``ssel`` (the
        whole grid by default). Only that part of the dataset is read."""
        ds = get(self.name)
        whole = csel is None and ssel is None
        csel = np.arange(self.n_channels) if csel is None else csel
        ssel = [_full(g) for g in self.grid_shape] if ssel is None else list(ssel)
        nn, nt, nc = selection_length(nsel), selection_length(tsel), len(csel)
        sels = ([nsel] if self.has_sample else []) + ([tsel] if self.has_time else [])
        lead = len(sels)
        # one index list per HDF5 read: with lists of samples and of times, loop over samples
        both_lists = (self.has_sample and self.has_time and isinstance(nsel, np.ndarray)
                      and isinstance(tsel, np.ndarray))
        picks = None
        if whole:  # whole frames, as fast as before: no shape lookups, no picking
            arr = np.stack([ds[int(i), tsel] for i in nsel]) if both_lists \
                else ds[tuple(sels)]
            if self.channel_axis == "trailing":
                arr = arr.reshape(*arr.shape[: arr.ndim - self.n_components], -1)
                arr = np.moveaxis(arr, -1, lead)
        else:
            if self.channel_axis == "after_time":
                sels.append(csel)
            sels += [s for s, keep in zip(ssel, self.spatial_present, strict=True) if keep]
            shape = ds.shape
            if self.channel_axis == "trailing" and self.n_components == 1:
                sels.append(csel)  # sorted: read in the order asked
                picks = (slice(None),)
            elif self.channel_axis == "trailing":
                comps, picks = _components(csel, shape[len(shape) - self.n_components:])
                sels += comps
            arr = read_selection(ds, sels, loop_axis=0 if both_lists else None, lead=lead,
                                 shape=shape)
        if picks is not None:  # (..., *components) -> (..., channels) -> channels after time
            arr = np.moveaxis(arr[(Ellipsis, *picks)], -1, lead)
        if self.channel_axis is None:
            arr = np.expand_dims(arr, lead)
        if not self.has_sample:
            arr = arr[None]
        if not self.has_time:
            arr = arr[:, None]
        # the channel axis is now 2; insert absent spatial axes and broadcast
        for axis, present in enumerate(self.spatial_present):
            if not present:
                arr = np.expand_dims(arr, 3 + axis)
        full = (nn, nt, nc, *(selection_length(s) for s in ssel))
        return arr if arr.shape == full else np.broadcast_to(arr, full)


class GroupedSource:
    """One group per trajectory (``groups[i]``), each with ``data (T, *grid[, C])``."""

    def __init__(self, groups: Sequence[str], n_channels: int, grid_shape: Sequence[int],
                 dataset: str = "data", trailing_channel: bool = True):
        self.groups = list(groups)
        self.n_channels = n_channels
        self.grid_shape = tuple(grid_shape)
        self.dataset = dataset
        self.trailing_channel = trailing_channel

    def read(self, get: Callable[[str], h5py.Dataset], nsel: Selection, tsel: Selection,
             csel: np.ndarray | None = None, ssel: Sequence[Selection] | None = None
             ) -> np.ndarray:
        """As :meth:`ArraySource.read`: one read of each group's ``data``."""
        whole = csel is None and ssel is None
        csel = np.arange(self.n_channels) if csel is None else csel
        ssel = [_full(g) for g in self.grid_shape] if ssel is None else list(ssel)
        ids = range(nsel.start, nsel.stop, nsel.step) if isinstance(nsel, slice) else nsel
        sels = [tsel, *ssel] + ([csel] if self.trailing_channel else [])
        out = np.empty((len(ids), selection_length(tsel), len(csel),
                        *(selection_length(s) for s in ssel)), np.float32)
        for row, i in enumerate(ids):
            ds = get(f"{self.groups[int(i)]}/{self.dataset}")
            arr = ds[tsel] if whole else read_selection(ds, sels, lead=1)
            out[row] = np.moveaxis(arr, -1, 1) if self.trailing_channel else arr[:, None]
        return out


def _expand_ellipsis(key: tuple, ndim: int) -> tuple:
    """``key`` with an Ellipsis among its first two entries replaced by full slices, as numpy
    counts them: ``None`` takes no axis, a boolean array as many as it has. (Further on, numpy
    applies it: an Ellipsis there also keeps index lists around it apart, even for no axis.)"""
    where = [j for j, k in enumerate(key) if k is Ellipsis]
    if not where:
        return key
    if len(where) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if where[0] >= 2:
        return key
    i = where[0]
    return key[:i] + (slice(None),) * max(0, ndim - _axes_taken(key)) + key[i + 1:]


def _axes_taken(key) -> int:
    """How many axes the entries of ``key`` index (not None or Ellipsis; a boolean array as
    many as it has)."""
    return sum(0 if k is None or k is Ellipsis
               else np.ndim(k) if isinstance(k, np.ndarray) and k.dtype == bool else 1
               for k in key)


def _plan(rest: tuple, shape: Sequence[int]) -> tuple[list[Selection], tuple] | None:
    """What to read of the channel and spatial axes (``shape``) for index entries ``rest``,
    and the entries that give the result from what was read: ``(selections, entries)``, or
    None for entries numpy alone handles (boolean arrays, too many entries, anything not an
    int, slice, None, Ellipsis or integer array), which then apply to whole frames."""
    sels: list[Selection] = []
    entries = []
    for k in rest:
        if k is None or k is Ellipsis:
            entries.append(k)
            if k is Ellipsis:  # kept: numpy keeps lists on either side of it apart
                span = len(shape) - _axes_taken(rest)
                sels += [_full(m) for m in shape[len(sels): len(sels) + span]]
            continue
        if len(sels) == len(shape):
            return None
        m = shape[len(sels)]
        if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            if not -m <= k < m:
                raise IndexError(f"index {int(k)} out of range for axis {2 + len(sels)} of "
                                 f"size {m}")
            sels.append(slice(int(k) % m, int(k) % m + 1, 1))
            entries.append(0)
        elif isinstance(k, slice):
            r = range(*k.indices(m))
            if not r:
                sels.append(slice(0, 0, 1))
                entries.append(slice(None))
            elif r.step > 0:
                sels.append(slice(r[0], r[-1] + 1, r.step))
                entries.append(slice(None))
            else:  # HDF5 reads increasing slices only: read it forwards, reverse in memory
                sels.append(slice(r[-1], r[0] + 1, -r.step))
                entries.append(slice(None, None, -1))
        else:
            idx = np.asarray(k)
            if idx.dtype.kind not in "iu":
                return None
            if idx.size and (idx.min() < -m or idx.max() >= m):
                raise IndexError(f"index out of range for axis {2 + len(sels)} of size {m}")
            idx = idx.astype(np.int64) % max(m, 1)
            uniq = np.unique(idx)
            sels.append(uniq if uniq.size else slice(0, 0, 1))
            entries.append(np.searchsorted(uniq, idx))
    sels += [_full(m) for m in shape[len(sels):]]
    return sels, tuple(entries)


class LazyArray:
    """Read-on-index ``(N, T, C, *grid)`` float32 array over ``sources`` (channels in order).

    ``get(name)`` returns the named HDF5 dataset, opened by the calling process; ``where``
    (the file) names it in read errors. A value of a float64 file beyond float32's range is a
    ValueError when it is read, naming the file, variable and value.
    """

    def __init__(self, get: Callable[[str], h5py.Dataset], sources: Sequence,
                 shape: Sequence[int], where: str = "dataset"):
        self._get = get
        self.where = where
        self.sources = list(sources)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(np.float32)
        if sum(s.n_channels for s in self.sources) != self.shape[2]:
            raise ValueError("sources do not add up to the channel count")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"LazyArray(shape={self.shape}, dtype=float32)"

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        key = _expand_ellipsis(key, self.ndim)
        key = key + (slice(None),) * max(0, 2 - len(key))
        nsel, norder, ndrop = _as_selection(key[0], self.shape[0], "sample")
        tsel, torder, tdrop = _as_selection(key[1], self.shape[1], "time")
        rest = key[2:]
        plan = _plan(rest, self.shape[2:]) if rest else None
        sels, entries = plan if plan is not None else (None, rest)
        if sels is not None and all(isinstance(s, slice) and s == _full(m)
                                    for s, m in zip(sels, self.shape[2:], strict=True)):
            sels = None  # whole frames: the sources' plain reads
        sizes = self.shape[2:] if sels is None else [selection_length(s) for s in sels]
        shape = (selection_length(nsel), selection_length(tsel), *sizes)
        if 0 in shape:
            out = np.zeros(shape, np.float32)
        else:
            try:
                if sels is None:
                    parts = [self._float32(s.read(self._get, nsel, tsel), s)
                             for s in self.sources]
                else:
                    parts = self._read_parts(nsel, tsel, sels)
            except OSError as e:
                if self.where in str(e):  # already says which file (the reader's open errors)
                    raise
                # h5py's read errors name neither the file nor the part being read
                raise type(e)(f"{self.where!r}: reading samples {key[0]!r}, times {key[1]!r} "
                              f"failed: {e}") from None
            out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)
            if not (out.flags.writeable and out.flags.c_contiguous):  # broadcast views
                out = np.array(out, dtype=np.float32, order="C")
        if norder is not None:
            out = out[norder]
        if torder is not None:
            out = out[:, torder]
        if ndrop and tdrop:
            out = out[0, 0]
        elif ndrop:
            out = out[0]
        elif tdrop:
            out = out[:, 0]
        if entries:
            out = out[(slice(None),) * (2 - ndrop - tdrop) + tuple(entries)]
        return out

    def _float32(self, raw, source) -> np.ndarray:
        """``raw`` (what ``source`` read) as float32; a finite value beyond float32's range (a
        float64 file) is a ValueError naming the file, variable and value: cast, it was inf,
        and the data's finite check then said the file held NaN or Inf."""
        raw = np.asarray(raw)
        if raw.dtype == np.float32 or raw.dtype.kind != "f" or raw.dtype.itemsize <= 4:
            return raw.astype(np.float32, copy=False)
        with np.errstate(over="ignore"):
            out = raw.astype(np.float32)
        inf = np.isinf(out)
        if inf.any():
            big = raw[inf & np.isfinite(raw)]
            if big.size:
                raise ValueError(
                    f"{self.where!r}: variable {source.name!r} holds {float(big[0]):g}, beyond "
                    f"the range of float32 (largest {float(np.finfo(np.float32).max):.4g}), in "
                    "which fields are read and trained: rescale the data (other units, or "
                    "nondimensionalised)")
        return out

    def _read_parts(self, nsel: Selection, tsel: Selection, sels: list[Selection]
                    ) -> list[np.ndarray]:
        """Each source's share of channels ``sels[0]`` at spatial selections ``sels[1:]``,
        in channel order; sources holding none of those channels are not read."""
        csel = sels[0] if isinstance(sels[0], np.ndarray) else np.arange(
            sels[0].start, sels[0].stop, sels[0].step)
        parts, first = [], 0
        for s in self.sources:
            # this source's channels among those wanted, counted from its first
            mine = csel[(csel >= first) & (csel < first + s.n_channels)] - first
            first += s.n_channels
            if mine.size:
                parts.append(self._float32(s.read(self._get, nsel, tsel, mine, sels[1:]), s))
        return parts
