"""Each trainer rank's training buffer (:func:`trainer_buffer`, as ``run_trainer`` builds it):
seeded by the run's seed and the rank, so DDP trainer ranks draw their items in different
random orders, and a rank repeats its own order. No MPI, no training."""

from types import SimpleNamespace

import numpy as np
import pytest

from pdesurrogate.online.trainer_rank import trainer_buffer
from pdesurrogate.streaming import Sample

N_ITEMS = 16


def settings(kind: str, seed: int = 0, max_mb: float | None = None) -> SimpleNamespace:
    """The parts of an online run's settings that the buffer is built from."""
    return SimpleNamespace(seed=seed, buffer=SimpleNamespace(
        kind=kind, capacity=N_ITEMS, watermark=1, max_mb=max_mb))


def draw_order(buffer) -> list[int]:
    """The simulation ids of ``N_ITEMS`` draws from ``buffer`` after putting in the same
    ``N_ITEMS`` items, simulations 0, 1, ... in that order."""
    for sim_id in range(N_ITEMS):
        assert buffer.put(Sample(np.zeros((1, 4), np.float32), 0.0, {"beta": 0.5}, sim_id, 0))
    return [buffer.get(timeout=1).sim_id for _ in range(N_ITEMS)]


@pytest.mark.parametrize("kind", ["firo", "reservoir"])
def test_trainer_ranks_draw_alike_items_in_different_orders(kind):
    cfg = settings(kind)
    rank0, rank1 = (draw_order(trainer_buffer(cfg, rank)) for rank in (0, 1))
    assert rank0 != rank1
    # the same rank of the same run repeats its order; another run seed changes it
    assert draw_order(trainer_buffer(cfg, 0)) == rank0
    assert draw_order(trainer_buffer(settings(kind, seed=5), 0)) != rank0


def test_the_buffer_takes_its_policy_and_bounds_from_the_settings():
    buffer = trainer_buffer(settings("reservoir", max_mb=0.5), 0)
    assert (buffer.kind, buffer.capacity, buffer.watermark, buffer.max_bytes) == (
        "reservoir", N_ITEMS, 1, 500_000)
