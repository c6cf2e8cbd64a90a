"""EpochShuffle: each epoch a permutation seeded by (seed, epoch), never drawn from torch's
global generator; the ranks of a DDP run share it out; a resumed epoch skips what was trained."""

import pytest
import torch

from pdesurrogate.training import FieldDataModule
from pdesurrogate.training.epoch_sampler import EpochShuffle, rank_skip

DATA = list(range(10))


def _pass(sampler: EpochShuffle, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_each_epoch_is_a_permutation_of_its_seed_and_epoch_alone():
    torch.manual_seed(0)
    first = [_pass(EpochShuffle(DATA, seed=5), e) for e in range(3)]
    torch.manual_seed(1)  # another state of the global generator: the same order
    again = [_pass(EpochShuffle(DATA, seed=5), e) for e in range(3)]
    assert first == again
    assert all(sorted(p) == DATA for p in first)
    assert first[0] != first[1] and first[1] != first[2]
    assert _pass(EpochShuffle(DATA, seed=6), 0) != first[0]


def test_ranks_share_out_every_epoch():
    for epoch in range(3):
        shares = [_pass(EpochShuffle(DATA, seed=5, world_size=3, rank=r), epoch)
                  for r in range(3)]
        assert [len(s) for s in shares] == [4, 4, 4]  # padded to an even share, as Lightning's
        assert set().union(*shares) == set(DATA)


def test_a_resumed_epoch_starts_after_the_items_trained_once():
    whole = [_pass(EpochShuffle(DATA, seed=5), e) for e in range(3)]
    resumed = EpochShuffle(DATA, seed=5, epoch=1, skip=4)
    assert list(resumed) == whole[1][4:]  # the first pass, before Lightning's set_epoch
    assert _pass(resumed, 2) == whole[2]  # later passes whole
    other = EpochShuffle(DATA, seed=5, epoch=1, skip=4)
    assert _pass(other, 2) == whole[2]  # a first pass of another epoch skips nothing


@pytest.mark.parametrize("old_world, old_batch, new_world", [(1, 2, 1), (2, 2, 1), (1, 3, 2),
                                                              (3, 1, 2), (2, 1, 3)])
def test_a_resume_on_another_device_count_trains_the_rest_of_the_epoch_once(old_world,
                                                                           old_batch, new_world):
    """A checkpoint after 2 batches of each of old_world ranks: the items trained are the
    first 2 * old_batch * old_world positions of the epoch's permutation; the new ranks,
    skipping rank_skip of their shares, train exactly the rest of it (24 items: no padding)."""
    data = list(range(24))
    full = _pass(EpochShuffle(data, seed=5), 1)
    trained = full[:2 * old_batch * old_world]
    assert sorted(trained) == sorted(x for r in range(old_world) for x in _pass(
        EpochShuffle(data, seed=5, world_size=old_world, rank=r), 1)[:2 * old_batch])
    rest = [x for r in range(new_world) for x in EpochShuffle(
        data, seed=5, world_size=new_world, rank=r, epoch=1,
        skip=rank_skip(len(trained), new_world, r))]
    assert sorted(trained + rest) == data


@pytest.mark.parametrize("bad", [dict(rank=2, world_size=2), dict(skip=-1), dict(seed=-3)])
def test_inconsistent_arguments_are_refused_naming_them(bad):
    name = next(iter(bad)) if "world_size" not in bad else "rank"
    with pytest.raises(ValueError, match=name):
        EpochShuffle(DATA, **{"seed": 0, **bad})


def test_a_loop_that_never_sets_the_epoch_gets_the_next_epochs_order_each_pass():
    """A bare loop over the sampler (no Lightning to call set_epoch) gets a new order each pass,
    as shuffle=True gave it: the orders of epochs 0, 1, 2; a set_epoch is taken as set."""
    whole = [_pass(EpochShuffle(DATA, seed=5), e) for e in range(3)]
    bare = EpochShuffle(DATA, seed=5)
    assert [list(bare) for _ in range(3)] == whole
    bare.set_epoch(1)
    assert list(bare) == whole[1]


def test_a_bare_loop_over_the_training_loader_is_shuffled_anew_every_epoch(advection_file):
    dm = FieldDataModule(str(advection_file), batch_size=4, max_train_trajectories=2)
    dm.setup("fit")
    loader = dm.train_dataloader()
    passes = [torch.cat([b["input"] for b in loader]) for _ in range(2)]
    assert passes[0].shape == passes[1].shape == (10, 1, 32)
    assert not torch.equal(passes[0], passes[1])
    rows = [sorted(map(tuple, p.flatten(1).tolist())) for p in passes]
    assert rows[0] == rows[1]  # the same pairs, in another order
