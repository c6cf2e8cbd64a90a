"""Training buffer semantics: FIFO order, FIRO each-once, reservoir eviction of seen samples
only, watermark waiting, seen counts, back-pressure, end of stream, checkpoints."""

import io
import threading
import time

import numpy as np
import pytest
import torch

from pdesurrogate.streaming import (
    BufferClosed,
    FIFOBuffer,
    FIROBuffer,
    Pair,
    ReservoirBuffer,
    Sample,
    make_buffer,
)


def sample(i: int, n: int = 4) -> Sample:
    return Sample(np.full((1, n), float(i), dtype=np.float32), t=0.1 * i, params={"nu": 0.5},
                  sim_id=i, step=0)


def start_producer(buf, n: int) -> threading.Thread:
    """A started thread that puts samples 0..n-1 into ``buf``, then closes it."""

    def produce():
        for i in range(n):
            buf.put(sample(i))
        buf.close()

    th = threading.Thread(target=produce)
    th.start()
    return th


DRAIN_LIMIT = 1000  # more items than any test here puts


def drain(buf, limit: int = DRAIN_LIMIT):
    """The sim ids of ``buf``'s remaining draws until it says the stream ended (None); fails,
    instead of looping forever, once more than ``limit`` came (a closed buffer that does not
    remove what it returns never ends)."""
    out = []
    while (item := buf.get(timeout=1.0)) is not None:
        out.append(item.sim_id)
        assert len(out) <= limit, f"{type(buf).__name__} still drawing after {limit} items"
    return out


def joined(thread: threading.Thread, timeout: float = 10.0) -> bool:
    """Join ``thread`` for at most ``timeout`` s; True if it ended (assert on it: a plain
    join() would hang the test run on a stuck thread)."""
    thread.join(timeout)
    return not thread.is_alive()


def wait_until(cond, timeout: float = 10.0) -> None:
    """Poll ``cond()`` until it is true; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for the other thread"
        time.sleep(0.001)


def test_fifo_order_and_each_once():
    """FIFO returns items in arrival order, each once, then None after close."""
    buf = FIFOBuffer(capacity=10)
    for i in range(7):
        assert buf.put(sample(i))
    buf.close()
    assert drain(buf) == list(range(7))
    st = buf.stats()
    assert (st["puts"], st["gets"], st["size"], st["seen_max"]) == (7, 7, 0, 1)


def test_firo_each_once_random_order():
    """FIRO returns every item exactly once, not in arrival order (seeded), deterministic."""
    orders = []
    for _ in range(2):
        buf = FIROBuffer(capacity=50, seed=3)
        for i in range(30):
            buf.put(sample(i))
        buf.close()
        orders.append(drain(buf))
    assert sorted(orders[0]) == list(range(30))
    assert orders[0] != list(range(30))
    assert orders[0] == orders[1]


def test_put_blocks_when_full_and_times_out():
    """A full FIFO/FIRO put returns False after its timeout; a get frees a slot."""
    for cls in (FIFOBuffer, FIROBuffer):
        buf = cls(capacity=2)
        assert buf.put(sample(0)) and buf.put(sample(1))
        t0 = time.perf_counter()
        assert not buf.put(sample(2), timeout=0.05)
        assert time.perf_counter() - t0 >= 0.04
        buf.get()
        assert buf.put(sample(2), timeout=0.05)
        assert len(buf) == 2


def test_max_bytes_bounds_memory():
    """With max_bytes = 3 items' bytes, a 4th put waits; an item larger than max_bytes is an
    error."""
    one = sample(0).nbytes
    buf = FIFOBuffer(capacity=100, max_bytes=3 * one)
    for i in range(3):
        assert buf.put(sample(i), timeout=0.01)
    assert not buf.put(sample(3), timeout=0.01)
    assert buf.nbytes == 3 * one
    with pytest.raises(ValueError, match="max_bytes"):
        buf.put(sample(9, n=400))


def test_watermark_blocks_get_until_reached_or_closed():
    """get waits below the watermark (TimeoutError), succeeds once it is reached, and after
    close drains below it."""
    buf = FIROBuffer(capacity=10, watermark=3)
    buf.put(sample(0))
    buf.put(sample(1))
    with pytest.raises(TimeoutError):
        buf.get(timeout=0.05)
    got = []
    consumer = threading.Thread(target=lambda: got.append(buf.get(timeout=2.0)))
    consumer.start()
    time.sleep(0.05)
    assert not got  # still waiting
    buf.put(sample(2))
    assert joined(consumer)
    assert len(got) == 1 and got[0] is not None
    # 2 left, below the watermark: closed buffer drains them, then None
    buf.close()
    assert len(drain(buf)) == 2


def test_wait_ready_counts_removals_against_watermark():
    """wait_ready(n) on a removing buffer needs size >= watermark + n - 1 while open; after
    close, False when fewer than n remain."""
    buf = FIFOBuffer(capacity=10, watermark=3)
    for i in range(4):
        buf.put(sample(i))
    assert buf.wait_ready(2, timeout=0.01)
    with pytest.raises(TimeoutError):
        buf.wait_ready(3, timeout=0.01)
    buf.close()
    assert buf.wait_ready(4, timeout=0.01)
    assert not buf.wait_ready(5, timeout=0.01)


def test_reservoir_evicts_only_seen_samples():
    """A full reservoir: put waits while every stored sample is unseen; after draws, a put
    evicts a seen sample and never an unseen one; draws repeat samples."""
    buf = ReservoirBuffer(capacity=4, seed=0)
    for i in range(4):
        buf.put(sample(i))
    assert not buf.put(sample(4), timeout=0.02)  # all unseen: back-pressure
    seen_item = buf.get()
    assert buf.put(sample(4), timeout=0.02)  # evicts the one seen sample
    ids = {it.sim_id for it in buf._items}
    assert seen_item.sim_id not in ids and ids == ({0, 1, 2, 3, 4} - {seen_item.sim_id})
    assert buf.stats()["evictions"] == 1
    # many draws: repetition, seen counts add up to the number of gets
    for _ in range(40):
        buf.get()
    st = buf.stats()
    assert st["seen_max"] > 1 and sum(buf.seen_counts()) + 1 == st["gets"]
    unseen_before = {it.sim_id for it, s in zip(buf._items, buf._seen, strict=True) if s == 0}
    for i in range(5, 9):
        assert buf.put(sample(i), timeout=0.02)
    assert unseen_before <= {it.sim_id for it in buf._items}


def test_reservoir_drains_after_close():
    """After close, reservoir draws remove: each remaining item is returned once more, then
    None."""
    buf = ReservoirBuffer(capacity=5, watermark=2, seed=1)
    for i in range(5):
        buf.put(sample(i))
    for _ in range(10):
        buf.get()
    buf.close()
    assert sorted(drain(buf)) == list(range(5))
    with pytest.raises(BufferClosed):
        buf.put(sample(9))


def test_producer_consumer_threads():
    """A producer thread and a consumer with capacity 3 pass 200 items through a FIFO, in
    order, without loss (put blocks when full)."""
    buf = FIFOBuffer(capacity=3)
    th = start_producer(buf, 200)
    assert drain(buf) == list(range(200))
    assert joined(th)
    assert buf.stats()["peak_size"] <= 3


@pytest.mark.parametrize("kind", ["fifo", "firo", "reservoir"])
def test_get_many_equals_repeated_get(kind):
    """get_many(n) returns what n get() calls return (same draws, seen counts and stats), and
    after close the rest of the buffer then []."""
    bufs = [make_buffer(kind, capacity=10, watermark=3, seed=4) for _ in range(2)]
    for buf in bufs:
        for i in range(10):
            buf.put(sample(i))
    a, b = bufs
    for n in (1, 4, 3):
        assert [x.sim_id for x in a.get_many(n)] == [b.get().sim_id for _ in range(n)]
    assert a.seen_counts() == b.seen_counts() and a.stats() == b.stats()
    for buf in bufs:
        buf.close()
    rest = [x.sim_id for x in a.get_many(100)]
    assert rest == drain(b) and a.get_many(5) == []


def test_get_many_waits_for_producer_and_frees_room():
    """get_many(8) on a FIFO of capacity 3: it takes what is drawable, makes room for the
    waiting producer, waits for more, and returns 8 items in order; after close a short
    list."""
    buf = FIFOBuffer(capacity=3)
    th = start_producer(buf, 10)
    assert [x.sim_id for x in buf.get_many(8)] == list(range(8))
    assert [x.sim_id for x in buf.get_many(8)] == [8, 9]
    assert joined(th) and buf.stats()["peak_size"] <= 3


@pytest.mark.parametrize("kind", ["fifo", "firo", "reservoir"])
def test_state_dict_round_trip(kind):
    """state_dict survives torch.save / torch.load(weights_only=True); the restored buffer has
    the same items, seen counts and rng stream (same next draws)."""
    buf = make_buffer(kind, capacity=8, seed=5)
    for i in range(6):
        item = sample(i) if i % 2 else Pair(sample(i), Sample(np.ones((1, 4), np.float32),
                                                              0.7, {"nu": 0.5}, i, 1))
        buf.put(item)
    buf.get()
    blob = io.BytesIO()
    torch.save(buf.state_dict(), blob)
    blob.seek(0)
    state = torch.load(blob, weights_only=True)
    other = make_buffer(kind, capacity=8, seed=99)
    other.load_state_dict(state)
    assert other.seen_counts() == buf.seen_counts()
    assert other.stats()["puts"] == 6 and other.stats()["gets"] == 1
    for _ in range(3):
        a, b = buf.get(), other.get()
        assert type(a) is type(b) and a.sim_id == b.sim_id
        fa = a.input.fields if isinstance(a, Pair) else a.fields
        fb = b.input.fields if isinstance(b, Pair) else b.fields
        np.testing.assert_array_equal(fa, fb)
    with pytest.raises(ValueError, match="cannot be loaded"):
        make_buffer("fifo" if kind != "fifo" else "firo", capacity=8).load_state_dict(state)


def test_bad_arguments():
    with pytest.raises(ValueError, match="watermark must be <= capacity"):
        FIFOBuffer(capacity=2, watermark=3)
    with pytest.raises(ValueError, match="capacity"):
        FIROBuffer(capacity=0)
    with pytest.raises(ValueError, match="unknown buffer kind"):
        make_buffer("lifo", capacity=2)


@pytest.mark.parametrize("kind", ["fifo", "firo", "reservoir"])
def test_put_many_equals_repeated_put(kind):
    """put_many stores what the same puts would, in order, and reports a partial store when
    the buffer stays full past its timeout."""
    a, b = make_buffer(kind, capacity=8, seed=3), make_buffer(kind, capacity=8, seed=3)
    items = [sample(i) for i in range(5)]
    assert a.put_many(items) == 5
    for item in items:
        assert b.put(item)
    assert a.stats()["puts"] == b.stats()["puts"] == 5
    a.close(), b.close()
    assert drain(a) == drain(b)
    full = FIFOBuffer(capacity=3)
    t0 = time.perf_counter()
    assert full.put_many([sample(i) for i in range(5)], timeout=0.05) == 3
    assert time.perf_counter() - t0 >= 0.04
    full.close()
    assert drain(full) == [0, 1, 2]


@pytest.mark.parametrize("kind", ["fifo", "firo", "reservoir"])
def test_counters_match_contents(kind):
    """The counters kept as items come and go (unseen, bytes, seen_max) equal what the stored
    items say, through random puts (single and batched), batched gets, evictions of a
    reservoir with few seen items and a checkpoint round trip."""
    rng = np.random.default_rng(0)
    buf = make_buffer(kind, capacity=24, watermark=1, seed=2)
    n = 0
    for _ in range(200):
        if rng.random() < 0.55:
            k = int(rng.integers(1, 6))
            n += buf.put_many([sample(n + i, n=int(rng.integers(1, 9))) for i in range(k)],
                              timeout=0.0)
        elif len(buf):
            buf.get_many(int(rng.integers(1, min(8, len(buf)) + 1)))
        seen = buf.seen_counts()
        st = buf.stats()
        assert st["unseen"] == seen.count(0)
        assert st["bytes"] == sum(it.nbytes for it in buf._items)
        assert st["seen_max"] >= max(seen, default=0)
    other = make_buffer(kind, capacity=24, seed=7)
    other.load_state_dict(buf.state_dict())
    assert other.stats()["unseen"] == buf.stats()["unseen"]
    if kind == "reservoir":
        assert buf.stats()["evictions"] > 0


def test_a_waiting_consumer_is_woken_only_when_it_can_go_on():
    """get_many(n) waiting on an empty buffer is not woken by a put that leaves it short (the
    producer and the training thread share the interpreter lock), is woken once its batch is
    drawable, and is woken by a full buffer even short of its batch (it must draw to make room)."""
    woke_on_puts(FIFOBuffer(capacity=16), [[0, 1, 2], [3, 4, 5, 6]], [False, True])
    woke_on_puts(FIFOBuffer(capacity=4), [[0, 1], [2, 3]], [False, True], rest=[4, 5])


def woke_on_puts(buf, puts: list[list[int]], wakes: list[bool], rest=()) -> None:
    """A consumer waits in get_many(6); each put of ``puts`` wakes it or not as ``wakes`` says;
    then ``rest`` is put once it waits again, and it must have drawn samples 0..5."""
    woken = []
    notify = buf._cond.notify_all

    def counting_notify():
        woken.append(True)
        notify()

    buf._cond.notify_all = counting_notify
    got = []
    th = threading.Thread(target=lambda: got.extend(buf.get_many(6)))
    th.start()
    wait_until(lambda: buf._wants)  # the consumer waits for its 6 items
    for items, wake in zip(puts, wakes, strict=True):
        woken.clear()
        buf.put_many([sample(i) for i in items])
        assert bool(woken) == wake, items
    if rest:  # it drew what filled the buffer, then waits for the rest
        wait_until(lambda: buf._wants == [len(rest)])
        buf.put_many([sample(i) for i in rest])
    assert joined(th) and [int(s.sim_id) for s in got] == list(range(6))


@pytest.mark.parametrize("kind", ["fifo", "firo", "reservoir"])
@pytest.mark.parametrize("batch", [1, 3])
def test_a_byte_bound_below_the_watermark_lowers_it(kind, batch):
    """max_bytes holds 4 items of 1 KiB but the watermark asks for 10: once the producer waits
    for room, the consumer draws what is stored instead of both waiting forever, by single
    ``get`` calls or as the trainer draws batches (``wait_ready(B)`` then ``get_many(B)``); all
    40 items go through and the byte bound holds throughout."""
    buf = make_buffer(kind, capacity=100, watermark=10, max_bytes=4 * 1024 + 100)
    got, peak = [], []

    def produce():
        for i in range(40):
            assert buf.put(sample(i, n=256), timeout=10)
            peak.append(buf.stats()["bytes"])
        buf.close()

    t = threading.Thread(target=produce)
    t.start()
    # a reservoir repeats draws while the stream is open; after close at most the 4 stored
    # items (plus a draw that raced the close) may come, not draws forever
    after_close = 0
    if batch == 1:
        while (item := buf.get(timeout=10)) is not None:  # TimeoutError: both sides stuck
            got.append(item.sim_id)
            after_close += buf.stats()["closed"]
            assert after_close <= 8, "still drawing after the end of the stream"
    else:
        while buf.wait_ready(batch, timeout=10):
            got.extend(item.sim_id for item in buf.get_many(batch))
            after_close += batch * buf.stats()["closed"]
            assert after_close <= 8, "still drawing after the end of the stream"
        got.extend(item.sim_id for item in buf.get_many(batch))  # the rest, after the end
    assert joined(t)
    assert max(peak) <= 4 * 1024 + 100
    if kind != "reservoir":  # drawn once each
        assert sorted(got) == list(range(40))
    else:  # every item seen before eviction or the end
        assert set(got) == set(range(40))


@pytest.mark.parametrize("kind", ["fifo", "firo"])
def test_a_byte_bound_below_a_batch_is_one_clear_error(kind):
    """max_bytes holds 4 items and the trainer waits for batches of 8: wait_ready says so
    rather than waiting forever."""
    buf = make_buffer(kind, capacity=100, watermark=2, max_bytes=4 * 1024 + 100)
    t = threading.Thread(target=lambda: [buf.put(sample(i, n=256), timeout=5)
                                         for i in range(6)])
    t.start()
    with pytest.raises(ValueError, match="fewer than the 8 a batch takes"):
        buf.wait_ready(8, timeout=10)
    buf.get_many(4)
    assert joined(t)


def test_put_many_takes_the_sizes_its_caller_knows():
    """The receiver passes each item's nbytes (one per simulation) instead of the buffer
    asking each item: the byte bound and the byte count use them; a sizes list of another
    length is refused, naming both counts, and nothing is stored."""
    buf = FIFOBuffer(capacity=10, max_bytes=40)
    assert buf.put_many([sample(0), sample(1)], sizes=[16, 16]) == 2
    assert buf.nbytes == 32
    with pytest.raises(ValueError, match="sizes has 1 entries for 2 items"):
        buf.put_many([sample(2), sample(3)], sizes=[16])
    assert len(buf) == 2 and buf.nbytes == 32
    with pytest.raises(ValueError, match="exceeds the buffer's max_bytes"):
        buf.put_many([sample(4)], sizes=[41])
