"""Training buffers between the receiver thread (producer) and the training loop (consumer):
FIFO, FIRO and reservoir.

The three policies of Melissa (Meyer et al., ICML 2023, section 3.2):

* :class:`FIFOBuffer`: first in, first out; each sample is drawn once, in arrival order.
* :class:`FIROBuffer`: first in, random out; each sample is drawn exactly once, in random order.
* :class:`ReservoirBuffer`: random draws *with* repetition, so the trainer keeps learning while
  solvers are slow. When full, a new sample evicts a random sample that has already been drawn
  at least once; while every stored sample is still unseen, ``put`` waits (back-pressure). After
  the stream ends (:meth:`~TrainingBuffer.close`), draws remove samples, so the rest is drained
  once each and iteration ends.

All are thread-safe (one condition variable; a waiting consumer is woken when what it waits for
is there, or the buffer is full or closed, not by every ``put``: the receiver thread that puts
and the training thread share one interpreter lock, and each needless wake-up passes it back
and forth): ``put`` blocks while the buffer is full (at most
``capacity`` items, and ``max_bytes`` bytes if given) or returns False after ``timeout``;
``get`` blocks while fewer than ``watermark`` items are stored, unless the stream has ended,
:meth:`~TrainingBuffer.lower_watermark` lowered it, or
``max_bytes`` leaves no room for the item a producer waits to store (then everything stored is
drawable: a byte bound that holds fewer than ``watermark`` items lowers the watermark instead of
stopping both sides; ``wait_ready(n)`` raises ValueError when it holds fewer than ``n``), and
returns None once the stream has ended and nothing is left. Items are :class:`~.sample.Sample`
or :class:`~.sample.Pair`; each stored item has a seen count (number of times ``get`` returned it).

``state_dict()`` holds the contents, seen counts, rng state and counters as plain python values
and torch tensors, so ``torch.save`` / ``torch.load(weights_only=True)`` round-trip it. A buffer
restored with ``load_state_dict`` is open (a resumed run starts a new stream).
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from .sample import Item, item_from_state, item_to_state


def _check_int(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


class BufferClosed(RuntimeError):
    """``put`` on a buffer whose stream has ended."""


class TrainingBuffer(ABC):
    """Base class: storage, locking, watermark, stats and checkpoints; subclasses choose which
    item ``get`` returns, whether it is removed, and which item a full buffer may evict.

    Args:
        capacity: maximum number of stored items (>= 1).
        watermark: ``get`` waits until this many items are stored (1 <= watermark <= capacity),
            unless the stream has ended, a ``put`` waits for room that ``max_bytes`` denies,
            or :meth:`lower_watermark` lowered it.
        max_bytes: optional bound on the bytes held by stored items (a single item larger than
            this is rejected with ValueError).
        seed: seed of the buffer's rng (random draws and evictions).
    """

    kind = "base"
    keeps_order = False  # removal keeps arrival order (FIFO); else O(1) swap-and-pop
    # a drawn item leaves the buffer (FIFO, FIRO: a batch needs that many items stored); a
    # reservoir keeps it, and serves a batch from fewer items, with repetition
    removes_on_get = True

    def __init__(self, capacity: int, watermark: int = 1, max_bytes: int | None = None,
                 seed: int = 0):
        self.capacity = _check_int("capacity", capacity, 1)
        self.watermark = _check_int("watermark", watermark, 1)
        if self.watermark > self.capacity:
            raise ValueError(f"watermark must be <= capacity ({capacity}), got {watermark}")
        self.max_bytes = None if max_bytes is None else _check_int("max_bytes", max_bytes, 1)
        self.seed = _check_int("seed", seed, 0)
        self._rng = np.random.default_rng(self.seed)
        self._cond = threading.Condition()
        self._items: list[Item] = []
        self._seen: list[int] = []
        self._sizes: list[int] = []
        self._nbytes = 0
        self._unseen = 0  # stored items never drawn
        self._closed = False
        self._puts = self._gets = self._evictions = self._max_seen = 0
        self._peak = 0
        self._wants: list[int] = []  # drawable items each waiting consumer needs
        self._waiting_puts: list[int] = []  # sizes of the items producers wait to store
        self._lowered = False  # lower_watermark: draw from what is stored, watermark aside

    # -- policy hooks ----------------------------------------------------------------------
    @abstractmethod
    def _draw_index(self, u: float) -> int:
        """Index into the stored items of the next item to hand out; ``u`` is uniform in
        [0, 1), drawn from the buffer's rng for every item (in bulk, for a whole batch: one
        rng call per item would cost more than the rest of the draw)."""

    def _victim(self) -> int | None:
        """Index of a stored item a full buffer may evict, or None (then ``put`` waits)."""
        return None

    # -- producer side ---------------------------------------------------------------------
    def put(self, item: Item, timeout: float | None = None) -> bool:
        """Store ``item``; wait while full. Returns False if still full after ``timeout`` s.

        Raises :class:`BufferClosed` after :meth:`close`.
        """
        return self.put_many((item,), timeout) == 1

    def put_many(self, items: Sequence[Item], timeout: float | None = None,
                 sizes: Sequence[int] | None = None) -> int:
        """Store ``items`` in order, as :meth:`put` would one by one, under one lock
        acquisition and waking consumers once instead of per item (the receiver commits a
        whole simulation at a time). Returns how many were stored: fewer than
        ``len(items)`` only when the buffer was still full after ``timeout`` s. ``sizes``: the
        items' ``nbytes``, if the caller knows them (the receiver does, one per simulation):
        asking each 4 KiB sample costs as much as the rest of the put.
        """
        sizes = [item.nbytes for item in items] if sizes is None else list(sizes)
        if len(sizes) != len(items):
            raise ValueError(f"sizes has {len(sizes)} entries for {len(items)} items")
        if self.max_bytes is not None and sizes and max(sizes) > self.max_bytes:
            raise ValueError(f"item of {max(sizes)} bytes exceeds the buffer's max_bytes "
                             f"({self.max_bytes})")
        deadline = None if timeout is None else time.monotonic() + timeout
        stored = 0
        with self._cond:
            if not self._closed and self._fits_all(sizes):
                # the common case, room for all: no per-item checks
                self._items.extend(items)
                self._seen.extend([0] * len(sizes))
                self._sizes.extend(sizes)
                self._nbytes += sum(sizes)
                self._puts += len(sizes)
                self._unseen += len(sizes)
                self._peak = max(self._peak, len(self._items))
                if self._wants and (self._drawable() >= min(self._wants)
                                    or self._full(max(sizes))):
                    self._cond.notify_all()
                return len(sizes)
            for item, size in zip(items, sizes, strict=True):
                while True:
                    if self._closed:
                        raise BufferClosed(f"{self.kind} buffer: put after the stream ended")
                    if not self._full(size):
                        break
                    victim = self._victim()
                    if victim is not None:
                        self._remove(victim)
                        self._evictions += 1
                        continue
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        if stored:
                            self._cond.notify_all()
                        return stored
                    self._cond.notify_all()  # consumers may draw what was just stored
                    self._waiting_puts.append(size)
                    try:
                        self._cond.wait(remaining)
                    finally:
                        self._waiting_puts.remove(size)
                self._items.append(item)
                self._seen.append(0)
                self._sizes.append(size)
                self._nbytes += size
                self._puts += 1
                self._unseen += 1
                stored += 1
                self._peak = max(self._peak, len(self._items))
            if stored:
                self._cond.notify_all()
            return stored

    def close(self) -> None:
        """Mark the end of the stream: waiting ``get`` calls drain what is left, then get None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- consumer side ---------------------------------------------------------------------
    def get(self, timeout: float | None = None) -> Item | None:
        """One item for training; None when the stream has ended and the buffer is drained.

        Waits while fewer than ``watermark`` items are stored and the stream is open; raises
        TimeoutError after ``timeout`` s of waiting.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._drawable() == 0:
                if self._closed and not self._items:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"{self.kind} buffer: no item within {timeout} s "
                                       f"(size {len(self._items)}, watermark {self.watermark})")
                self._wait_for(1, remaining)
            item = self._take_many(1)[0]
            self._cond.notify_all()
            return item

    def get_many(self, n: int) -> list[Item]:
        """``n`` items, as ``n`` calls of :meth:`get` would return them, taken under one lock
        acquisition while enough are drawable (a training batch); fewer only when the stream
        has ended and the buffer is drained (``[]`` then). Waits like :meth:`get`."""
        _check_int("n", n, 1)
        out: list[Item] = []
        with self._cond:
            while len(out) < n:
                if self._drawable() == 0:
                    if self._closed and not self._items:
                        break
                    self._cond.notify_all()  # producers may wait for the room just made
                    self._wait_for(n - len(out), None)
                    continue
                out += self._take_many(min(n - len(out), self._drawable()))
            if out:
                self._cond.notify_all()
        return out

    def wait_ready(self, n: int = 1, timeout: float | None = None) -> bool:
        """Wait until ``n`` consecutive ``get`` calls will succeed without waiting (True), or the
        stream has ended with fewer than ``n`` drawable items left (False). TimeoutError after
        ``timeout`` s. Assumes a single consumer."""
        _check_int("n", n, 1)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._drawable() < n:
                if self._closed:
                    return False
                if self.removes_on_get and self._producer_blocked():
                    # full below n items: no amount of waiting makes n drawable
                    raise ValueError(
                        f"{self.kind} buffer: full at {len(self._items)} items "
                        f"({self._nbytes} bytes; max_bytes {self.max_bytes}, capacity "
                        f"{self.capacity}), fewer than the {n} a batch takes: raise max_bytes "
                        "(online: --buffer.max_mb) or lower the batch size")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"{self.kind} buffer: not ready within {timeout} s")
                self._wait_for(n, remaining)
            return True

    def lower_watermark(self, lowered: bool = True) -> None:
        """Draw from whatever is stored, as with a watermark of 1 (``lowered``), or wait for
        ``watermark`` items again (False). :attr:`watermark` itself keeps its value. The
        receiver lowers it while the trainer ranks' lockstep waits on this buffer and another
        rank's is full (see :meth:`.receiver.Receiver.should_continue`)."""
        with self._cond:
            self._lowered = bool(lowered)
            self._cond.notify_all()

    @property
    def watermark_lowered(self) -> bool:
        """True while :meth:`lower_watermark` has lowered the watermark to 1."""
        return self._lowered

    # -- inspection ------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def seen_counts(self) -> list[int]:
        """Seen count of each stored item, in storage order."""
        with self._cond:
            return list(self._seen)

    def stats(self) -> dict[str, Any]:
        """size, peak_size, capacity, bytes, puts, gets, evictions, unseen (stored items not
        yet drawn), seen_mean (draws per item ever stored), seen_max, closed."""
        with self._cond:
            return {
                "kind": self.kind, "size": len(self._items), "peak_size": self._peak,
                "capacity": self.capacity, "bytes": self._nbytes, "puts": self._puts,
                "gets": self._gets, "evictions": self._evictions,
                "unseen": self._unseen,
                "seen_mean": self._gets / self._puts if self._puts else 0.0,
                "seen_max": self._max_seen, "closed": self._closed,
            }

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        with self._cond:
            return {
                "kind": self.kind,
                "items": [item_to_state(it) for it in self._items],
                "seen": list(self._seen),
                "rng": self._rng.bit_generator.state,
                "counters": {"puts": self._puts, "gets": self._gets,
                             "evictions": self._evictions, "max_seen": self._max_seen,
                             "peak": self._peak},
            }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise ValueError(f"state of a {state.get('kind')!r} buffer cannot be loaded into a "
                             f"{self.kind!r} buffer")
        items = [item_from_state(s) for s in state["items"]]
        if len(items) > self.capacity:
            raise ValueError(f"state holds {len(items)} items, capacity is {self.capacity}")
        if len(state["seen"]) != len(items):
            raise ValueError("state: 'seen' and 'items' differ in length")
        with self._cond:
            self._items = items
            self._seen = [int(s) for s in state["seen"]]
            self._sizes = [int(it.nbytes) for it in items]
            self._nbytes = sum(self._sizes)
            self._unseen = self._seen.count(0)
            self._rng.bit_generator.state = state["rng"]
            c = state["counters"]
            self._puts, self._gets = int(c["puts"]), int(c["gets"])
            self._evictions, self._max_seen = int(c["evictions"]), int(c["max_seen"])
            self._peak = int(c["peak"])
            self._closed = False
            self._cond.notify_all()

    # -- internals (lock held) -------------------------------------------------------------
    def _wait_for(self, need: int, timeout: float | None) -> None:
        """Wait on the condition as a consumer that needs ``need`` drawable items: ``put``
        wakes it once they are there, or the buffer is full (it must draw to make room)."""
        self._wants.append(need)
        try:
            self._cond.wait(timeout)
        finally:
            self._wants.remove(need)

    def _take_many(self, k: int) -> list[Item]:
        """Draw ``k`` items (at most what is drawable), one at a time: the policy's choice,
        counted seen, removed if the policy (or the end of the stream) says so."""
        remove = self.removes_on_get or self._closed
        items, seen = self._items, self._seen
        if self.keeps_order and remove:
            # arrival order: the first k at once (one shift of the lists, not k)
            out, drawn = items[:k], seen[:k]
            self._unseen -= drawn.count(0)
            self._max_seen = max(self._max_seen, max(drawn) + 1)
            self._nbytes -= sum(self._sizes[:k])
            del items[:k], seen[:k], self._sizes[:k]
            self._gets += k
            return out
        out = []
        for u in self._rng.random(k).tolist():
            i = self._draw_index(u)
            out.append(items[i])
            s = seen[i] = seen[i] + 1
            if s == 1:
                self._unseen -= 1
            if s > self._max_seen:
                self._max_seen = s
            if remove:
                self._remove(i)
        self._gets += k
        return out

    def _fits_all(self, sizes: list[int]) -> bool:
        if len(self._items) + len(sizes) > self.capacity:
            return False
        return self.max_bytes is None or self._nbytes + sum(sizes) <= self.max_bytes

    def _full(self, size: int) -> bool:
        if len(self._items) >= self.capacity:
            return True
        return (self.max_bytes is not None and bool(self._items)
                and self._nbytes + size > self.max_bytes)

    def _producer_blocked(self) -> bool:
        """Whether a producer waits to store an item there is no room for (it may still be
        listed for a moment after a draw made room, until it wakes)."""
        return any(self._full(size) for size in self._waiting_puts)

    def _drawable(self) -> int:
        """How many ``get`` calls can succeed now without waiting (no producer help)."""
        n = len(self._items)
        if self._closed:
            return n
        # a producer waiting for room below the watermark (only max_bytes can do that:
        # watermark <= capacity) gets it only from draws, so everything stored is drawable
        watermark = 1 if self._lowered or (n and self._producer_blocked()) else self.watermark
        if not self.removes_on_get:
            return math.inf if n >= watermark else 0
        return max(0, n - watermark + 1)

    def _remove(self, i: int) -> None:
        self._nbytes -= self._sizes[i]
        if self._seen[i] == 0:
            self._unseen -= 1
        if self.keeps_order:
            del self._items[i], self._seen[i], self._sizes[i]
            return
        # order is irrelevant for random policies: swap with the last, pop (O(1))
        for lst in (self._items, self._seen, self._sizes):
            lst[i] = lst[-1]
            lst.pop()


class FIFOBuffer(TrainingBuffer):
    """First in, first out: each sample drawn once, in arrival order."""

    kind = "fifo"
    keeps_order = True

    def _draw_index(self, u: float) -> int:
        return 0


class FIROBuffer(TrainingBuffer):
    """First in, random out: each sample drawn exactly once, uniformly among those stored."""

    kind = "firo"

    def _draw_index(self, u: float) -> int:
        return int(u * len(self._items))


class ReservoirBuffer(TrainingBuffer):
    """Random draws with repetition; a full buffer evicts a random already-seen sample, and
    ``put`` waits while all stored samples are unseen. After :meth:`close`, draws remove."""

    kind = "reservoir"
    removes_on_get = False

    def _draw_index(self, u: float) -> int:
        return int(u * len(self._items))

    def _victim(self) -> int | None:
        n = len(self._items)
        if self._unseen == n:
            return None
        # uniform among the seen items: draw among all until a seen one comes up (expected
        # n / n_seen draws) rather than list the seen ones (O(capacity) per put); list them
        # only when few are seen
        for _ in range(32):
            i = int(self._rng.random() * n)
            if self._seen[i] > 0:
                return i
        seen = [i for i, s in enumerate(self._seen) if s > 0]
        return seen[int(self._rng.random() * len(seen))]


BUFFERS: dict[str, type[TrainingBuffer]] = {
    cls.kind: cls for cls in (FIFOBuffer, FIROBuffer, ReservoirBuffer)
}


def make_buffer(kind: str, **kwargs) -> TrainingBuffer:
    """Buffer of policy ``kind`` ("fifo", "firo", "reservoir") built with ``kwargs``."""
    try:
        cls = BUFFERS[kind]
    except KeyError:
        raise ValueError(f"unknown buffer kind {kind!r}; choose from {sorted(BUFFERS)}") from None
    return cls(**kwargs)
