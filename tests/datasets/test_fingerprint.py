"""fingerprint: the same for a copy or a rename, other for each change it documents to cover
(since version 2: a change in a middle trajectory's last frame too), blind (as documented) to an
earlier frame of a middle trajectory; independent of the read block; version 3 reads a bounded
number of bytes of a long trajectory; records of versions 1 and 2 still match their unchanged
file."""

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, open_dataset
from pdesurrogate.datasets import fingerprint as fp_module
from pdesurrogate.datasets.fingerprint import (
    fingerprint,
    fingerprint_version,
    matches,
    sampled_trajectories,
)

N, T, NX = 5, 4, 8


def _write(path, u=None, times=None, nu=None, channels=("u",)):
    rng = np.random.default_rng(0)
    u = rng.standard_normal((N, T, len(channels), NX)).astype(np.float32) if u is None else u
    times = np.arange(u.shape[1]) * 0.1 if times is None else times
    nu = np.linspace(0.01, 0.05, len(u)) if nu is None else nu
    with DatasetWriter(path, "toy", (np.arange(NX) / NX,), ("x",), times, list(channels),
                       ["nu"], len(u)) as w:
        w.write(0, u, {"nu": nu})
    return path


def _fp(path, version=None) -> str:
    with open_dataset(path) as d:
        return fingerprint(d) if version is None else fingerprint(d, version)


def _u() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((N, T, 1, NX)).astype(np.float32)


def test_copy_and_rename_keep_it(tmp_path):
    a = _write(tmp_path / "a.nc")
    fp = _fp(a)
    assert re.fullmatch(r"sha256:v3:[0-9a-f]{64}", fp)
    b = shutil.copy(a, tmp_path / "another name.nc")
    assert _fp(b) == fp


def test_each_covered_change_changes_it(tmp_path):
    u = _u()
    base = _fp(_write(tmp_path / "base.nc", u=u))
    first, last, middle = u.copy(), u.copy(), u.copy()
    first[0, 2, 0, 3] += 1e-3
    last[N - 1, 0, 0, 0] -= 1e-3
    middle[N // 2, T - 1, 0, 5] += 1e-3  # one value of a middle trajectory's last frame
    more = np.concatenate([u, u[:1]])
    changed = {
        "first trajectory": dict(u=first),
        "last trajectory": dict(u=last),
        "a middle trajectory's last frame": dict(u=middle),
        "a parameter value": dict(u=u, nu=np.linspace(0.01, 0.05, N) + [0, 0, 1e-6, 0, 0]),
        "the times": dict(u=u, times=np.arange(T) * 0.1 + [0, 0, 0, 1e-9]),
        "a channel name": dict(u=u, channels=("v",)),
        "one more trajectory": dict(u=more, nu=np.linspace(0.01, 0.05, N + 1)),
    }
    for what, kw in changed.items():
        assert _fp(_write(tmp_path / f"{what}.nc", **kw)) != base, what


def test_a_changed_middle_trajectory_is_caught(tmp_path):
    """The blind spot of version 1: a middle trajectory edited (regenerated) in place, every
    other value, the parameters and the ids as they were. Version 2 sees it; version 1 did
    not."""
    u = _u()
    mid = u.copy()
    mid[N // 2] += 1.0
    a, b = _write(tmp_path / "a.nc", u=u), _write(tmp_path / "b.nc", u=mid)
    assert _fp(a) != _fp(b)
    assert _fp(a, version=1) == _fp(b, version=1)  # the documented reason for version 2


def test_an_earlier_frame_of_a_middle_trajectory_is_not_covered(tmp_path):
    """The documented blind spot of version 2: an edit that leaves a middle trajectory's last
    frame as it was."""
    u = _u()
    mid = u.copy()
    mid[N // 2, : T - 1] += 1.0
    assert _fp(_write(tmp_path / "a.nc", u=u)) == _fp(_write(tmp_path / "b.nc", u=mid))


def test_a_version_1_record_still_matches_its_unchanged_file(tmp_path):
    """A checkpoint or export written before version 2 recorded the first algorithm's
    string (computed here by the code of the commit that wrote them): it matches the unchanged
    file, not a changed one, and the current fingerprint is another string."""
    old = _old_module(tmp_path)
    u = _u()
    path = _write(tmp_path / "a.nc", u=u)
    with open_dataset(path) as d:
        recorded = old.fingerprint(d)
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", recorded)
        assert fingerprint_version(recorded) == 1
        assert fingerprint(d, version=1) == recorded  # the same algorithm, kept
        assert matches(recorded, d)
        assert fingerprint(d) != recorded and matches(fingerprint(d), d)
    first = u.copy()
    first[0, 0, 0, 0] += 1.0
    with open_dataset(_write(tmp_path / "b.nc", u=first)) as d:
        assert not matches(recorded, d)


def _old_module(tmp_path: Path, commit: str = "e2de397"):
    """datasets/fingerprint.py as of ``commit`` (e2de397 shipped version 1, bd91e63 version 2),
    loaded on its own."""
    root = Path(__file__).resolve().parents[2]
    try:
        text = subprocess.run(["git", "-C", str(root), "show", f"{commit}:datasets/fingerprint.py"],
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs the git history of a checkout")
    src = tmp_path / f"fingerprint_{commit}.py"
    src.write_text(text.replace("from .reader import FieldData",
                                "from pdesurrogate.datasets.reader import FieldData"))
    spec = importlib.util.spec_from_file_location(f"fingerprint_{commit}", src)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_version_strings():
    h = "0123456789abcdef" * 4
    assert fingerprint_version(f"sha256:{h}") == 1
    assert fingerprint_version(f"sha256:v2:{h}") == 2
    for bad in ("f", f"md5:{h}", f"sha256:{h[:-1]}", None):
        with pytest.raises(ValueError, match="not a data fingerprint"):
            fingerprint_version(bad)


def test_unknown_version_refused(tmp_path):
    with open_dataset(_write(tmp_path / "a.nc")) as d:
        with pytest.raises(ValueError, match=r"fingerprint version 4 is not known"):
            matches("sha256:v4:" + "0" * 64, d)


def test_large_files_sample_a_bounded_spread_of_trajectories(monkeypatch):
    """Beyond SAMPLE_TRAJECTORIES (or SAMPLE_BYTES of frames) an even spread with both ends."""
    assert sampled_trajectories(7, 4).tolist() == list(range(7))
    monkeypatch.setattr(fp_module, "SAMPLE_TRAJECTORIES", 5)
    assert sampled_trajectories(101, 4).tolist() == [0, 25, 50, 75, 100]
    monkeypatch.setattr(fp_module, "SAMPLE_BYTES", 3 * 1000)
    assert sampled_trajectories(101, 1000).tolist() == [0, 50, 100]


def _reads(data, version=None) -> list:
    """The keys ``fingerprint(data)`` indexes ``data.u`` with, and the bytes each returned."""
    reads = []
    real = data.u

    class Recorded:
        shape = real.shape

        def __getitem__(self, key):
            out = real[key]
            reads.append((key, out.nbytes))
            return out

    data.u = Recorded()
    try:
        fingerprint(data) if version is None else fingerprint(data, version)
    finally:
        data.u = real
    return reads


@pytest.mark.parametrize("version, middle", [(2, range(N)), (3, range(1, N - 1))])
def test_sample_reads_one_frame_of_each_middle_trajectory(tmp_path, version, middle):
    """What is read besides the two whole trajectories: the last frame of each other one
    (version 2 read the two ends' last frames again)."""
    with open_dataset(_write(tmp_path / "a.nc")) as d:
        reads = [key for key, _ in _reads(d, version)]
    whole = [k for k in reads if isinstance(k[1], slice)]
    frames = [k for k in reads if not isinstance(k[1], slice)]
    assert sorted({k[0] for k in whole}) == [0, N - 1]
    assert frames == [(i, T - 1) for i in middle]


LONG_T = 20  # frames of a "long" trajectory, against a cap of CAP_FRAMES frames
CAP_FRAMES = 4


def _long(tmp_path, name="long.nc", u=None):
    u = np.random.default_rng(1).standard_normal((N, LONG_T, 1, NX)).astype(np.float32) \
        if u is None else u
    return _write(tmp_path / name, u=u), u


def test_a_long_trajectory_is_read_up_to_the_cap(tmp_path, monkeypatch):
    """Version 2 read the first and last trajectories in full (minutes for multi-GB 3-D
    trajectories); now at most TRAJECTORY_BYTES of each (here 4 of 20 frames, the first and
    last among them), plus one frame of each middle trajectory."""
    frame = 4 * NX
    monkeypatch.setattr(fp_module, "TRAJECTORY_BYTES", CAP_FRAMES * frame, raising=False)
    path, _ = _long(tmp_path)
    with open_dataset(path) as d:
        reads = _reads(d)
    per_trajectory = {i: sum(b for k, b in reads if k[0] == i) for i in range(N)}
    assert per_trajectory[0] <= CAP_FRAMES * frame and per_trajectory[N - 1] <= CAP_FRAMES * frame
    assert all(per_trajectory[i] == frame for i in range(1, N - 1))
    assert sum(per_trajectory.values()) <= 2 * CAP_FRAMES * frame + (N - 2) * frame
    assert [k for k, _ in reads if k[0] == 0] == [(0, 0), (0, 6), (0, 13), (0, LONG_T - 1)]


def test_a_changed_value_in_a_sampled_frame_changes_it(tmp_path, monkeypatch):
    """Under a cap of 4 frames of 20: a value changed in a hashed frame (first, a middle one,
    last) of the first or last trajectory changes the fingerprint; one in a frame between
    them does not (the documented price of the bound)."""
    monkeypatch.setattr(fp_module, "TRAJECTORY_BYTES", CAP_FRAMES * 4 * NX, raising=False)
    path, u = _long(tmp_path)
    base = _fp(path)
    for i, j in [(0, 0), (0, 6), (N - 1, 13), (N - 1, LONG_T - 1)]:
        edited = u.copy()
        edited[i, j, 0, 3] += 1e-3
        assert _fp(_long(tmp_path, f"e{i}_{j}.nc", edited)[0]) != base, (i, j)
    between = u.copy()
    between[0, 3, 0, 3] += 1e-3
    assert _fp(_long(tmp_path, "between.nc", between)[0]) == base
    assert fp_module.sampled_frames(LONG_T, 4 * NX).tolist() == [0, 6, 13, LONG_T - 1]


def test_a_version_2_record_still_matches_its_unchanged_file(tmp_path, monkeypatch):
    """Checkpoints and exports written with version 2 recorded its string (computed here by
    the code of the commit that shipped it, bd91e63): it matches the unchanged file, read in
    full again as version 2 did, and not a file changed where version 2 looked."""
    monkeypatch.setattr(fp_module, "TRAJECTORY_BYTES", CAP_FRAMES * 4 * NX, raising=False)
    old = _old_module(tmp_path, "bd91e63")
    path, u = _long(tmp_path)
    with open_dataset(path) as d:
        recorded = old.fingerprint(d)
        assert fingerprint_version(recorded) == 2
        assert fingerprint(d, version=2) == recorded
        assert matches(recorded, d)
        assert fingerprint(d) != recorded and matches(fingerprint(d), d)
    between = u.copy()
    between[0, 3, 0, 3] += 1e-3  # outside version 3's sample, inside version 2's
    with open_dataset(_long(tmp_path, "b.nc", between)[0]) as d:
        assert not matches(recorded, d)


def test_a_version_3_record_still_matches_its_unchanged_file(tmp_path, monkeypatch):
    """Records written since version 3 shipped (computed here by the code of that commit,
    c4b7613, with the same small cap, so its frame sample is used) match the unchanged file:
    the version-3 byte stream, its tags included, is fixed once records of it exist."""
    cap = CAP_FRAMES * 4 * NX
    monkeypatch.setattr(fp_module, "TRAJECTORY_BYTES", cap)
    old = _old_module(tmp_path, "c4b7613")
    old.TRAJECTORY_BYTES = cap
    with open_dataset(_long(tmp_path)[0]) as d:
        recorded = old.fingerprint(d)
        assert fingerprint_version(recorded) == 3
        assert fingerprint(d) == recorded and matches(recorded, d)


def test_frames_above_the_cap_still_hash_the_first_and_last(tmp_path, monkeypatch):
    """A frame larger than TRAJECTORY_BYTES: the first and last frames of each end
    trajectory are still read (a change in the last frame of trajectory 0 changes it)."""
    assert fp_module.sampled_frames(LONG_T, fp_module.TRAJECTORY_BYTES + 1).tolist() == [
        0, LONG_T - 1]
    monkeypatch.setattr(fp_module, "TRAJECTORY_BYTES", 4 * NX - 1)  # below one frame
    path, u = _long(tmp_path)
    changed = u.copy()
    changed[0, LONG_T - 1, 0, 0] += 1e-3
    assert _fp(path) != _fp(_long(tmp_path, "b.nc", changed)[0])


def test_the_middle_of_three_trajectories_is_sampled(tmp_path):
    """Three trajectories: the middle one's last frame is hashed, as in larger files."""
    u = np.random.default_rng(2).standard_normal((3, 4, 1, NX)).astype(np.float32)
    changed = u.copy()
    changed[1, -1, 0, 0] += 1e-3
    assert _fp(_write(tmp_path / "a.nc", u=u)) != _fp(_write(tmp_path / "b.nc", u=changed))


@pytest.mark.parametrize("block_bytes", [1, 4 * NX, 10**9])
def test_independent_of_the_read_block(tmp_path, monkeypatch, block_bytes):
    """A frame at a time or the whole trajectory at once: the same bytes, the same hash."""
    path = _write(tmp_path / "a.nc")
    expected = _fp(path)
    monkeypatch.setattr(fp_module, "BLOCK_BYTES", block_bytes)
    assert _fp(path) == expected
