"""A folder of dataset files opened as one dataset: values equal the files' own arrays, one
error naming the first file that differs, The Well's train/ valid/ test/ folders as the split,
and the fingerprint changing with a file added, removed or changed."""

import pickle

import h5py
import numpy as np
import pytest
from torch.utils.data import DataLoader, Dataset

from pdesurrogate.datasets import DatasetWriter, open_dataset
from pdesurrogate.datasets.file_set import MAX_OPEN_FILES, FileSet
from pdesurrogate.datasets.fingerprint import fingerprint
from pdesurrogate.datasets.normalization import compute_stats

T, X = 4, 6


def write(path, n, seed, times=None, x=None, channels=("a", "b"), params=("nu",), t=T):
    """A file of ours with ``n`` random trajectories; returns ``(u, nu)``."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, t, len(channels), X)).astype(np.float32)
    nu = rng.uniform(0.1, 1.0, n)
    times = np.linspace(0, 1, t) if times is None else times
    x = np.linspace(0, 1, X) if x is None else x
    with DatasetWriter(path, "toy", (x,), ("x",), times, list(channels), list(params),
                       n) as w:
        w.write(0, u, {p: nu for p in params})
    return u, nu


def _rewrite(path, u, nu):
    """``path`` written again with trajectories ``u`` and parameter ``nu``."""
    path.unlink()
    with DatasetWriter(path, "toy", (np.linspace(0, 1, X),), ("x",), np.linspace(0, 1, T),
                       ["a", "b"], ["nu"], len(u)) as w:
        w.write(0, u, {"nu": nu})


@pytest.fixture
def folder(tmp_path):
    """Three files (2, 3 and 1 trajectories) written out of name order, and a stray text
    file that is not read."""
    d = tmp_path / "set"
    d.mkdir()
    parts = {name: write(d / name, n, seed) for name, n, seed in
             (("c.nc", 1, 3), ("a.nc", 2, 1), ("b.h5", 3, 2))}
    (d / "README.txt").write_text("not data")
    u = np.concatenate([parts[k][0] for k in ("a.nc", "b.h5", "c.nc")])
    nu = np.concatenate([parts[k][1] for k in ("a.nc", "b.h5", "c.nc")])
    return d, u, nu


KEYS = [0, 2, -1, 5, (4, 1), (slice(None),), (slice(1, 5),), (slice(None, None, 2),),
        (slice(None, None, -1), slice(3, 0, -2)), ([5, 0, 2, 2],), (np.array([3, 1]), 0, 1),
        (slice(1, 4), [3, 0]), (Ellipsis, 2), (slice(3, 3),), (np.arange(6) % 2 == 0,)]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_folder_reads_the_files_values_in_name_order(folder, key):
    d, u, nu = folder
    with open_dataset(d) as data:
        assert isinstance(data, FileSet)
        assert [p.name for p in data.files] == ["a.nc", "b.h5", "c.nc"]
        assert data.u.shape == u.shape and len(data) == 6
        np.testing.assert_array_equal(data.u[key], u[key])
        np.testing.assert_array_equal(data.params["nu"], nu)
        np.testing.assert_array_equal(data.sim_id, np.arange(6))
        assert data.channel_names == ("a", "b") and data.grid_names == ("x",)
        assert data.format == "pdesurrogate" and data.pde == "toy"
        assert data.attrs["files"] == ["a.nc", "b.h5", "c.nc"]
        np.testing.assert_array_equal(data.times, np.linspace(0, 1, T))


def test_statistics_and_workers_over_a_folder(folder):
    """The block reader behind the statistics reads across files, and forked DataLoader
    workers (each opening its own handles) give the files' values."""
    d, u, _ = folder
    with open_dataset(d) as data:
        stats = compute_stats(data, [1, 2, 4, 5])
        np.testing.assert_allclose(stats.mean, u[[1, 2, 4, 5]].mean(axis=(0, 1, 3)),
                                   rtol=1e-5)
        _ = data.u[0]  # a handle open in the parent: the workers must not use it
        loader = DataLoader(_Frames(data), batch_size=2, num_workers=2,
                            multiprocessing_context="fork")
        got = np.concatenate([b.numpy() for b in loader])
        np.testing.assert_array_equal(got, u[:, 1])
        copy = pickle.loads(pickle.dumps(data))
        np.testing.assert_array_equal(copy.u[3:5], u[3:5])


class _Frames(Dataset):
    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.data.u[i, 1]


def test_open_handles_are_bounded(tmp_path, monkeypatch):
    """Reading every file of a large folder keeps at most MAX_OPEN_FILES of them open."""
    from pdesurrogate.datasets import file_set

    monkeypatch.setattr(file_set, "MAX_OPEN_FILES", 2)
    d = tmp_path / "many"
    d.mkdir()
    us = [write(d / f"f{i}.nc", 1, i)[0] for i in range(4)]
    with open_dataset(d) as data:
        np.testing.assert_array_equal(data.u[:], np.concatenate(us))
        assert sum(m._file is not None for m in data.members) == 2
    assert MAX_OPEN_FILES >= 2


@pytest.mark.parametrize("change, message", [
    (dict(times=np.linspace(0, 2, T)), "times: [0.0, 0.3333333333333333, 0.6666666666666666, "
                                       "1.0] in 'a.nc' vs [0.0, 0.6666666666666666, "
                                       "1.3333333333333333, 2.0] in 'b.nc'"),
    (dict(x=np.linspace(0, 2, X)), "x coordinate: [0.0, 0.2"),
    (dict(channels=("a", "c")), "channel_names: ('a', 'b') in 'a.nc' vs ('a', 'c') in 'b.nc'"),
    (dict(params=("mu",)), "param_names: ('nu',) in 'a.nc' vs ('mu',) in 'b.nc'"),
    (dict(t=T + 1), "frame shape (T, C, *grid): (4, 2, 6) in 'a.nc' vs (5, 2, 6) in 'b.nc'"),
])
def test_the_first_file_that_differs_is_named(tmp_path, change, message):
    d = tmp_path / "mixed"
    d.mkdir()
    write(d / "a.nc", 2, 0)
    write(d / "b.nc", 2, 1, **change)
    write(d / "c.nc", 2, 2, channels=("z",))  # differs too, but after b.nc
    with pytest.raises(ValueError) as e:
        open_dataset(d)
    text = str(e.value)
    assert "file 'b.nc' differs from the first file 'a.nc'" in text and str(d) in text, text
    assert message in text, text


def test_empty_folders_are_refused_naming_them(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"folder '{empty}' holds no dataset files"):
        open_dataset(empty)
    (empty / "notes.txt").write_text("x")
    (empty / "sub").mkdir()
    with pytest.raises(ValueError, match=r"holds no dataset files .*\['notes.txt', 'sub'\]"):
        open_dataset(empty)


def _well(path, n, reynolds, seed, t=T):
    """A tiny 1-D The Well file: field 'density', the PDE parameter a file scalar."""
    u = np.random.default_rng(seed).standard_normal((n, t, X)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="toy_flow", n_trajectories=n, n_spatial_dims=1,
                       grid_type="cartesian", simulation_parameters=["Reynolds"],
                       Reynolds=reynolds)
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x"]
        dims["time"] = np.linspace(0, 1, t)
        dims["x"] = np.arange(X) / X
        g0 = f.create_group("t0_fields")
        g0.attrs["field_names"] = ["density"]
        g0["density"] = u
        g0["density"].attrs.update(sample_varying=True, time_varying=True,
                                   dim_varying=np.array([True]))
        f.create_group("t1_fields").attrs["field_names"] = []
        f.create_group("t2_fields").attrs["field_names"] = []
    return u


def well_folder(root, val="valid"):
    """The Well's data/ layout: train/ (two files), valid/ and test/ (one each); returns the
    folder and ``{split: (u, Reynolds per trajectory)}``."""
    out = {}
    for split, files in (("train", [(2, 100.0), (1, 200.0)]), (val, [(2, 300.0)]),
                         ("test", [(1, 400.0)])):
        (root / split).mkdir(parents=True)
        us, re_ = [], []
        for i, (n, reynolds) in enumerate(files):
            us.append(_well(root / split / f"toy_Re{int(reynolds)}.hdf5", n, reynolds,
                            seed=len(out) * 10 + i))
            re_ += [reynolds] * n
        out[split] = (np.concatenate(us), np.array(re_))
    return root, out


@pytest.mark.parametrize("val", ["valid", "val"])
def test_the_wells_split_folders(tmp_path, val):
    d, parts = well_folder(tmp_path / "data", val)
    (d / "stats.yaml").write_text("mean: {}")  # The Well ships this beside the folders
    with open_dataset(d) as data:
        assert data.format == "the_well" and data.split_sizes == [3, 2, 1]
        u = np.concatenate([parts[s][0] for s in ("train", val, "test")])
        np.testing.assert_array_equal(data.u[:, :, 0], u)
        np.testing.assert_array_equal(
            data.params["Reynolds"], np.concatenate([parts[s][1] for s in ("train", val, "test")]))
        member, local = data.locate(4)
        assert member.path.parent.name == val and local == 1


def test_split_folders_that_are_incomplete_or_ambiguous(tmp_path):
    d, _ = well_folder(tmp_path / "data")
    (d / "val").mkdir()
    with pytest.raises(ValueError, match=r"holds both \['valid', 'val'\]"):
        open_dataset(d)
    (d / "val").rmdir()
    _well(d / "loose.hdf5", 1, 5.0, 9)
    with pytest.raises(ValueError, match=r"dataset files beside them \(\['loose.hdf5'\]\)"):
        open_dataset(d)
    (d / "loose.hdf5").unlink()
    for f in (d / "test").iterdir():
        f.unlink()
    (d / "test").rmdir()
    with pytest.raises(ValueError, match=r"but not \['test/'\]"):
        open_dataset(d)


def test_fingerprint_changes_with_a_file_added_removed_or_changed(folder, tmp_path):
    """A file changed in the last frame of its first trajectory (trajectory 2 of the set),
    and a folder that moved still matches."""
    d, u, _ = folder
    with open_dataset(d) as data:
        before = fingerprint(data)
    moved = tmp_path / "moved"
    d.rename(moved)
    with open_dataset(moved) as data:
        assert fingerprint(data) == before
    d = moved
    write(d / "d.nc", 1, 7)
    with open_dataset(d) as data:
        added = fingerprint(data)
    (d / "d.nc").unlink()
    (d / "c.nc").unlink()
    with open_dataset(d) as data:
        removed = fingerprint(data)
    write(d / "c.nc", 1, 3)
    with open_dataset(d) as data:
        assert fingerprint(data) == before
    # b.h5 regenerated with one value changed
    b, nu = u[2:5].copy(), open_dataset(d / "b.h5").params["nu"].copy()
    b[0, -1, 0, 0] += 1.0
    _rewrite(d / "b.h5", b, nu)
    with open_dataset(d) as data:
        changed_last_frame = fingerprint(data)
    assert len({before, added, removed, changed_last_frame}) == 4


def test_fingerprint_hashes_each_files_ends_beyond_the_sets_sample(folder, monkeypatch):
    """With the set's own sample of last frames cut to trajectories 0, 2 and 5, a change in
    the last frame of trajectory 4 (b.h5's last) still changes the fingerprint: each file's
    first and last trajectories are hashed too."""
    from pdesurrogate.datasets import fingerprint as fp

    monkeypatch.setattr(fp, "SAMPLE_TRAJECTORIES", 3)
    d, u, _ = folder
    assert fp.sampled_trajectories(6, 4 * 2 * X).tolist() == [0, 2, 5]
    with open_dataset(d) as data:
        before = fingerprint(data)
    with open_dataset(d / "b.h5") as b_file:
        b, nu = b_file.u[:], b_file.params["nu"].copy()
    b[2, -1, 1, 3] += 0.5
    _rewrite(d / "b.h5", b, nu)
    with open_dataset(d) as data:
        np.testing.assert_array_equal(data.u[4], b[2])
        assert fingerprint(data) != before
