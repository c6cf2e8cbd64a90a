"""Recycled receive arrays for the trainer's receiver thread.

A fresh multi-MiB numpy array is cheap to allocate but costs one page fault per 4 KiB page on
first write, and the receiver writes every array it allocates (MPI receives into it). While a
simulation's samples are pending and then held by the training buffer, the allocator cannot
reuse their memory, so each new array is fresh memory: measured on a 2-core machine, receiving
an 8 MiB field into a fresh array took ~3.5 ms against ~1 ms into memory already touched, i.e.
the faults cost more than MPI's own transfer. Small fields suffer too: the receiver frees
a drained pack's 4 KiB arrays together, the C allocator hands that memory back to the system,
and the next pack's arrays fault it in again (``np.empty`` of 4 KiB arrays in that pattern took
0.3-2.3 us each, against 0.15 us from the pool), so by default every size is pooled.

:class:`ArrayPool` hands out arrays and keeps a reference to each; an array whose only
remaining reference is the pool's (the sample holding it was drawn and dropped, or evicted) is
handed out again. "Only the pool's" is CPython's reference count: every holder of an array's
memory that numpy or torch knows of (views, ``torch.from_numpy`` tensors, memoryviews) holds a
reference to it, so an array is never reused while anything can still read it.
"""

from __future__ import annotations

import math
import sys
from collections import deque

import numpy as np

# references to a pooled array while _take checks it: the deque's, the local name's and
# getrefcount's argument
_POOL_ONLY = 3


class ArrayPool:
    """Arrays for received fields, reusing those nobody else holds any more.

    Args:
        max_bytes: most bytes of arrays the pool keeps track of; past it the oldest tracked
            array is forgotten (freed if nothing else holds it). Also bounds what the pool
            alone keeps alive.
        min_bytes: smaller arrays are plain ``np.empty``, neither tracked nor reused
            (default 0: every array is pooled).
        scan: arrays inspected per request (oldest first) before allocating a new one.
    """

    def __init__(self, max_bytes: int = 2**30, min_bytes: int = 0, scan: int = 8):
        for name, v, low in (("max_bytes", max_bytes, 0), ("min_bytes", min_bytes, 0),
                             ("scan", scan, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        self.max_bytes, self.min_bytes, self.scan = max_bytes, min_bytes, scan
        self._tracked: dict[tuple, deque[np.ndarray]] = {}
        self._bytes = 0
        self.reused = self.allocated = 0

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` and ``dtype``."""
        return self.empty_many(shape, dtype, 1)[0]

    def empty_many(self, shape: tuple[int, ...], dtype: np.dtype, n: int) -> list[np.ndarray]:
        """``n`` distinct uninitialised C-contiguous arrays of ``shape`` and ``dtype`` (one scan
        of the pool for all of them: the receiver asks for a pack's arrays at once)."""
        dtype = np.dtype(dtype)
        nbytes = _nbytes(shape, dtype)  # per message: math.prod, not np.prod (~40x slower)
        if nbytes < self.min_bytes or nbytes > self.max_bytes:
            return [np.empty(shape, dtype) for _ in range(n)]
        key = (tuple(shape), dtype.str)
        arrays = self._tracked.setdefault(key, deque())
        out: list[np.ndarray] = []
        for _ in range(min(self.scan + n - 1, len(arrays))):
            if len(out) == n:
                break
            arr = arrays[0]
            arrays.rotate(-1)  # checked: to the back, whether reused or still held
            # an array taken for this request has one more reference (out's): never twice
            if sys.getrefcount(arr) == _POOL_ONLY:
                self.reused += 1
                out.append(arr)
            del arr
        for _ in range(n - len(out)):
            arr = np.empty(shape, dtype)
            arrays.append(arr)
            out.append(arr)
            self._bytes += nbytes
            self.allocated += 1
        while self._bytes > self.max_bytes:
            self._forget_oldest()
        return out

    def _forget_oldest(self) -> None:
        # the largest group loses its front (least recently checked) array
        key = max(self._tracked, key=lambda k: len(self._tracked[k]) * _nbytes(*k))
        arr = self._tracked[key].popleft()
        self._bytes -= arr.nbytes
        if not self._tracked[key]:
            del self._tracked[key]

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays the pool tracks (in use or idle)."""
        return self._bytes


def _nbytes(shape: tuple[int, ...], dtype) -> int:
    return math.prod(shape) * np.dtype(dtype).itemsize
