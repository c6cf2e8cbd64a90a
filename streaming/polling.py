"""Waiting for an MPI message without taking a core from the rank it waits for.

A blocking ``Recv`` in MPICH busy-polls its core for as long as it waits. Solver ranks wait on
the trainer (for credits, for the next task) for most of a run with fast solvers, and where
solver and trainer ranks share cores that polling takes CPU from training. :func:`poll_until`
polls back to back for a short while (a trainer keeping up answers within it), then sleeps
between polls, a little longer each time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

SPIN_S = 5e-4  # poll back to back this long first
SLEEP_STEP_S = 2e-5  # then sleep this much longer after each unsuccessful poll
MAX_SLEEP_S = 1e-3  # up to this


def poll_until(ready: Callable[[], bool]) -> float:
    """Call ``ready()`` until it returns True (see the module docstring); return the seconds
    waited. ``ready`` should make MPI progress (``Iprobe``, ``Test``)."""
    t0 = time.perf_counter()
    naps = 0
    while not ready():
        if time.perf_counter() - t0 > SPIN_S:
            naps += 1
            time.sleep(min(MAX_SLEEP_S, SLEEP_STEP_S * naps))
    return time.perf_counter() - t0
