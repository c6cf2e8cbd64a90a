"""Waiting for an MPI message without taking a core from the rank it waits for.

A blocking ``Recv`` in MPICH busy-polls its core for as long as it waits. Solver ranks wait on
the trainer (for credits, for the next task) for most of a run with fast solvers, and where
solver and trainer ranks share cores that polling takes CPU from training. :func:`poll_until`
polls back to back for a short while (a trainer keeping up answers within it), then sleeps
between polls, a little longer each time.

Except while the waiting rank's own sends are in flight (``busy``): MPICH moves a large message
only while the sender calls MPI too, unless the receiver can copy it straight from the sender's
memory (CMA, between ranks of one node that may read each other's memory). Without that (MPICH
with ``MPIR_CVAR_CH4_CMA_ENABLE=0``, and so a container or kernel that forbids cross-process
reads, or a network without progress of its own) each poll moves about one chunk of it, and a
client napping between polls streamed 11-12 MB/s at every field size (benchmarks/streaming.py
part (a), 4 KiB to 1 MiB fields; raw MPI 1.2-2.4 GB/s). So while ``busy()`` says sends of ours
are pending, :func:`poll_until` keeps polling back to back, for up to :data:`BUSY_SPIN_S`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

SPIN_S = 5e-4  # poll back to back this long first
SLEEP_STEP_S = 2e-5  # then sleep this much longer after each unsuccessful poll
MAX_SLEEP_S = 1e-3  # up to this
BUSY_SPIN_S = 5e-2  # while busy() (sends of ours pending), poll back to back up to this


def poll_until(ready: Callable[[], bool], busy: Callable[[], bool] | None = None) -> float:
    """Call ``ready()`` until it returns True (see the module docstring); return the seconds
    waited. ``ready`` should make MPI progress (``Iprobe``, ``Test``). ``busy``: called before
    each nap; while it returns True (the caller's own sends are in flight, and MPI may move
    them only while this rank polls), no nap for up to :data:`BUSY_SPIN_S`."""
    t0 = time.perf_counter()
    naps = 0
    while not ready():
        waited = time.perf_counter() - t0
        if waited > SPIN_S and not (busy is not None and waited < BUSY_SPIN_S and busy()):
            naps += 1
            time.sleep(min(MAX_SLEEP_S, SLEEP_STEP_S * naps))
    return time.perf_counter() - t0
