"""Uniform sampling in the unit ball / on the sphere, and the BallPoints DataModule."""

import math
import warnings

import pytest
import torch
from lightning.pytorch import Callback, Trainer

from pdesurrogate.pinn import SDGD, BallPoints, PINNModule, Poisson, sample_ball, sample_sphere


@pytest.mark.parametrize("dim", [2, 5, 200])
def test_ball_samples_are_uniform(dim):
    """Uniform in the ball <=> ‖x‖^d ~ U(0, 1) and the direction is uniform: check the mean
    and variance of ‖x‖^d (1/2, 1/12) and the mean of x (0) within 5 standard errors."""
    n = 20000
    x = sample_ball(n, dim, torch.Generator().manual_seed(0), torch.float64)
    r = x.norm(dim=1)
    assert r.max() < 1
    v = r ** dim
    assert abs(v.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(v.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / n)
    # each coordinate has variance E‖x‖²/d = 1/(d+2)
    assert x.mean(0).abs().max() < 5 * math.sqrt(1 / (dim + 2) / n) * 1.2


def test_sphere_samples_have_unit_norm_and_no_preferred_direction():
    x = sample_sphere(5000, 3, torch.Generator().manual_seed(1), torch.float64)
    torch.testing.assert_close(x.norm(dim=1), torch.ones(5000, dtype=torch.float64))
    assert x.mean(0).abs().max() < 5 * math.sqrt(1 / 3 / 5000)


def test_ballpoints_batches_epochs_and_fixed_validation():
    dm = BallPoints(dim=7, batch_size=16, boundary_batch_size=4, steps_per_epoch=3,
                    val_points=50, seed=2)
    dm.setup("fit")
    first = list(dm.train_dataloader())
    second = list(dm.train_dataloader())
    assert len(first) == 3 and first[0]["x"].shape == (16, 7) and first[0]["xb"].shape == (4, 7)
    assert not torch.equal(first[0]["x"], second[0]["x"])  # fresh points every epoch
    torch.testing.assert_close(first[0]["xb"].norm(dim=1), torch.ones(4))
    val1 = torch.cat([b["x"] for b in dm.val_dataloader()])
    val2 = torch.cat([b["x"] for b in dm.val_dataloader()])
    assert val1.shape == (50, 7) and torch.equal(val1, val2)
    test = torch.cat([b["x"] for b in dm.test_dataloader()])
    assert not torch.equal(test[:50], val1)
    again = BallPoints(dim=7, batch_size=16, boundary_batch_size=4, steps_per_epoch=3, seed=2)
    again.setup("fit")
    assert torch.equal(list(again.train_dataloader())[0]["x"], first[0]["x"])  # seeded
    interior_only = BallPoints(dim=3, steps_per_epoch=1)
    interior_only.setup("fit")
    assert set(next(iter(interior_only.train_dataloader()))) == {"x"}


def test_ballpoints_bad_input():
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        BallPoints(dim=3, batch_size=0)
    with pytest.raises(ValueError, match="dim is not set"):
        BallPoints().setup("fit")


def test_each_rank_draws_its_own_points_and_rank_0_those_of_one_process():
    """In a DDP run rank r draws from rank_seed(seed * 1_000_003 + epoch, r): rank 0 is the
    single-process stream (seeded results stay as they were), other ranks differ."""
    from pdesurrogate.pinn.points import _RandomBatches
    from pdesurrogate.run_record import rank_seed

    assert rank_seed(5, 0) == 5 and rank_seed(5, 1) != rank_seed(5, 2) != 5
    rank0 = next(iter(_RandomBatches(4, 8, 0, 1, seed=3, rank=0)))["x"]
    rank1 = next(iter(_RandomBatches(4, 8, 0, 1, seed=3, rank=1)))["x"]
    one_process = sample_ball(8, 4, torch.Generator().manual_seed(3 * 1_000_003))
    assert torch.equal(rank0, one_process)
    assert not torch.equal(rank0, rank1)


def test_fit_warns_nothing_about_the_points_and_steps_steps_per_epoch():
    """A PINN fit + test on BallPoints raises no Lightning warning about our loaders (it warned
    "Your `IterableDataset` has `__len__` defined" at every fit); an epoch is still
    steps_per_epoch steps, of the seeded (seed, epoch) draws, and validation sees every fixed
    point once."""
    from pdesurrogate.pinn.points import _RandomBatches

    class Record(Callback):
        def __init__(self):
            self.train, self.val = [], []

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.train.append(batch["x"].clone())

        def on_validation_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0):
            self.val.append(batch["x"].shape[0])

    torch.manual_seed(0)
    module = PINNModule(Poisson(4), SDGD(2), width=8, depth=2, scheduler="cosine")
    dm = BallPoints(batch_size=8, steps_per_epoch=3, val_points=100, seed=5)
    rec = Record()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = Trainer(max_epochs=2, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False,
                          num_sanity_val_steps=0, callbacks=[rec])
        trainer.fit(module, dm)
        trainer.test(module, dm, verbose=False)
    ours = [str(w.message) for w in caught
            if "IterableDataset" in str(w.message) or "dataloader" in str(w.message).lower()]
    assert ours == []
    assert trainer.num_training_batches == 3 and trainer.global_step == 6
    assert trainer.estimated_stepping_batches == 6  # what the cosine schedule spans
    expected = _RandomBatches(4, 8, 0, 3, seed=5)
    drawn = [b["x"] for _ in range(2) for b in expected]
    assert len(rec.train) == 6 and all(map(torch.equal, rec.train, drawn))
    assert sum(rec.val) == 2 * 100  # two validations of the 100 fixed points
