"""ChannelStats / compute_stats against two-pass numpy statistics."""

import json
import warnings

import h5py
import numpy as np
import pytest
import torch

from pdesurrogate.datasets import (
    ChannelStats,
    DatasetWriter,
    compute_stats,
    normalization,
    open_dataset,
)


def _file(tmp_path, u, params):
    path = tmp_path / "n.nc"
    with DatasetWriter(path, "toy", [np.arange(s, dtype=float) for s in u.shape[3:]],
                       ("y", "x")[2 - (u.ndim - 3):], np.arange(u.shape[1], dtype=float),
                       [f"c{i}" for i in range(u.shape[2])], list(params), u.shape[0]) as w:
        w.write(0, u, params)
    return path


def test_stats_match_numpy_with_large_offset(tmp_path, monkeypatch):
    """Mean 1e4, std 1e-2: the streamed float64 statistics match numpy's two-pass ones to a
    relative 1e-9 (a float32 sum-of-squares would lose every digit of std)."""
    rng = np.random.default_rng(0)
    u = (1e4 + 1e-2 * rng.standard_normal((6, 5, 2, 4, 3))).astype(np.float32)
    u[:, :, 1] -= 1e4 + 3.0
    params = {"nu": rng.uniform(size=6)}
    monkeypatch.setattr(normalization, "BLOCK_BYTES", 2 * 4 * 2 * 12)  # 2 frames per block
    with open_dataset(_file(tmp_path, u, params)) as d:
        idx = [0, 2, 5]
        st = compute_stats(d, idx)
    sub = u[idx].astype(np.float64)
    np.testing.assert_allclose(st.mean, sub.mean(axis=(0, 1, 3, 4)), rtol=1e-12)
    np.testing.assert_allclose(st.std, sub.std(axis=(0, 1, 3, 4)), rtol=1e-9)
    assert st.spatial_dims == 2 and st.param_names == ["nu"]
    assert st.param_mean[0] == pytest.approx(params["nu"][idx].mean(), rel=1e-12)


def test_normalize_round_trip_and_json(tmp_path):
    """normalize gives zero mean / unit std per channel (1e-5 in float32); denormalize
    inverts it (1e-6 relative); to_dict survives JSON; constant channels map to 0."""
    rng = np.random.default_rng(1)
    u = np.stack([5 + 2 * rng.standard_normal((3, 4, 16)), np.full((3, 4, 16), 7.0)], axis=2)
    path = _file(tmp_path, u.astype(np.float32), {})
    with open_dataset(path) as d:
        st = compute_stats(d)
    st2 = ChannelStats.from_dict(json.loads(json.dumps(st.to_dict())))
    assert st2 == st
    x = torch.from_numpy(u.astype(np.float32)).reshape(12, 2, 16)
    z = st.normalize(x)
    assert z[:, 0].mean().abs() < 1e-5 and (z[:, 0].std(unbiased=False) - 1).abs() < 1e-5
    assert torch.all(z[:, 1] == 0)
    torch.testing.assert_close(st.denormalize(z), x, rtol=1e-6, atol=1e-5)
    with pytest.raises(ValueError, match="expected"):
        st.normalize(torch.zeros(3, 16))
    with pytest.raises(ValueError, match="unknown keys"):
        ChannelStats.from_dict({"mean": [0.0], "std": [1.0], "oops": 1})


def test_non_finite_values_named(tmp_path, monkeypatch):
    """A NaN in the data -> ValueError naming the file, variable, channel, trajectory and
    time index (not ChannelStats' "std must be finite"); an Inf parameter -> one naming it."""
    u = np.ones((4, 5, 2, 6), np.float32)
    path = _file(tmp_path, u, {"nu": np.arange(4.0)})
    with h5py.File(path, "r+") as f:  # DatasetWriter refuses NaN: edit the file afterwards
        f["u"][2, 3, 1, 4] = np.nan
    monkeypatch.setattr(normalization, "BLOCK_BYTES", 2 * 4 * 2 * 6)  # 2 frames per block
    with open_dataset(path) as d:
        with pytest.raises(ValueError, match=r"n\.nc' holds non-finite values \(NaN or Inf\) in "
                                             r"variable 'u' \(channel 'c1'\), first in "
                                             r"trajectory 2 at time index 3 \(t = 3\)"):
            compute_stats(d)
        assert compute_stats(d, [0, 1, 3]).std == [0.0, 0.0]
    with h5py.File(path, "r+") as f:
        f["nu"][1] = np.inf
    with open_dataset(path) as d, pytest.raises(ValueError, match="parameter 'nu' is NaN or "
                                                                  "infinite.*first: 1"):
        compute_stats(d, [0, 1, 3])


def test_an_inf_gives_the_error_naming_it_and_no_numpy_warning(tmp_path):
    """An inf (not a NaN) in the data: numpy's "invalid value encountered in subtract" came
    first, then the error; now the error alone."""
    u = np.ones((3, 4, 1, 6), np.float32)
    path = _file(tmp_path, u, {})
    with h5py.File(path, "r+") as f:
        f["u"][1, 2, 0, 3] = np.inf
    with open_dataset(path) as d, warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"non-finite values .* trajectory 1 at time index 2"):
            compute_stats(d)
