"""Which trainer a simulation goes to: round robin over the trainer ranks in the order given,
every trainer included (a trainer that gets no simulation would wait for data forever, and
the others would take its share)."""

from collections import Counter

import pytest

from pdesurrogate.streaming import route


def test_simulations_go_round_robin_to_the_trainers():
    assert [route(s, (1, 2, 3)) for s in range(7)] == [1, 2, 3, 1, 2, 3, 1]
    assert [route(s, (5, 0)) for s in range(4)] == [5, 0, 5, 0]
    assert {route(s, (4,)) for s in range(5)} == {4}


@pytest.mark.parametrize("trainers", [(1, 2), (1, 2, 3), (2, 4, 6, 8, 10)])
def test_every_trainer_gets_an_equal_share(trainers):
    """300 consecutive simulation ids (from 17, as after a resume) split evenly over 2, 3 or
    5 trainers, none left out."""
    counts = Counter(route(s, trainers) for s in range(17, 317))
    assert counts == {r: 300 // len(trainers) for r in trainers}
