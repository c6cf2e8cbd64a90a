"""Lazy ``(N, T, C, *grid)`` views assembled from HDF5 datasets of different layouts.

A :class:`LazyArray` reads only what is indexed. Its channels come from one or more *sources*,
each knowing how one HDF5 object stores its part of the data:

* :class:`ArraySource`: one dataset per (group of) channel(s), with or without the sample and
  time axes (a missing axis is broadcast), channels either right after time (our format) or as
  trailing component axes (PDEBench ``(N, T, X, Y, C)``, The Well vectors ``(..., D)`` and
  tensors ``(..., D, D)``), spatial axes possibly absent (The Well's ``dim_varying``);
* :class:`GroupedSource`: one group per trajectory holding ``data (T, *grid[, C])`` (PDEBench's
  diffusion-reaction, shallow-water and diffusion-sorption files).

Indexing on the first two axes takes ints, slices (any step) and 1-D integer arrays; further
index entries (channel, space) are applied with numpy to what was read. Index lists on both the
sample and time axes select their cross product (orthogonal indexing, as in h5py and xarray),
not numpy's pointwise pairs. HDF5 wants increasing
indices and at most one index list per read, so lists are sorted and deduplicated before the
read and put back in the requested order after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import h5py
import numpy as np

Selection = slice | np.ndarray  # slice with step > 0, or sorted unique int64 indices


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

    def read(self, get: Callable[[str], h5py.Dataset], nsel: Selection, tsel: Selection
             ) -> np.ndarray:
        ds = get(self.name)
        nn, nt = selection_length(nsel), selection_length(tsel)
        lead = ([nsel] if self.has_sample else []) + ([tsel] if self.has_time else [])
        both_lists = (self.has_sample and self.has_time and isinstance(nsel, np.ndarray)
                      and isinstance(tsel, np.ndarray))
        if both_lists:  # one index list per HDF5 read: loop over samples
            arr = np.stack([ds[int(i), tsel] for i in nsel]) if nn else None
        else:
            arr = ds[tuple(lead)]
        if arr is None:
            return np.zeros((0, nt, self.n_channels, *self.grid_shape), np.float32)
        if not self.has_sample:
            arr = np.broadcast_to(arr[None], (nn, *arr.shape))
        if not self.has_time:
            arr = np.broadcast_to(arr[:, None], (nn, nt, *arr.shape[1:]))
        if self.channel_axis is None:
            arr = arr[:, :, None]
        elif self.channel_axis == "trailing":
            k = self.n_components
            arr = arr.reshape(*arr.shape[: arr.ndim - k], -1)
            arr = np.moveaxis(arr, -1, 2)
        # the channel axis is now 2; insert absent spatial axes and broadcast
        for axis, present in enumerate(self.spatial_present):
            if not present:
                arr = np.expand_dims(arr, 3 + axis)
        full = (nn, nt, self.n_channels, *self.grid_shape)
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

    def read(self, get: Callable[[str], h5py.Dataset], nsel: Selection, tsel: Selection
             ) -> np.ndarray:
        ids = range(nsel.start, nsel.stop, nsel.step) if isinstance(nsel, slice) else nsel
        nt = selection_length(tsel)
        out = np.empty((len(ids), nt, self.n_channels, *self.grid_shape), np.float32)
        for row, i in enumerate(ids):
            arr = get(f"{self.groups[int(i)]}/{self.dataset}")[tsel]
            out[row] = np.moveaxis(arr, -1, 1) if self.trailing_channel else arr[:, None]
        return out


class LazyArray:
    """Read-on-index ``(N, T, C, *grid)`` float32 array over ``sources`` (channels in order).

    ``get(name)`` returns the named HDF5 dataset, opened by the calling process; ``where``
    (the file) names it in read errors.
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
        if any(k is Ellipsis for k in key[:2]):
            i = next(j for j, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (self.ndim - len(key) + 1)
            key = key[:i] + fill + key[i + 1:]
        key = key + (slice(None),) * max(0, 2 - len(key))
        nsel, norder, ndrop = _as_selection(key[0], self.shape[0], "sample")
        tsel, torder, tdrop = _as_selection(key[1], self.shape[1], "time")
        nn, nt = selection_length(nsel), selection_length(tsel)
        if nn == 0 or nt == 0:
            out = np.zeros((nn, nt, *self.shape[2:]), np.float32)
        else:
            try:
                parts = [np.asarray(s.read(self._get, nsel, tsel), dtype=np.float32)
                         for s in self.sources]
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
        rest = key[2:]
        if rest:
            out = out[(slice(None),) * (2 - ndrop - tdrop) + tuple(rest)]
        return out
