"""compute_stats, and FieldDataModule's check of a split for non-finite values, hold one read
block (at most BLOCK_BYTES) at a time: before, the previous block stayed alive while the next
was read (the generator's and the loop's names held it), so a pass held twice BLOCK_BYTES (64
MiB measured on a 177 MB file, 32 MiB documented)."""

import weakref

import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, compute_stats, normalization, open_dataset
from pdesurrogate.training import FieldDataModule


def _file(path, n=24, t=3, c=2, points=4):
    rng = np.random.default_rng(0)
    u = (3.0 + rng.standard_normal((n, t, c, points))).astype(np.float32)
    with DatasetWriter(path, "toy", [np.arange(float(points))], ["x"], np.arange(float(t)),
                       [f"c{i}" for i in range(c)], ["nu"], n) as w:
        w.write(0, u, {"nu": rng.uniform(size=n)})
    return path


class _WatchedReads:
    """``data.u`` that notes, at each read, how many of its earlier results are still alive."""

    def __init__(self, u):
        self.u, self.shape, self.sources = u, u.shape, u.sources
        self.earlier: list[weakref.ref] = []
        self.alive_at_read: list[int] = []

    def __getitem__(self, key):
        self.alive_at_read.append(sum(ref() is not None for ref in self.earlier))
        out = self.u[key]
        self.earlier.append(weakref.ref(out))
        return out


# a frame (each read a block of frames of one trajectory), 5 trajectories a read (runs)
@pytest.mark.parametrize("block_frames", [1, 5 * 3])
def test_one_read_is_held_at_a_time(tmp_path, monkeypatch, block_frames):
    monkeypatch.setattr(normalization, "BLOCK_BYTES", block_frames * 4 * 2 * 4)
    with open_dataset(_file(tmp_path / "a.nc")) as d:
        want = compute_stats(d, np.arange(0, 24, 1))
        watched = _WatchedReads(d.u)
        monkeypatch.setattr(d, "u", watched)
        got = compute_stats(d, np.arange(0, 24, 1))
    assert len(watched.alive_at_read) > 3  # several reads, each a fresh array
    assert max(watched.alive_at_read) == 0
    assert (got.mean, got.std) == (want.mean, want.std)



@pytest.mark.parametrize("block_frames", [1, 5 * 3])
def test_the_finite_check_of_a_split_holds_one_read_at_a_time(tmp_path, monkeypatch,
                                                              block_frames):
    monkeypatch.setattr(normalization, "BLOCK_BYTES", block_frames * 4 * 2 * 4)
    path = _file(tmp_path / "a.nc")
    with open_dataset(path) as d:
        watched = _WatchedReads(d.u)
        monkeypatch.setattr(d, "u", watched)
        FieldDataModule(str(path))._check_finite(d, "validation", np.arange(0, 24, 1))
    assert len(watched.alive_at_read) > 3
    assert max(watched.alive_at_read) == 0
