"""compute_stats reads runs of trajectories per call and shows progress on long passes."""

import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, compute_stats, normalization, open_dataset


def _file(path, n, t=3, c=2, points=4, seed=0):
    rng = np.random.default_rng(seed)
    u = (3.0 + rng.standard_normal((n, t, c, points))).astype(np.float32)
    with DatasetWriter(path, "toy", [np.arange(float(points))], ["x"], np.arange(float(t)),
                       [f"c{i}" for i in range(c)], ["nu"], n) as w:
        w.write(0, u, {"nu": rng.uniform(size=n)})
    return path


def _one_at_a_time(d, idx):
    """The statistics as compute_stats took them before runs: one read per trajectory and
    block of frames, merged in index order."""
    n, t, c, *grid = d.u.shape
    step = max(1, min(t, normalization.BLOCK_BYTES // (4 * c * int(np.prod(grid)))))
    run = normalization._Running(c)
    for i in idx:
        for t0 in range(0, t, step):
            run.add(d.u[int(i), t0: t0 + step], (0, 2))
    return run.mean.tolist(), run.std.tolist()


class _CountingReads:
    """``data.u`` that counts its reads."""

    def __init__(self, u):
        self.u, self.reads = u, 0
        self.shape, self.sources = u.shape, u.sources

    def __getitem__(self, key):
        self.reads += 1
        return self.u[key]


@pytest.mark.parametrize("block_frames", [1, 3, 7 * 3])  # a frame, a trajectory, 7 of them
def test_runs_give_bit_identical_statistics_in_fewer_reads(tmp_path, monkeypatch, block_frames):
    """Sorted training indices with gaps, an unsorted list with a repeat: the same float64
    mean and std, bit for bit, as one read per trajectory; runs need fewer reads when a
    block holds several trajectories (one read per trajectory before)."""
    monkeypatch.setattr(normalization, "BLOCK_BYTES", block_frames * 4 * 2 * 4)
    path = _file(tmp_path / "a.nc", 40)
    sorted_idx = np.sort(np.random.default_rng(1).permutation(40)[:30])
    with open_dataset(path) as d:
        for idx in (sorted_idx, [5, 3, 4, 4, 9, 30, 31, 0]):
            st = compute_stats(d, idx)
            assert (st.mean, st.std) == _one_at_a_time(d, idx)
        counting = _CountingReads(d.u)
        monkeypatch.setattr(d, "u", counting)
        compute_stats(d, sorted_idx)
    per_trajectory = len(sorted_idx) * -(-3 // min(block_frames, 3))
    if block_frames > 3:
        assert counting.reads < len(sorted_idx) / 2
    else:
        assert counting.reads == per_trajectory


def test_non_finite_value_named_inside_a_run(tmp_path, monkeypatch):
    """A NaN in a trajectory read as part of a run is still named by its own trajectory and
    time index."""
    import h5py

    path = _file(tmp_path / "nan.nc", 12)
    with h5py.File(path, "r+") as f:
        f["u"][7, 2, 1, 0] = np.nan
    monkeypatch.setattr(normalization, "BLOCK_BYTES", 12 * 3 * 4 * 2 * 4)
    with open_dataset(path) as d, pytest.raises(ValueError, match=r"trajectory 7 at time "
                                                                   r"index 2"):
        compute_stats(d)


def test_progress_only_for_a_long_pass(tmp_path, capfd):
    """A pass over PROGRESS_MIN_TRAJECTORIES tiny trajectories reports its progress on stderr
    (one plain line when stderr is not a terminal); one trajectory fewer, or progress=False,
    prints nothing."""
    n = normalization.PROGRESS_MIN_TRAJECTORIES
    path = _file(tmp_path / "many.nc", n, t=2, c=1, points=2)
    with open_dataset(path) as d:
        compute_stats(d, progress=True)
        err = capfd.readouterr().err
        assert f"normalisation statistics: {n}/{n} samples (100 %)" in err
        compute_stats(d, np.arange(n - 1), progress=True)
        compute_stats(d, progress=False)
        assert capfd.readouterr().err == ""
