"""FieldDataModule: split by trajectory, statistics of the training split, loaders' shapes."""

import numpy as np
import pytest

from pdesurrogate.datasets import compute_stats, open_dataset
from pdesurrogate.training import FieldDataModule


def test_split_stats_and_loaders(advection_file):
    """Splits are disjoint and cover all 10 trajectories; stats equal compute_stats on the
    training split exactly; pairs, windows (k=2, R=2) and strided trajectories have the
    documented shapes."""
    dm = FieldDataModule(str(advection_file), batch_size=4, fractions=(0.6, 0.2, 0.2))
    dm.setup("fit")
    tr, va, te = dm.train_indices, dm.val_indices, dm.test_indices
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(10))
    assert dm.stats.to_dict() == compute_stats(open_dataset(advection_file), tr).to_dict()
    assert dm.data_info == {"pde": "advection", "grid_shape": [32], "channel_names": ["u"],
                            "param_names": ["c"], "k": 1, "dt": pytest.approx(0.05)}
    b = next(iter(dm.train_dataloader()))
    assert b["input"].shape == (4, 1, 32) and b["params"].shape == (4, 1)
    assert len(dm.train_dataloader().dataset) == 6 * 5
    v = next(iter(dm.val_dataloader()))
    assert v["u"].shape == (2, 6, 1, 32)

    dm2 = FieldDataModule(str(advection_file), batch_size=3, k=2, rollout_steps=2,
                          max_train_trajectories=2)
    dm2.setup("fit")
    assert len(dm2.train_indices) == 2 and dm2.data_info["dt"] == pytest.approx(0.1)
    ds = dm2.train_dataloader().dataset
    assert len(ds) == 2 * (6 - 4)
    u = open_dataset(advection_file).u
    n = int(dm2.train_indices[1])
    np.testing.assert_array_equal(ds[3]["u"].numpy(), u[n, 1:6:2])
    v = dm2.val_dataloader().dataset[0]
    assert v["u"].shape == (3, 1, 32) and v["times"].tolist() == pytest.approx([0, 0.1, 0.2])


def test_checks(advection_file):
    with pytest.raises(ValueError, match="rollout_steps must be"):
        FieldDataModule(str(advection_file), rollout_steps=0)
    with pytest.raises(ValueError, match="k \\* rollout_steps"):
        FieldDataModule(str(advection_file), k=3, rollout_steps=2).setup("fit")
    with pytest.raises(ValueError, match="fractions"):
        FieldDataModule(str(advection_file), fractions=(0.5, 0.5))
