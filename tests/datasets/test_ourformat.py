"""Our netCDF file: writer round trip, xarray compatibility, chunking, atomic rename."""

import json
import os

import h5py
import numpy as np
import pytest
import xarray as xr

from pdesurrogate.datasets import DatasetWriter, compute_stats, open_dataset, ourformat
from pdesurrogate.datasets.ourformat import MAX_CHUNK_BYTES, chunk_shape
from pdesurrogate.datasets.temp_files import host_tag


def _write(path, u, params, grid, grid_names, times, **kw):
    n = u.shape[0]
    with DatasetWriter(path, "toy", grid, grid_names, times, [f"c{i}" for i in range(u.shape[2])],
                       list(params), n, attrs={"extra": {"a": 1}}, **kw) as w:
        half = n // 2
        w.write(0, u[:half], {k: v[:half] for k, v in params.items()})
        w.write(half, u[half:], {k: v[half:] for k, v in params.items()}, seed=7)


def test_round_trip_1d_exact_values(tmp_path):
    """Every float32 value, coordinate and parameter reads back bit-identical (tolerance 0)."""
    rng = np.random.default_rng(0)
    u = rng.standard_normal((5, 4, 2, 16)).astype(np.float32)
    params = {"nu": rng.uniform(size=5), "beta": rng.uniform(size=5)}
    x = np.linspace(0, 1, 16, endpoint=False)
    times = np.array([0.0, 0.1, 0.2, 0.5])
    path = tmp_path / "a.nc"
    _write(path, u, params, (x,), ("x",), times, seed=3, solver_settings={"n_points": 16})
    with open_dataset(path) as d:
        assert d.format == "pdesurrogate" and d.pde == "toy" and len(d) == 5
        assert d.u.shape == (5, 4, 2, 16) and d.u.dtype == np.float32
        np.testing.assert_array_equal(d.u[:], u)
        np.testing.assert_array_equal(d.times, times)
        np.testing.assert_array_equal(d.grid[0], x)
        assert d.grid_names == ("x",) and d.channel_names == ("c0", "c1")
        assert list(d.params) == ["nu", "beta"]
        np.testing.assert_array_equal(d.params["nu"], params["nu"])
        np.testing.assert_array_equal(d.sim_id, np.arange(5))
        assert d.attrs["Conventions"] == "CF-1.8" and d.attrs["seed"] == 3
        assert json.loads(d.attrs["solver_settings"]) == {"n_points": 16}
        assert json.loads(d.attrs["extra"]) == {"a": 1}
        assert isinstance(d.attrs["pdesurrogate_version"], str)
    with h5py.File(path) as f:
        assert f["u"].chunks == (1, 4, 2, 16)
        np.testing.assert_array_equal(f["seed"][()], [-1, -1, 7, 7, 7])


def test_xarray_opens_2d_file(tmp_path):
    """xarray (engine h5netcdf) sees u(sample, time, channel, y, x), coordinates with units,
    string channel names and parameter variables; values equal what was written (exact)."""
    rng = np.random.default_rng(1)
    u = rng.standard_normal((3, 2, 1, 4, 6)).astype(np.float32)
    y, x = np.arange(4) * 0.25, np.arange(6) / 6
    path = tmp_path / "b.nc"
    _write(path, u, {"kappa": np.arange(3.0)}, (y, x), ("y", "x"), [0.0, 1.0])
    ds = xr.open_dataset(path, engine="h5netcdf")
    try:
        assert ds["u"].dims == ("sample", "time", "channel", "y", "x")
        assert ds["u"].dtype == np.float32
        np.testing.assert_array_equal(ds["u"].values, u)
        assert list(ds["channel"].values) == ["c0"]
        assert ds["x"].attrs["units"] == "1" and ds["time"].attrs["units"] == "1"
        assert ds["kappa"].attrs["kind"] == "parameter"
        np.testing.assert_array_equal(ds["kappa"].values, np.arange(3.0))
        assert ds["sim_id"].dtype == np.int64
        assert ds.attrs["pde"] == "toy"
    finally:
        ds.close()
    with open_dataset(path) as d:
        assert d.grid_names == ("y", "x")
        np.testing.assert_array_equal(d.u[1, 1], u[1, 1])


def test_exception_leaves_no_file(tmp_path):
    """An exception inside the with block deletes the temporary file; nothing under path."""
    path = tmp_path / "c.nc"
    with pytest.raises(KeyError):
        with DatasetWriter(path, "toy", (np.arange(4.0),), ("x",), [0.0], ["u"], [], 2) as w:
            w.write(0, np.zeros((1, 1, 1, 4)), {})
            assert [p.name for p in tmp_path.iterdir()] == [w.tmp_path.name]
            assert w.tmp_path.name.startswith(".c.nc.") and w.tmp_path.suffix == ".tmp"
            raise KeyError("boom")
    assert os.listdir(tmp_path) == []


def test_missing_samples_is_an_error(tmp_path):
    """Closing before all samples were written raises and leaves no file."""
    path = tmp_path / "d.nc"
    with pytest.raises(RuntimeError, match="never written"):
        with DatasetWriter(path, "toy", (np.arange(4.0),), ("x",), [0.0], ["u"], [], 3) as w:
            w.write(0, np.zeros((2, 1, 1, 4)), {})
    assert os.listdir(tmp_path) == []


def test_bad_inputs_name_the_problem(tmp_path):
    """Wrong shapes, NaNs, missing parameters and reserved names raise ValueError."""
    path = tmp_path / "e.nc"
    with pytest.raises(ValueError, match="reserved"):
        DatasetWriter(path, "toy", (np.arange(4.0),), ("x",), [0.0], ["u"], ["time"], 1)
    with DatasetWriter(path, "toy", (np.arange(4.0),), ("x",), [0.0], ["u"], ["nu"], 2) as w:
        with pytest.raises(ValueError, match="shape"):
            w.write(0, np.zeros((1, 1, 1, 5)), {"nu": [1.0]})
        with pytest.raises(ValueError, match="missing"):
            w.write(0, np.zeros((1, 1, 1, 4)), {})
        with pytest.raises(ValueError, match="NaN"):
            w.write(0, np.full((1, 1, 1, 4), np.nan), {"nu": [1.0]})
        with pytest.raises(ValueError, match="outside"):
            w.write(1, np.zeros((2, 1, 1, 4)), {"nu": [1.0, 2.0]})
        w.write(0, np.zeros((2, 1, 1, 4)), {"nu": [1.0, 2.0]})
    assert path.exists()


def _chunk_bytes(chunks, itemsize=4):
    return int(np.prod(chunks)) * itemsize


def _chunks_of_2d(path, u) -> tuple[int, ...]:
    """Write ``u`` ``(N, T, C, ny, nx)`` on index coordinates; the chunk shape of its ``u``."""
    n, t, _, ny, nx = u.shape
    _write(path, u, {"nu": np.arange(float(n))}, (np.arange(float(ny)), np.arange(float(nx))),
           ("y", "x"), np.arange(float(t)))
    with h5py.File(path) as f:
        return f["u"].chunks


@pytest.mark.parametrize("grid_shape, n_times", [((1024,), 201), ((128, 128), 21)],
                         ids=["1d", "2d"])
def test_chunks_hold_a_few_frames(tmp_path, grid_shape, n_times):
    """A chunk of u holds about 128 KiB of whole frames, not a whole trajectory: a training
    pair of a random trajectory then reads one or two small chunks (a trajectory chunk made it
    read all T frames)."""
    grid = [np.arange(float(n)) for n in grid_shape]
    names = ("y", "x")[2 - len(grid):]
    u = np.random.default_rng(0).standard_normal((2, n_times, 1, *grid_shape)).astype(np.float32)
    path = tmp_path / "c.nc"
    _write(path, u, {"nu": np.ones(2)}, grid, names, np.arange(float(n_times)))
    with h5py.File(path) as f:
        chunks = f["u"].chunks
    frame = _chunk_bytes(grid_shape)
    tc = chunks[1]
    assert chunks == (1, tc, 1, *grid_shape)  # whole frames, one trajectory, all channels
    assert 1 <= tc < n_times
    most = 128 * 2**10 // frame  # frames of the largest chunk within 128 KiB
    count = -(-n_times // tc)
    # no more chunks than chunks of the largest size would need, as equal as they can be
    # (the padding of the last one is less than a frame per chunk)
    assert _chunk_bytes(chunks) <= 128 * 2**10 and count == -(-n_times // most)
    assert 0 <= count * tc - n_times < count
    with open_dataset(path) as d:
        np.testing.assert_array_equal(d.u[1, tc - 1: tc + 1], u[1, tc - 1: tc + 1])


def test_the_file_holds_little_more_than_its_data(tmp_path):
    """Uncompressed HDF5 stores a partial last chunk at full size: with chunks as equal as
    they can be, 33 saved times of 1024 points stay within 5 % of the data (chunks of 32
    frames stored 64, twice the data; review)."""
    u = np.random.default_rng(1).standard_normal((40, 33, 1, 1024)).astype(np.float32)
    path = tmp_path / "t33.nc"
    _write(path, u, {"nu": np.ones(40)}, [np.arange(1024.0)], ("x",), np.arange(33.0))
    with h5py.File(path) as f:
        stored = f["u"].id.get_storage_size()
    assert u.nbytes <= stored <= 1.05 * u.nbytes
    with open_dataset(path) as d:
        np.testing.assert_array_equal(d.u[:], u)


def test_large_frames_are_split_along_the_first_grid_axis():
    """A frame above MAX_CHUNK_BYTES is cut along its first grid axis (then the next) into
    chunks of at most MAX_CHUNK_BYTES, and not much smaller; channels and later axes stay
    whole while that is enough."""
    for t, c, shape in ((5, 3, (2048, 2048)), (11, 1, (512, 512, 512)), (3, 2, (2**22,))):
        chunks = chunk_shape(t, c, shape)
        assert chunks[:3] == (1, 1, c) and chunks[4:] == shape[1:], chunks
        assert chunks[3] < shape[0]
        assert MAX_CHUNK_BYTES // 2 < _chunk_bytes(chunks) <= MAX_CHUNK_BYTES
    # one slab of the first axis is itself too large: the second axis is cut as well
    chunks = chunk_shape(2, 1, (4, 2**21))
    assert chunks[:4] == (1, 1, 1, 1) and _chunk_bytes(chunks) <= MAX_CHUNK_BYTES


def test_split_frames_written_and_read_back(tmp_path, monkeypatch):
    """The writer uses the split chunks for frames above the limit (lowered here to keep the
    file tiny), and the values read back exactly."""
    # 4 rows of 2 channels x 6 float32, target below the frame as with the real sizes
    monkeypatch.setattr(ourformat, "MAX_CHUNK_BYTES", 4 * 2 * 6 * 4)
    monkeypatch.setattr(ourformat, "TARGET_CHUNK_BYTES", 6 * 4)
    u = np.random.default_rng(3).standard_normal((3, 4, 2, 10, 6)).astype(np.float32)
    path = tmp_path / "s.nc"
    assert _chunks_of_2d(path, u) == (1, 1, 2, 4, 6)
    with open_dataset(path) as d:
        np.testing.assert_array_equal(d.u[:], u)
        np.testing.assert_array_equal(d.u[2, 1:3], u[2, 1:3])


def test_files_with_whole_trajectory_chunks_still_read(tmp_path, monkeypatch):
    """Files written before chunks held a few frames (one trajectory per chunk) read the same:
    the reader and the statistics do not depend on the chunk shape."""
    monkeypatch.setattr(ourformat, "chunk_shape", lambda t, c, shape: (1, t, c, *shape))
    u = np.random.default_rng(4).standard_normal((4, 21, 1, 128, 128)).astype(np.float32)
    path = tmp_path / "old.nc"
    assert _chunks_of_2d(path, u) == (1, 21, 1, 128, 128)
    with open_dataset(path) as d:
        np.testing.assert_array_equal(d.u[2, 5:7], u[2, 5:7])
        np.testing.assert_array_equal(d.u[[3, 0], 20], u[[3, 0], 20])
        stats = compute_stats(d, [0, 1, 2])
    np.testing.assert_allclose(stats.mean, [u[:3].astype(np.float64).mean()], rtol=1e-6)


@pytest.mark.parametrize("compression, level, stored_level", [
    ("gzip", None, 4), ("gzip", 1, 1), ("gzip", 9, 9), ("lzf", None, None)])
def test_compressed_files_read_back_bit_identical(tmp_path, compression, level, stored_level):
    """Opt-in compression of u (with the byte-shuffle filter) through h5py's filters: the file
    is smaller than the uncompressed one (the default) and open_dataset and xarray read every
    value back bit for bit; the small variables stay uncompressed."""
    rng = np.random.default_rng(2)
    y, x = np.arange(32) / 32, np.arange(48) / 48
    t = np.arange(6) * 0.1
    # smooth fields plus float32 noise: compressible, and every mantissa bit in use
    u = (np.sin(2 * np.pi * (x[None, None, None, None] + t[None, :, None, None, None]))
         * np.cos(2 * np.pi * y[None, None, None, :, None]) * rng.uniform(1, 2, (4, 1, 1, 1, 1))
         + 1e-3 * rng.standard_normal((4, 6, 2, 32, 48))).astype(np.float32)
    params = {"nu": rng.uniform(size=4)}
    plain, packed = tmp_path / "plain.nc", tmp_path / "packed.nc"
    _write(plain, u, params, (y, x), ("y", "x"), t)
    _write(packed, u, params, (y, x), ("y", "x"), t, compression=compression,
           compression_level=level)
    with h5py.File(plain) as f, h5py.File(packed) as g:
        assert f["u"].compression is None and not f["u"].shuffle  # the default
        assert g["u"].compression == compression and g["u"].shuffle
        assert g["u"].compression_opts == stored_level
        assert g["u"].chunks == f["u"].chunks
        assert g["nu"].compression is None and g["time"].compression is None
        assert g["u"].id.get_storage_size() < 0.9 * f["u"].id.get_storage_size()
    with open_dataset(packed) as d, open_dataset(plain) as e:
        np.testing.assert_array_equal(d.u[:], u)
        np.testing.assert_array_equal(d.u[2, 1:5:2], e.u[2, 1:5:2])
        np.testing.assert_array_equal(d.params["nu"], params["nu"])
    ds = xr.open_dataset(packed, engine="h5netcdf")
    try:
        np.testing.assert_array_equal(ds["u"].values, u)
    finally:
        ds.close()


@pytest.mark.parametrize("kw, message", [
    ({"compression": "zip"}, "compression must be None (uncompressed), 'gzip' or 'lzf', "
                             "got 'zip'"),
    ({"compression": "GZIP"}, "got 'GZIP'"),
    ({"compression": "gzip", "compression_level": 10},
     "compression_level must be an int from 0 to 9 (gzip), got 10"),
    ({"compression": "gzip", "compression_level": -1}, "from 0 to 9 (gzip), got -1"),
    ({"compression": "gzip", "compression_level": 4.0}, "from 0 to 9 (gzip), got 4.0"),
    ({"compression": "gzip", "compression_level": True}, "from 0 to 9 (gzip), got True"),
    ({"compression": "lzf", "compression_level": 3},
     "compression_level 3 goes with compression='gzip' only, got compression='lzf'"),
    ({"compression_level": 3}, "goes with compression='gzip' only, got compression=None"),
])
def test_a_bad_compression_is_refused_at_construction(tmp_path, kw, message):
    with pytest.raises(ValueError) as err:
        DatasetWriter(tmp_path / "a.nc", "toy", [np.arange(4.0)], ["x"], [0.0], ["u"], [], 1,
                      **kw)
    assert message in str(err.value)
    assert list(tmp_path.iterdir()) == []  # no temporary file either


def _small(path, **kw):
    with DatasetWriter(path, "toy", (np.arange(4.0),), ("x",), [0.0], ["u"], [], 2, **kw) as w:
        w.write(0, np.ones((2, 1, 1, 4)), {})


def test_a_link_planted_at_the_temporary_name_is_never_followed(tmp_path, monkeypatch):
    """The temporary file's name is random and HDF5 creates it exclusively: a link planted
    where it used to be (``out.nc.tmp-<pid>``, predictable) is neither truncated through nor
    renamed into place."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    planted = tmp_path / f"out.nc.tmp-{os.getpid()}"
    planted.symlink_to(victim)
    _small(tmp_path / "out.nc")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "out.nc").is_symlink()
    with open_dataset(tmp_path / "out.nc") as d:
        np.testing.assert_array_equal(d.u[:], np.ones((2, 1, 1, 4)))

    # even a link at the very name drawn is refused (h5py mode "w-": O_CREAT | O_EXCL), and
    # another name drawn
    names = iter([tmp_path / ".b.nc.drawn.tmp", tmp_path / ".b.nc.other.tmp"])
    (tmp_path / ".b.nc.drawn.tmp").symlink_to(victim)
    monkeypatch.setattr(ourformat, "temp_name", lambda path: next(names))
    _small(tmp_path / "b.nc")
    assert victim.read_text() == "precious" and (tmp_path / ".b.nc.drawn.tmp").is_symlink()
    assert not os.path.lexists(tmp_path / ".b.nc.other.tmp")


def test_temporaries_of_killed_writers_are_removed(tmp_path):
    """A temporary file a killed writer left (its process gone, same host) is removed by the
    next writer of the same file, with a warning; one of a live process stays."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    host = host_tag()
    left = tmp_path / f".t.nc.{host}.{p.pid}.0123456789abcdef.tmp"
    live = tmp_path / f".t.nc.{host}.{os.getpid()}.fedcba9876543210.tmp"
    left.write_bytes(b"half")
    live.write_bytes(b"busy")
    with pytest.warns(UserWarning, match=rf"removed .*{left.name}.*process {p.pid}, no longer"):
        _small(tmp_path / "t.nc")
    assert sorted(os.listdir(tmp_path)) == sorted(["t.nc", live.name])
