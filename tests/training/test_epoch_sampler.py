"""EpochShuffle: each epoch a permutation seeded by (seed, epoch), never drawn from torch's
global generator; the ranks of a DDP run share it out; a resumed epoch skips what was trained."""

import tracemalloc

import pytest
import torch
from torch.utils.data import DistributedSampler

from pdesurrogate.training import FieldDataModule, epoch_sampler
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
    again = EpochShuffle(DATA, seed=5, epoch=1, skip=4)
    assert list(again) == whole[1][4:]
    # the same epoch passed again (set_epoch(1) once more, a reloaded dataloader): whole
    assert _pass(again, 1) == whole[1]


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


class _Sized:
    """A map-style dataset of ``n`` items that holds nothing (the sampler only takes len)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n


@pytest.mark.parametrize("slice_items", [1, 3, 65536])
def test_the_order_is_distributed_samplers_for_every_seed_epoch_rank_and_skip(monkeypatch,
                                                                             slice_items):
    """The order handed out lazily is the one EpochShuffle took from DistributedSampler's list
    before (a resumed fit depends on it): that list, from position `skip` of the first pass, for
    dataset sizes below, at and above the world size, divisible or padded, over several
    slices (slice_items 1 and 3) or one."""
    monkeypatch.setattr(epoch_sampler, "SLICE_ITEMS", slice_items)
    cases = 0
    for n in (1, 2, 5, 7, 24, 37):
        for world in (1, 2, 3, 8):
            for rank in range(world):
                for seed in (0, 5, 123456789):
                    for epoch in (0, 1, 4):
                        ref = DistributedSampler(_Sized(n), num_replicas=world, rank=rank,
                                                 shuffle=True, seed=seed)
                        ref.set_epoch(epoch)
                        whole = list(ref)
                        for skip in sorted({0, 1, len(whole) // 2, len(whole), len(whole) + 2}):
                            sampler = EpochShuffle(_Sized(n), seed=seed, world_size=world,
                                                   rank=rank, epoch=epoch, skip=skip)
                            got = list(sampler)
                            assert got == whole[skip:], (n, world, rank, seed, epoch, skip)
                            assert all(type(i) is int for i in got)
                            sampler.set_epoch(epoch + 1)
                            ref.set_epoch(epoch + 1)
                            assert list(sampler) == list(ref)  # later passes whole
                            cases += 1
    assert cases > 1000


def test_a_pass_holds_one_slice_of_python_ints_not_a_list_of_every_item():
    """DistributedSampler's list of 1,000,000 items held ~38 MiB of Python ints during the
    whole pass (~46 bytes an item: 460 MiB at 10 M items); the permutation is now one int64
    tensor (torch's memory, which tracemalloc does not see: 8 MB here) and the Python ints of
    one slice of SLICE_ITEMS items at a time (~3 MB): less than 8 bytes an item."""
    n = 1_000_000
    sampler = EpochShuffle(_Sized(n), seed=1)
    tracemalloc.start()
    try:
        order = iter(sampler)
        next(order)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 8 * n, held
    assert sum(1 for _ in order) == n - 1
