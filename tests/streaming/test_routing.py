"""Which trainer a simulation goes to when its ``open`` names none (``route``): each block of
n consecutive ids goes to the n trainers once each, every trainer included (a trainer that
gets no simulation would wait for data forever, and the others would take its share), in an
order that does not follow the id's parity (sim_id % n gave each trainer one slice of a Halton
draw's first parameter)."""

from collections import Counter

import pytest

from pdesurrogate.streaming import draw_parameters, route


@pytest.mark.parametrize("trainers", [(1, 2), (5, 0), (1, 2, 3), (2, 4, 6, 8, 10)])
def test_each_block_of_n_ids_reaches_every_trainer(trainers):
    n = len(trainers)
    for k in range(50):
        assert sorted(route(s, trainers) for s in range(k * n, k * n + n)) == sorted(trainers)
    assert {route(s, (4,)) for s in range(5)} == {4}


@pytest.mark.parametrize("trainers", [(1, 2), (1, 2, 3), (2, 4, 6, 8, 10)])
def test_every_trainer_gets_an_equal_share(trainers):
    """300 consecutive simulation ids (from 17, as after a resume) split over 2, 3 or 5
    trainers, none left out: equal shares within one (the blocks cut at both ends)."""
    counts = Counter(route(s, trainers) for s in range(17, 317))
    assert set(counts) == set(trainers)
    assert all(abs(c - 300 / len(trainers)) < 2 for c in counts.values()), counts


@pytest.mark.parametrize("n", [2, 4])
def test_each_trainer_sees_both_halves_of_a_halton_draw(n):
    """64 Halton points: each of n trainers gets values of the first parameter in both halves
    of its range, about as many in each (with sim_id % n: one half only)."""
    a = draw_parameters({"a": (0.0, 1.0), "b": (0.0, 1.0)}, 64, "halton", seed=0)[:, 0]
    trainers = tuple(range(n))
    for t in trainers:
        mine = [a[s] for s in range(64) if route(s, trainers) == t]
        low = sum(v < 0.5 for v in mine)
        assert len(mine) == 64 // n
        assert len(mine) / 4 <= low <= 3 * len(mine) / 4, (t, sorted(mine))
