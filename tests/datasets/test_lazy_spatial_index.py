"""LazyArray: the channel and spatial part of an index reaches the HDF5 read (a window of a
large frame reads the window, not the frame), with results unchanged for every index form."""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import lazy
from pdesurrogate.datasets.lazy import ArraySource, GroupedSource, LazyArray

N, T, X, Y = 3, 4, 12, 10


class _Counted:
    """An HDF5 dataset that records each read: ``(values returned, selection)``."""

    def __init__(self, ds: h5py.Dataset, log: list):
        self._ds, self._log = ds, log

    def __getitem__(self, sel):
        out = self._ds[sel]
        self._log.append((int(np.size(out)), sel))
        return out

    def __getattr__(self, name):
        return getattr(self._ds, name)


def _views(path, chunked: bool):
    """``{name: (LazyArray, full (N, T, C, X, Y) values, read log)}`` for each layout: ours
    ``(N, T, C, *grid)``; PDEBench trailing channels ``(N, T, X, Y, C)``; several sources as
    The Well has them (a scalar without the time axis and without y, a vector, a tensor); one
    group per trajectory with trailing channels. ``chunked``: 4 x 4 chunks of a frame."""
    rng = np.random.default_rng(0)
    f = h5py.File(path, "w")
    out = {}

    def store(name, values, grid_axis):
        chunks = None
        if chunked:
            chunks = [1] * values.ndim
            chunks[grid_axis: grid_axis + 2] = [4, 4]
            chunks[grid_axis + 2:] = values.shape[grid_axis + 2:]
        f.create_dataset(name, data=values, chunks=None if chunks is None else tuple(chunks))

    def view(name, sources, full):
        log: list = []
        arr = LazyArray(lambda key: _Counted(f[key], log), sources, full.shape, where=name)
        out[name] = (arr, full, log)

    ours = rng.standard_normal((N, T, 2, X, Y)).astype(np.float32)
    store("ours/u", ours, 3)
    view("ours", [ArraySource("ours/u", 2, (X, Y), channel_axis="after_time")], ours)

    pdebench = rng.standard_normal((N, T, X, Y, 3)).astype(np.float32)
    store("pdebench/tensor", pdebench, 2)
    view("pdebench", [ArraySource("pdebench/tensor", 3, (X, Y), channel_axis="trailing",
                                  n_components=1)], np.moveaxis(pdebench, -1, 2))

    scalar = rng.standard_normal((N, X)).astype(np.float32)  # no time, no y
    vector = rng.standard_normal((N, T, X, Y, 2)).astype(np.float32)
    tensor = rng.standard_normal((N, T, X, Y, 2, 2)).astype(np.float32)
    f["well/t0_fields/a"] = scalar
    store("well/t1_fields/v", vector, 2)
    store("well/t2_fields/s", tensor, 2)
    well = np.concatenate([
        np.broadcast_to(scalar[:, None, None, :, None], (N, T, 1, X, Y)),
        np.moveaxis(vector, -1, 2),
        np.moveaxis(tensor.reshape(N, T, X, Y, 4), -1, 2)], axis=2)
    view("well", [
        ArraySource("well/t0_fields/a", 1, (X, Y), has_time=False, spatial_present=(True, False)),
        ArraySource("well/t1_fields/v", 2, (X, Y), channel_axis="trailing", n_components=1),
        ArraySource("well/t2_fields/s", 4, (X, Y), channel_axis="trailing", n_components=2),
    ], well)

    grouped = rng.standard_normal((N, T, X, Y, 2)).astype(np.float32)
    for i in range(N):
        store(f"grouped/{i:04d}/data", grouped[i], 1)
    view("grouped", [GroupedSource([f"grouped/{i:04d}" for i in range(N)], 2, (X, Y))],
         np.moveaxis(grouped, -1, 2))
    return f, out


LAYOUTS = ["ours", "pdebench", "well", "grouped"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lazy")
    (f1, contiguous), (f2, chunked) = (_views(folder / f"{c}.h5", c) for c in (False, True))
    yield {False: contiguous, True: chunked}
    f1.close()
    f2.close()


@pytest.fixture
def no_widening(monkeypatch):
    """Every run of values counts as long enough: reads take exactly what is indexed (the
    test grids' rows are far shorter than the runs a read is otherwise widened to)."""
    monkeypatch.setattr(lazy, "MIN_RUN_BYTES", 1, raising=False)


def _entry(rng, size: int, length: int):
    """A random index entry for an axis of ``size``: an int (maybe negative), a slice (any
    step, maybe empty or reversed) or an unsorted integer list of ``length`` with repeats."""
    kind = rng.integers(4)
    if kind == 0:
        return int(rng.integers(-size, size))
    if kind in (1, 2):
        step = int(rng.choice([1, 2, 3, -1, -2, 5]))
        a, b = (int(v) if rng.random() < 0.8 else None for v in rng.integers(-size, size + 1, 2))
        return slice(a, b, step)
    return [int(v) for v in rng.integers(-size, size, length)]


def _reference(full, key0, key1, rest):
    """What LazyArray promises, in numpy on the whole array: lists on the sample and time
    axes index orthogonally, an int there drops the axis, and the further entries index the
    rest as numpy does."""
    a = full[[key0] if isinstance(key0, int) else key0]
    a = a[:, [key1] if isinstance(key1, int) else key1]
    drop = (isinstance(key0, int), isinstance(key1, int))
    a = a[0, 0] if all(drop) else a[0] if drop[0] else a[:, 0] if drop[1] else a
    return a[(slice(None),) * (2 - sum(drop)) + tuple(rest)]


def _keys(rng, shape):
    """Random ``(key, key0, key1, rest)``: key as a user writes it (maybe with an Ellipsis,
    a None, fewer entries), the others its sample and time entries and the further ones (an
    Ellipsis among these kept: numpy keeps index lists on either side of it apart)."""
    key0, key1 = (_entry(rng, s, int(rng.integers(0, 5))) for s in shape[:2])
    length = int(rng.integers(1, 5))  # numpy pairs the further lists: one length
    rest = [_entry(rng, s, length) for s in shape[2:]]
    for j in range(len(rest)):  # about half the axes untouched
        if rng.random() < 0.4:
            rest[j] = slice(None)
    form = rng.integers(5)
    if form == 0:  # trailing full slices left out
        while rest and rest[-1] == slice(None):
            rest.pop()
    elif form == 1:  # an Ellipsis for some middle axes, maybe none
        cut = int(rng.integers(0, len(rest)))
        gone = int(rng.integers(0, len(rest) - cut))
        rest = [*rest[:cut], Ellipsis, *rest[cut + gone:]]
    elif form == 2:  # an Ellipsis for the time axis
        key1 = slice(None)
        return (key0, Ellipsis, *rest), key0, key1, rest
    elif form == 3:  # a new axis somewhere among the further entries
        rest.insert(int(rng.integers(0, len(rest) + 1)), None)
    return (key0, key1, *rest), key0, key1, rest


@pytest.mark.parametrize("widen", [True, False], ids=["widened", "exact"])
@pytest.mark.parametrize("chunked", [False, True], ids=["contiguous", "chunked"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_random_keys_give_what_numpy_gives(files, layout, chunked, widen, monkeypatch):
    """150 random keys per layout, storage and widening: ints and negative ints, slices with steps
    (negative, empty), unsorted lists with repeats, Ellipsis, None; the same values and shape
    as numpy on the whole array (the orthogonal sample/time lists aside, numpy itself), with
    reads widened or not."""
    if not widen:
        monkeypatch.setattr(lazy, "MIN_RUN_BYTES", 1, raising=False)
    arr, full, _ = files[chunked][layout]
    rng = np.random.default_rng(1)
    for _ in range(150):
        key, key0, key1, rest = _keys(rng, full.shape)
        got = arr[key]
        want = _reference(full, key0, key1, rest)
        assert got.dtype == np.float32 and got.shape == want.shape, (key, got.shape, want.shape)
        np.testing.assert_array_equal(got, want, err_msg=repr(key))
        lists = sum(isinstance(k, list) for k in key)
        if lists == 0 or (lists == 1 and not any(isinstance(k, int) for k in key)):
            np.testing.assert_array_equal(got, full[key], err_msg=repr(key))


def _explicit(key, ndim):
    """``key`` with its Ellipsis written out as full slices and missing trailing ones added."""
    i = key.index(Ellipsis) if Ellipsis in key else len(key)
    return key[:i] + (slice(None),) * (ndim - len(key) + (i < len(key))) + key[i + 1:]


def _box(full, explicit) -> int:
    """The distinct entries each axis of ``explicit`` takes, crossed."""
    return int(np.prod([len(np.unique(np.arange(n)[k]))
                        for n, k in zip(full.shape, explicit, strict=True)]))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("key, covered", [
    ((1, 2, slice(None), slice(3, 7)), 1),          # a band of rows
    ((1, 2, 0, slice(None, None, 4), slice(None, None, 4)), 1),  # every 4th point
    ((1, slice(0, 4, 2), -1, slice(9, 1, -3), 4), 1),  # backwards, a column
    ((0, 3, Ellipsis, slice(2, 5)), 1),              # a band of columns
    ((2, [3, 0], 1, slice(1, 10, 3)), 1),            # a time list with a spatial slice
    ((1, 1, 0, [0, 1, 5], [7, 1, 2]), 2),            # two lists: rows 0..5 read, 3 kept
])
def test_a_window_reads_the_window(files, no_widening, layout, key, covered):
    """Only the indexed channels and points are read from the file: the distinct entries of
    each axis, crossed, not whole frames as before (``covered`` times more where a second
    index list is read as its covering range: HDF5 takes one list a read). The Well's scalar,
    stored without time and y, reads fewer."""
    arr, full, log = files[False][layout]
    log.clear()
    got = arr[key]
    explicit = _explicit(key, full.ndim)
    np.testing.assert_array_equal(got, _reference(full, explicit[0], explicit[1], explicit[2:]))
    read, box = sum(n for n, _ in log), _box(full, explicit)
    if layout == "well":
        assert read <= box * covered, (log, box)
    else:
        assert read == box * covered, (log, box)
    frames = len(np.unique(np.arange(T)[explicit[1]]))
    assert read < frames * full[0, 0].size / 2, (log, frames)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_chunked_files_read_the_chunks_a_window_needs(files, no_widening, layout):
    """In a chunked file a step within a chunk is read as its covering range (HDF5 reads the
    chunk whole anyway, and walks a step inside it value by value): the 4 x 4 chunks holding
    the window, not the whole frame, and HDF5 is never asked for a step on the grid."""
    arr, full, log = files[True][layout]
    log.clear()
    key = (1, 2, 0, slice(0, 8, 2), slice(1, 7, 3))
    np.testing.assert_array_equal(arr[key], full[key])
    read = sum(n for n, _ in log)
    assert read <= 8 * 8 * (4 if layout == "well" else 3), log  # a tensor's 4 components
    assert read < full[0, 0].size / 2, log
    for _, sel in log:
        if len(sel) > 2:  # not The Well's scalar (N, X), stored contiguous
            assert all(s.step in (None, 1) for s in sel[-3:] if isinstance(s, slice)), log


def test_short_runs_are_widened_to_whole_rows(tmp_path):
    """Every 4th point of one of two trailing channels (PDEBench's layout): both channels and
    whole rows of every 4th row are read (runs of 2 KiB, where HDF5 would copy 4-byte runs
    one by one, ~6x slower than whole frames per value), a quarter of the frame."""
    values = np.random.default_rng(3).standard_normal((1, 2, 16, 256, 2)).astype(np.float32)
    log: list = []
    with h5py.File(tmp_path / "wide.h5", "w") as f:
        f["tensor"] = values
        arr = LazyArray(lambda key: _Counted(f[key], log), [ArraySource(
            "tensor", 2, (16, 256), channel_axis="trailing", n_components=1)],
            (1, 2, 2, 16, 256))
        got = arr[0, 1, 0, ::4, ::4]
    np.testing.assert_array_equal(got, values[0, 1, ::4, ::4, 0])
    [(read, sel)] = log
    assert sel[2:] == (slice(0, 13, 4), slice(0, 253, 1), slice(0, 2, 1)), sel
    assert read == 4 * 253 * 2


def test_channels_of_other_sources_are_not_read(files, no_widening):
    """Channels of one source (The Well's tensor) read nothing from the others."""
    arr, full, log = files[False]["well"]
    log.clear()
    got = arr[0, 1, [4, 6]]  # the tensor's xx and yx components
    np.testing.assert_array_equal(got, full[0, 1, [4, 6]])
    assert [n for n, _ in log] == [2 * X * Y]


def test_errors_stay_index_errors(files):
    """Out-of-range channel or spatial entries and too many entries raise IndexError as
    numpy does, before anything is read; so do two Ellipses."""
    arr, full, log = files[False]["ours"]
    log.clear()
    for key in [(0, 0, 2), (0, 0, 0, X), (0, 0, 0, 0, [Y]), (0, 0, 0, -X - 1)]:
        with pytest.raises(IndexError, match="out of range"):
            arr[key]
    assert log == []
    with pytest.raises(IndexError, match="single ellipsis"):
        arr[Ellipsis, 0, Ellipsis]
    with pytest.raises(IndexError):
        arr[0, 0, 0, 0, 0, 0]  # too many indices: numpy's own error on the frame


def test_an_ellipsis_counts_new_axes_as_numpy_does(files):
    """``u[0, ..., None]`` appends an axis, as numpy does (the Ellipsis stood for one axis
    too many before, putting the new axis before the last grid axis)."""
    arr, full, _ = files[False]["ours"]
    assert arr[0, ..., None].shape == full[0, ..., None].shape == (T, 2, X, Y, 1)
    np.testing.assert_array_equal(arr[..., None, 3], full[..., None, 3])


def test_boolean_masks_still_index_whole_frames(files):
    """A boolean mask on a spatial axis is left to numpy, on whole frames, as before."""
    arr, full, _ = files[False]["pdebench"]
    mask = np.arange(Y) % 3 == 0
    np.testing.assert_array_equal(arr[1, 2, :, :, mask],
                                  _reference(full, 1, 2, (slice(None), slice(None), mask)))
    rows = np.arange(X) < 5
    np.testing.assert_array_equal(arr[1, 2, 0, rows], _reference(full, 1, 2, (0, rows)))
