"""ArrayPool: arrays are reused only when nothing else holds them, within a byte bound."""

import numpy as np
import pytest
import torch

from pdesurrogate.streaming import ArrayPool


def test_reuses_only_arrays_nobody_holds():
    """An array held by a view or a torch tensor is never handed out again; once its holders
    are gone it is."""
    pool = ArrayPool(max_bytes=1 << 20, min_bytes=0)
    a = pool.empty((64,), np.float32)
    first = id(a)
    view = a[3:]
    del a
    b = pool.empty((64,), np.float32)
    assert id(b) != first  # the view still reads the first array's memory
    del view
    c = pool.empty((64,), np.float32)
    assert id(c) == first and pool.reused == 1
    t = torch.from_numpy(c)
    del c
    d = pool.empty((64,), np.float32)
    assert id(d) != first
    t.fill_(7.0)  # the tensor's memory was not given away
    assert pool.reused == 1 and pool.allocated == 3
    del t
    assert id(pool.empty((64,), np.float32)) == first


def test_shape_dtype_and_bounds():
    """A different shape or dtype is a new array; arrays below min_bytes are never pooled;
    past max_bytes the oldest tracked array is forgotten."""
    pool = ArrayPool(max_bytes=3 * 4096, min_bytes=1024)
    a = pool.empty((1024,), np.float32)
    del a
    assert pool.empty((1024,), np.float64).dtype == np.float64
    assert pool.empty((2, 512), np.float32).shape == (2, 512)
    assert pool.reused == 0
    small = pool.empty((8,), np.float32)
    assert small.shape == (8,) and pool.allocated == 3  # not pooled
    held = [pool.empty((1024,), np.float32) for _ in range(3)]
    assert pool.nbytes <= 3 * 4096
    del held
    with pytest.raises(ValueError, match="scan"):
        ArrayPool(scan=0)


def test_empty_many_distinct_and_reused():
    """One request for a pack's arrays gives distinct arrays, reuses the free ones (never one
    array twice in a request) and allocates only the rest."""
    pool = ArrayPool(max_bytes=1 << 20, min_bytes=0)
    first = pool.empty_many((32,), np.float32, 3)
    held, ids = first[0], {id(a) for a in first}
    del first
    second = pool.empty_many((32,), np.float32, 4)
    assert len({id(a) for a in second}) == 4
    assert {id(a) for a in second} & ids == ids - {id(held)}
    assert id(held) not in {id(a) for a in second}
    assert (pool.reused, pool.allocated) == (2, 5)
    for a, v in zip(second, range(4), strict=True):
        a.fill(v)
    assert [float(a[0]) for a in second] == [0.0, 1.0, 2.0, 3.0]


def test_small_arrays_are_pooled_by_default():
    """A receiver's 4 KiB fields come back from the pool once drained (before, arrays under
    64 KiB were always new np.empty arrays: a pack of them then cost 0.3-2.3 us a field in
    the allocator, against 0.15 us from the pool)."""
    pool = ArrayPool()
    first = [id(a) for a in pool.empty_many((1, 1024), np.float32, 8)]
    again = [id(a) for a in pool.empty_many((1, 1024), np.float32, 8)]
    assert sorted(again) == sorted(first)
    assert pool.reused == 8 and pool.allocated == 8 and pool.nbytes == 8 * 4096
