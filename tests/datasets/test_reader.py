"""open_dataset: lazy indexing semantics, errors, process safety."""

import pickle

import h5py
import numpy as np
import pytest
import torch

from pdesurrogate.datasets import DatasetWriter, FieldData, open_dataset


@pytest.fixture
def small(tmp_path):
    rng = np.random.default_rng(2)
    u = rng.standard_normal((6, 5, 2, 8)).astype(np.float32)
    path = tmp_path / "s.nc"
    with DatasetWriter(path, "toy", (np.arange(8.0),), ("x",), np.arange(5.0), ["a", "b"],
                       ["nu"], 6) as w:
        w.write(0, u, {"nu": np.arange(6.0)})
    return path, u


KEYS = [
    3, -1, (2, 4), (slice(1, 5, 2),), (slice(None), 0), (slice(None, None, -1), slice(4, 0, -2)),
    ([4, 1, 1],), (np.array([5, 0]), slice(1, 3)), (slice(0, 2), [3, 0]), ([2, 0], [4, 1, 4]),
    (1, 2, 1), (Ellipsis, 3), (0, Ellipsis), (slice(2, 2),), (slice(None), [], 0),
]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_indexing_matches_numpy(small, key):
    """Lazy indexing returns exactly what numpy indexing of the full array returns (exact),
    for ints, slices (any step), unsorted/duplicate lists, ellipsis and trailing indices."""
    path, u = small
    with open_dataset(path) as d:
        got = d.u[key]
        assert isinstance(got, np.ndarray) and got.dtype == np.float32
        if isinstance(key, tuple) and all(isinstance(k, list) for k in key[:2]):
            want = u[np.ix_(*key)]  # lists on both axes index orthogonally (like h5py/xarray)
        else:
            want = u[key]
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        assert got.flags.writeable


def test_out_of_range_index(small):
    with open_dataset(small[0]) as d, pytest.raises(IndexError, match="sample"):
        d.u[6]


def test_missing_file_and_non_hdf5(tmp_path):
    """A missing file -> FileNotFoundError naming it; a text file -> ValueError naming it."""
    with pytest.raises(FileNotFoundError, match="nope.nc"):
        open_dataset(tmp_path / "nope.nc")
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt.*not an HDF5"):
        open_dataset(bad)


def test_truncated_file_named(small, tmp_path):
    """A file cut short (an interrupted copy) -> one OSError naming the file and saying it is
    truncated, not h5py's bare "Unable to synchronously open file"; a file removed under an
    open view -> an OSError naming it when the view reopens."""
    path, _ = small
    cut = tmp_path / "cut.nc"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(OSError, match=r"'.*cut\.nc' is truncated: \d+ bytes on disk") as info:
        open_dataset(cut)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    data = open_dataset(path)
    path.unlink()
    with pytest.raises(OSError, match=r"'.*s\.nc' cannot be opened"):
        data.u[0]


def test_unknown_layout_lists_keys(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["foo"] = np.zeros(3)
        f.create_group("bar")
    with pytest.raises(ValueError, match=r"other.h5.*\['bar', 'foo'\]"):
        open_dataset(path)


def test_pickle_reopens(small):
    """A pickled view (spawned DataLoader worker) carries no file handle and reopens lazily."""
    path, u = small
    d = open_dataset(path)
    d.u[0]
    d2 = pickle.loads(pickle.dumps(d))
    assert d2._file is None
    np.testing.assert_array_equal(d2.u[3, 1], u[3, 1])
    assert d2._file is not None and d2._file is not d._file
    d.close()
    d2.close()
    assert isinstance(d2, FieldData)


class _Frames(torch.utils.data.Dataset):
    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return torch.from_numpy(self.data.u[i, 2])


def test_forked_dataloader_workers(small):
    """Two forked DataLoader workers, parent handle already open: every frame exact."""
    path, u = small
    with open_dataset(path) as d:
        d.u[0]  # the parent opens its handle before the fork
        loader = torch.utils.data.DataLoader(_Frames(d), batch_size=2, num_workers=2,
                                             multiprocessing_context="fork")
        got = torch.cat(list(loader)).numpy()
    np.testing.assert_array_equal(got, u[:, 2])


def _ours(path, **replace):
    """A minimal file of our layout written with h5py: u (4, 5, 1, 8), time (5,), x (8,),
    nu (4,); ``replace`` swaps a variable for another value (or a group: ``"group"``)."""
    variables = {"u": np.zeros((4, 5, 1, 8), np.float32), "time": np.arange(5.0),
                 "x": np.arange(8.0), "nu": np.ones(4), "channel": np.array([b"u"]),
                 **replace}
    with h5py.File(path, "w") as f:
        f.attrs["pdesurrogate_format"] = 1
        for name, value in variables.items():
            if isinstance(value, str) and value == "group":
                f.create_group(name)
            else:
                f[name] = value
        if isinstance(f["nu"], h5py.Dataset):
            f["nu"].attrs["kind"] = "parameter"
    return path


@pytest.mark.parametrize("key, value, message", [
    ("time", np.arange(3.0),
     r"variable 'time' has 3 entries but 'u' \(4, 5, 1, 8\) has 5 along its time axis"),
    ("x", np.arange(3.0),
     r"variable 'x' has 3 entries but 'u' \(4, 5, 1, 8\) has 8 along its x axis"),
    ("nu", np.ones(3),
     r"variable 'nu' has 3 entries but 'u' \(4, 5, 1, 8\) has 4 along its sample axis"),
    ("channel", np.array([b"a", b"b"]), r"variable 'channel' has 2 entries .* 1 along its channel"),
    ("time", np.zeros((5, 1)), r"'time' has shape \(5, 1\); expected 1 axes \(time,\)"),
    ("time", np.array([b"0", b"1", b"2", b"3", b"4"]), r"'time' holds strings; expected numbers"),
    ("u", np.array([[[[b"a"]]]]), r"'u' holds strings; expected numbers"),
    ("x", "group", r"'x' is an HDF5 group; expected a numeric array"),
])
def test_our_variables_must_fit_u(tmp_path, key, value, message):
    """A coordinate, parameter or channel list whose length differs from u's axis, or that is
    not a 1-D numeric array, is one ValueError naming the file and the variable."""
    path = _ours(tmp_path / "bad.nc", **{key: value})
    with pytest.raises(ValueError, match=rf"^'.*bad\.nc': {message}"):
        open_dataset(path)


def test_our_minimal_file_reads(tmp_path):
    """The fixture itself is a readable file (the errors above come from the one change)."""
    with open_dataset(_ours(tmp_path / "ok.nc")) as d:
        assert d.u.shape == (4, 5, 1, 8) and d.channel_names == ("u",)
        np.testing.assert_array_equal(d.params["nu"], np.ones(4))


def test_unforeseen_layout_errors_name_the_file(tmp_path, monkeypatch):
    """A KeyError/TypeError/AttributeError from a reader becomes one ValueError naming the
    file (not a traceback from inside h5py)."""
    import pdesurrogate.datasets.pdebench as pdebench

    def broken(f, path, progress=False, *, keys):
        return f["tensor"].no_such_attribute

    monkeypatch.setattr(pdebench, "pdebench_layout", broken)
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f["tensor"] = np.zeros((1, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"^'.*t\.h5': not a readable PDEBench file: "
                                         r"AttributeError") as info:
        open_dataset(path)
    assert info.value.__cause__ is None


def test_no_trajectories_or_nan_coordinates_refused(tmp_path):
    """A PDEBench file with N = 0 and one whose x or t coordinate holds NaN: one error naming
    the file (both opened before)."""
    def pdebench(path, n, x, t):
        with h5py.File(path, "w") as f:
            f["tensor"] = np.zeros((n, len(t), len(x)), np.float32)
            f["x-coordinate"] = np.asarray(x, np.float32)
            f["t-coordinate"] = np.asarray(t, np.float32)
        return path

    x, t = np.linspace(0, 1, 8), np.linspace(0, 1, 4)
    with pytest.raises(ValueError, match=r"zero_Nu0\.1\.hdf5' holds no trajectories"):
        open_dataset(pdebench(tmp_path / "zero_Nu0.1.hdf5", 0, x, t))
    bad_x = x.copy()
    bad_x[3] = np.nan
    with pytest.raises(ValueError, match=r"nx\.hdf5': the x coordinate holds NaN or Inf "
                                         r"\(first at index 3\)"):
        open_dataset(pdebench(tmp_path / "nx.hdf5", 2, bad_x, t))
    bad_t = t.copy()
    bad_t[2] = np.inf
    with pytest.raises(ValueError, match=r"nt\.hdf5': the time coordinate holds NaN or Inf"):
        open_dataset(pdebench(tmp_path / "nt.hdf5", 2, x, bad_t))
    open_dataset(pdebench(tmp_path / "ok.hdf5", 2, x, t)).close()


@pytest.mark.parametrize("t, said", [
    ([0.0, 0.2, 0.6, 0.4, 0.8], "time 3 is 0.4 after time 2 = 0.6"),
    ([0.0, 0.2, 0.2, 0.4], "time 2 is 0.2 after time 1 = 0.2"),
])
def test_times_not_increasing_refused(tmp_path, t, said):
    """Saved times out of order or repeated are one error naming the file and the first
    offending time (fit trained on such a file without a word, its pairs stepping back)."""
    path = tmp_path / "t.nc"
    with DatasetWriter(path, "toy", (np.arange(8.0),), ("x",), np.arange(len(t), dtype=float),
                       ["a"], [], 2) as w:
        w.write(0, np.zeros((2, len(t), 1, 8), np.float32), {})
    with h5py.File(path, "r+") as f:
        f["time"][...] = t
    with pytest.raises(ValueError, match=rf"t\.nc': the saved times must be strictly "
                                         rf"increasing, but {said}"):
        open_dataset(path)
