"""OneStepPairs / AllPairs / Trajectories / split_indices over a small file."""

import numpy as np
import pytest
import torch

from pdesurrogate.datasets import AllPairs, DatasetWriter, OneStepPairs, Trajectories, split_indices


@pytest.fixture
def small(tmp_path):
    rng = np.random.default_rng(3)
    u = rng.standard_normal((5, 4, 2, 6)).astype(np.float32)
    times = np.array([0.0, 0.1, 0.3, 0.6])
    params = {"nu": rng.uniform(size=5), "beta": rng.uniform(size=5)}
    path = tmp_path / "t.nc"
    with DatasetWriter(path, "toy", (np.arange(6.0),), ("x",), times, ["a", "b"],
                       list(params), 5) as w:
        w.write(0, u, params)
    return path, u, times, params


def test_one_step_pairs(small):
    """len = n_traj (T - k); every item equals the frames/params/times it names (exact)."""
    path, u, times, params = small
    ds = OneStepPairs(path, k=2, indices=[4, 1])
    assert len(ds) == 2 * 2
    for i in range(len(ds)):
        n, j = [4, 1][i // 2], i % 2
        item = ds[i]
        assert all(v.dtype == torch.float32 for v in item.values())
        np.testing.assert_array_equal(item["input"].numpy(), u[n, j])
        np.testing.assert_array_equal(item["target"].numpy(), u[n, j + 2])
        np.testing.assert_allclose(item["params"].numpy(),
                                   [params["nu"][n], params["beta"][n]], rtol=1e-7)
        assert item["t"].item() == pytest.approx(times[j])
        assert item["dt"].item() == pytest.approx(times[j + 2] - times[j])
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(ValueError, match="k must be"):
        OneStepPairs(path, k=4)


def test_all_pairs(small):
    """T (T + 1) / 2 pairs per trajectory, each (t_i <= t_j) exactly once, lead = t_j - t_i."""
    path, u, times, _ = small
    ds = AllPairs(path, indices=[2])
    assert len(ds) == 4 * 5 // 2
    seen = set()
    for i in range(len(ds)):
        item = ds[i]
        a = next(k for k in range(4) if np.array_equal(item["input"].numpy(), u[2, k]))
        b = next(k for k in range(4) if np.array_equal(item["target"].numpy(), u[2, k]))
        assert a <= b and (a, b) not in seen
        seen.add((a, b))
        assert item["lead_time"].item() == pytest.approx(times[b] - times[a])
    assert len(seen) == 10


def test_trajectories_and_loader(small):
    """Trajectories return whole (T, C, X) tensors; a 2-worker DataLoader batches them."""
    path, u, times, _ = small
    ds = Trajectories(path, indices=[0, 3])
    assert len(ds) == 2
    np.testing.assert_array_equal(ds[1]["u"].numpy(), u[3])
    np.testing.assert_allclose(ds[0]["times"].numpy(), times)
    batch = next(iter(torch.utils.data.DataLoader(OneStepPairs(path), batch_size=15,
                                                  num_workers=2)))
    assert batch["input"].shape == (15, 2, 6)
    np.testing.assert_array_equal(batch["input"].numpy(), u[:, :3].reshape(15, 2, 6))


def test_split_indices():
    """Disjoint, sorted, covering, sizes from rounded fractions, reproducible per seed."""
    tr, va, te = split_indices(10, (0.6, 0.2, 0.2), seed=1)
    assert (len(tr), len(va), len(te)) == (6, 2, 2)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(10))
    assert all(np.all(np.diff(s) > 0) for s in (tr, va, te))
    again = split_indices(10, (0.6, 0.2, 0.2), seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))
    other = split_indices(10, (0.6, 0.2, 0.2), seed=2)
    assert not np.array_equal(tr, other[0])
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(10, (0.5, 0.2))


def test_trajectories_default_to_all(small):
    """Trajectories, like OneStepPairs and AllPairs, takes all trajectories when indices are
    not given."""
    path, u, times, params = small
    ds = Trajectories(path)
    assert len(ds) == 5
    for n in range(5):
        np.testing.assert_array_equal(ds[n]["u"].numpy(), u[n])
    assert len(OneStepPairs(path)) == 5 * 3 and len(AllPairs(path)) == 5 * 10


@pytest.mark.parametrize("cls", [OneStepPairs, AllPairs, Trajectories])
def test_items_carry_their_own_trajectorys_parameters(small, cls):
    """With indices in any order (repeats too), each item's params are those of the trajectory
    its frames come from."""
    path, u, _, params = small
    indices = [4, 1, 4, 0]
    ds = cls(path, indices=indices)
    per = len(ds) // len(indices)
    for i in range(len(ds)):
        n = indices[i // per]
        item = ds[i]
        frames = item["u"] if cls is Trajectories else item["input"]
        assert any(np.array_equal(frames.numpy(), f) for f in (u[n], *u[n]))
        np.testing.assert_allclose(item["params"].numpy(),
                                   [params["nu"][n], params["beta"][n]], rtol=1e-7)
