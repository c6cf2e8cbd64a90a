"""``RankShare``: one pass over a file's trajectories split between the processes of a job.

Under DDP every training process sets up the same data, and a whole-file pass (the
normalisation statistics, the finite check of a split) run by each of ``N`` processes reads
the file ``N`` times at once. Split instead, each process reads a contiguous ``1/N`` of the
trajectories and the processes exchange what they found (:func:`shared_pass`): the file is
read once, in about ``1/N`` of the time, and no process waits for a whole pass of another
(a pass of more than the process group's timeout, 30 minutes in Lightning, would otherwise
end the job).

A failure in one process's part (bad values, an unreadable file) is sent to the others in the
exchange instead of ending that process alone: every process then raises the same error, the
one a single process reading the trajectories in order would have met first, and none is left
waiting in the exchange for a process that has gone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

# exception classes rebuilt by name in the processes that did not raise them: those whose
# text is their one argument, so every process shows the same message
_REBUILT = {cls.__name__: cls for cls in (ValueError, OSError, RuntimeError, TypeError,
                                          MemoryError, IndexError)}


@dataclass(frozen=True)
class RankShare:
    """This process's place in a job of ``world`` processes sharing a pass.

    Args:
        rank: this process's rank, ``0 <= rank < world``.
        world: number of processes (>= 2).
        gather: ``gather(obj)`` returns every process's ``obj`` in rank order; every process
            of the job calls it (a collective, e.g. ``torch.distributed.all_gather_object``).
    """

    rank: int
    world: int
    gather: Callable[[Any], list[Any]]

    def __post_init__(self):
        for name, v, low in (("world", self.world, 2), ("rank", self.rank, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        if self.rank >= self.world:
            raise ValueError(f"rank must be smaller than world = {self.world}, got {self.rank}")
        if not callable(self.gather):
            raise ValueError(f"gather must be callable, got {self.gather!r}")

    def part(self, indices: Sequence[int]) -> np.ndarray:
        """This process's contiguous part of ``indices`` (``np.array_split``'s: the first
        ``len % world`` parts one longer); the parts in rank order are ``indices``."""
        return np.array_split(np.asarray(indices), self.world)[self.rank]


def shared_pass(share: RankShare | None, indices: Sequence[int],
                work: Callable[[np.ndarray], T]) -> list[T]:
    """``work`` over ``indices``, split between the processes of ``share``.

    Without ``share``: ``[work(indices)]``, its exceptions as they are. With it: ``work`` of
    this process's part (:meth:`RankShare.part`), then every process's result in rank order,
    the same list in every process. An ``Exception`` raised by ``work`` in any process is
    raised in every process once all have finished their parts: the one of the lowest rank,
    i.e. the first a single process working through ``indices`` in order would have met when
    ``work`` stops at its part's first failure; as the exception itself in the process that
    raised it, else with the same text as its class or the nearest base of it that
    :data:`_REBUILT` names (``OSError`` for ``FileNotFoundError``; ``RuntimeError`` naming
    the class for others).
    """
    if share is None:
        return [work(np.asarray(indices))]
    error: Exception | None = None
    try:
        mine: tuple = ("done", work(share.part(indices)))
    except Exception as e:  # sent to the other processes, which would otherwise wait for it
        error, mine = e, ("failed", _rebuildable(type(e)), str(e))
    results = share.gather(mine)
    for rank, got in enumerate(results):
        if got[0] == "failed":
            if rank == share.rank:
                raise error
            raise _rebuilt(got[1], got[2]) from None
    return [got[1] for got in results]


def _rebuildable(cls: type) -> str:
    """The name of ``cls``'s nearest base in :data:`_REBUILT` (``cls`` itself if it is one),
    or ``cls``'s own name if none is."""
    for base in cls.__mro__:
        if _REBUILT.get(base.__name__) is base:
            return base.__name__
    return cls.__name__


def _rebuilt(kind: str, text: str) -> Exception:
    """The exception another process raised, from its class name and text."""
    cls = _REBUILT.get(kind)
    return cls(text) if cls is not None else RuntimeError(f"{kind}: {text}")
