"""Receiver._grant_limit: the bound on what a receiver takes past its full buffer while the
trainer ranks' lockstep is stuck (streaming/receiver.py's module docstring), in items
(solver ranks x max_pending_samples) and in the buffer's max_bytes, counted as the buffer
counts items and kept up to date as the commit queue flushes. A Receiver that is never
started needs no communicator, so these run in this process without MPI."""

import numpy as np
import pytest

from pdesurrogate.streaming import FIFOBuffer, Receiver, Sample
from pdesurrogate.streaming.receiver import _Pending
from pdesurrogate.streaming.sample import item_to_state

SAMPLE_BYTES = 4096  # 1024 float32 values


def _sample(sim: int, k: int) -> Sample:
    return Sample(np.zeros(SAMPLE_BYTES // 4, np.float32), 0.0, {"nu": 0.5}, sim, k)


def _receiver(queued: int, capacity: int = 2, in_buffer: int = 2, max_bytes: int | None = None,
              max_pending_samples: int = 10, pairs: bool = False) -> Receiver:
    """A receiver whose buffer holds ``in_buffer`` samples and whose commit queue ``queued``."""
    buffer = FIFOBuffer(capacity=capacity, watermark=1, max_bytes=max_bytes)
    held = FIFOBuffer(capacity=capacity, watermark=1)
    held.put_many([_sample(1, k) for k in range(in_buffer)])
    r = Receiver(None, buffer, [0], ["nu"], pairs=pairs, max_pending_samples=max_pending_samples,
                 abort_on_error=False, switch_interval_s=None)
    r.restore({"buffer": held.state_dict(), "committed_sims": [1, 2],
               "commit_queue": [item_to_state(_sample(2, k)) for k in range(queued)]})
    return r


def _grant_pending(r: Receiver, src: int, nbytes: int, granted: bool = True) -> None:
    pend = _Pending(9 + src)
    pend.nbytes = nbytes
    r._pending[src] = pend
    if granted:
        r._grant.add(src)


def test_the_item_bound_is_reached_at_solver_ranks_x_max_pending_samples():
    assert _receiver(2, max_pending_samples=3)._grant_limit() == ""
    limit = _receiver(3, max_pending_samples=3)._grant_limit()
    assert "holds 3 items" in limit and "max_pending_samples (3)" in limit


@pytest.mark.parametrize("pairs", [False, True])
def test_the_byte_bound_counts_the_queue_and_the_granted_simulations(pairs):
    """One queued item and one pending sample of a granted simulation (both ends of a pair
    when the receiver makes pairs) against max_bytes; a simulation not granted is not
    counted, as it is not taken past the buffer."""
    per_sample = SAMPLE_BYTES * (2 if pairs else 1)
    bound = SAMPLE_BYTES + per_sample
    r = _receiver(1, max_bytes=bound, pairs=pairs)
    _grant_pending(r, 0, SAMPLE_BYTES, granted=False)
    assert r._grant_limit() == ""
    r._grant.add(0)
    assert f"hold {bound} bytes" in r._grant_limit()


def test_the_byte_count_follows_the_queue_as_it_flushes():
    """The queue's bytes drop as its items go into the buffer, partly or all at once, so a
    grant resumes once the queue has room under max_bytes again; a granted simulation that
    ends is counted in the queue instead of pending."""
    r = _receiver(3, capacity=3, in_buffer=2, max_bytes=3 * SAMPLE_BYTES)
    assert f"hold {3 * SAMPLE_BYTES} bytes" in r._grant_limit()
    r._flush_commits(timeout=0)  # room for one: two items stay queued
    assert len(r._commit) == 2 and r._grant_limit() == ""
    r.buffer.get_many(3)
    r._flush_commits(timeout=0)  # the rest
    assert len(r._commit) == 0
    _grant_pending(r, 0, 2 * SAMPLE_BYTES)  # under the bound with an empty queue
    assert r._grant_limit() == ""
    _grant_pending(r, 0, 3 * SAMPLE_BYTES)
    assert f"hold {3 * SAMPLE_BYTES} bytes" in r._grant_limit()
    # the simulation ends: its three samples move from pending to the queue, still counted
    r._pending[0].samples = [_sample(9, k) for k in range(3)]
    r._on_end(0, 9, 3)
    assert len(r._commit) == 3 and not r._pending
    assert f"hold {3 * SAMPLE_BYTES} bytes" in r._grant_limit()
