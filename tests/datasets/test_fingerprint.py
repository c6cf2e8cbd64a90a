"""fingerprint: the same for a copy or a rename, other for each change it documents to cover,
blind (as documented) to a change inside a middle trajectory; independent of the read block."""

import re
import shutil

import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, open_dataset
from pdesurrogate.datasets import fingerprint as fp_module
from pdesurrogate.datasets.fingerprint import fingerprint

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


def _fp(path) -> str:
    with open_dataset(path) as d:
        return fingerprint(d)


def test_copy_and_rename_keep_it(tmp_path):
    a = _write(tmp_path / "a.nc")
    fp = _fp(a)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", fp)
    b = shutil.copy(a, tmp_path / "another name.nc")
    assert _fp(b) == fp


def test_each_covered_change_changes_it(tmp_path):
    rng = np.random.default_rng(0)
    u = rng.standard_normal((N, T, 1, NX)).astype(np.float32)
    base = _fp(_write(tmp_path / "base.nc", u=u))
    first, last = u.copy(), u.copy()
    first[0, 2, 0, 3] += 1e-3
    last[N - 1, 0, 0, 0] -= 1e-3
    more = np.concatenate([u, u[:1]])
    changed = {
        "first trajectory": dict(u=first),
        "last trajectory": dict(u=last),
        "a parameter value": dict(u=u, nu=np.linspace(0.01, 0.05, N) + [0, 0, 1e-6, 0, 0]),
        "the times": dict(u=u, times=np.arange(T) * 0.1 + [0, 0, 0, 1e-9]),
        "a channel name": dict(u=u, channels=("v",)),
        "one more trajectory": dict(u=more, nu=np.linspace(0.01, 0.05, N + 1)),
    }
    for what, kw in changed.items():
        assert _fp(_write(tmp_path / f"{what}.nc", **kw)) != base, what


def test_middle_trajectory_is_not_covered(tmp_path):
    """The documented blind spot: only the first and last trajectories' values are hashed."""
    rng = np.random.default_rng(0)
    u = rng.standard_normal((N, T, 1, NX)).astype(np.float32)
    mid = u.copy()
    mid[N // 2] += 1.0
    assert _fp(_write(tmp_path / "a.nc", u=u)) == _fp(_write(tmp_path / "b.nc", u=mid))


@pytest.mark.parametrize("block_bytes", [1, 4 * NX, 10**9])
def test_independent_of_the_read_block(tmp_path, monkeypatch, block_bytes):
    """A frame at a time or the whole trajectory at once: the same bytes, the same hash."""
    path = _write(tmp_path / "a.nc")
    expected = _fp(path)
    monkeypatch.setattr(fp_module, "BLOCK_BYTES", block_bytes)
    assert _fp(path) == expected
