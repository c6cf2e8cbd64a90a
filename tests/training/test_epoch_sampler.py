"""EpochShuffle: each epoch a permutation seeded by (seed, epoch), never drawn from torch's
global generator; the ranks of a DDP run share it out; a resumed epoch skips what was trained."""

import pytest
import torch

from pdesurrogate.training.epoch_sampler import EpochShuffle

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


@pytest.mark.parametrize("bad", [dict(rank=2, world_size=2), dict(skip=-1), dict(seed=-3)])
def test_inconsistent_arguments_are_refused_naming_them(bad):
    name = next(iter(bad)) if "world_size" not in bad else "rank"
    with pytest.raises(ValueError, match=name):
        EpochShuffle(DATA, **{"seed": 0, **bad})
