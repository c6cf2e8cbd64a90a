"""Which stored item a random buffer may pick: FIRO draws uniformly among all stored items (the
newest included), and a full reservoir evicts only a sample already seen, also when so few
are seen that its random tries miss them all and it falls back to listing them."""

import math

import numpy as np
import pytest

from pdesurrogate.streaming import FIROBuffer, ReservoirBuffer, Sample

TRIALS = 400


def sample(i: int) -> Sample:
    return Sample(np.full((1, 2), float(i), np.float32), t=0.0, params={"nu": 0.5}, sim_id=i,
                  step=0)


@pytest.mark.parametrize("n_items", [2, 5])
def test_firo_first_draw_is_uniform_over_stored_items(n_items):
    """Over 400 seeds, the first draw of a FIRO holding ``n_items`` is each of them (the last
    put included) about 400 / n_items times: every count lies within 5 binomial standard
    deviations of that (a correct buffer leaves the band with probability below 1e-5 per
    item; the draw is seeded, so the outcome is fixed)."""
    counts = [0] * n_items
    for seed in range(TRIALS):
        buf = FIROBuffer(capacity=n_items, seed=seed)
        for i in range(n_items):
            buf.put(sample(i))
        counts[buf.get().sim_id] += 1
    p = 1 / n_items
    mean, sd = TRIALS * p, math.sqrt(TRIALS * p * (1 - p))
    assert all(abs(c - mean) <= 5 * sd for c in counts), counts


@pytest.mark.parametrize("seed", range(4))
def test_reservoir_fallback_evicts_only_the_seen_sample(seed):
    """A full reservoir of 500 with one sample seen: its 32 random tries at a victim nearly
    always miss the seen one (probability 0.94), so the fallback list picks it. The put
    evicts exactly that sample; the 499 never drawn stay."""
    buf = ReservoirBuffer(capacity=500, seed=seed)
    for i in range(500):
        assert buf.put(sample(i), timeout=0)
    drawn = buf.get().sim_id
    assert buf.put(sample(500), timeout=0)
    stored = {it.sim_id for it in buf._items}
    assert stored == set(range(501)) - {drawn}
    assert buf.stats()["evictions"] == 1 and buf.stats()["unseen"] == 500
