"""Progress of long work over samples on stderr (``generate``, ``predict``, the statistics,
opening a PDEBench file of many groups).

A rich bar when stderr is a terminal; otherwise (a Slurm log, a pipe) one plain line with
samples done, rate and time left, at most every :data:`PLAIN_PROGRESS_S` seconds (when a batch
finishes) and once at the end: a live bar draws nothing into a file.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator

# a plain progress line (stderr not a terminal) at most this often, in seconds
PLAIN_PROGRESS_S = 10.0
# where launchers give a process its rank: torchrun, Lightning's DDP, Open MPI, MPICH, Slurm
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID")


def other_rank() -> bool:
    """Whether a launcher started this process as a rank other than 0 (one of
    :data:`RANK_VARIABLES` set to an integer above 0): its progress would repeat rank 0's, for
    work that each rank does alike (opening a file)."""
    for name in RANK_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return True
    return False


def rate_column(unit: str):
    """A rich progress column showing the rate, e.g. ``"1,234 samples/s"`` (empty until rich
    has measured one)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class _Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} {unit}/s", style="cyan")

    return _Rate()


@contextlib.contextmanager
def progress_bar(on: bool, what: str, total: int,
                 unit: str = "samples") -> Iterator[Callable[[int], None]]:
    """``with progress_bar(on, what, total) as advance: advance(k)``: progress of ``total``
    ``unit`` (samples) on stderr when ``on``, a rich bar on a terminal (or in Jupyter), else
    :class:`PlainProgress` lines (the last one only when the work ends without an error)."""
    if not on:
        yield lambda k: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not (console.is_terminal or console.is_jupyter):
        # a live bar draws nothing into a file: sbatch logs would show no progress
        plain = PlainProgress(what, total, unit=unit)
        yield plain.advance
        plain.finish()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   rate_column(unit), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=console)
    with bar:
        task = bar.add_task(what, total=total)
        yield lambda k: bar.advance(task, k)


class PlainProgress:
    """Progress as plain lines on stderr, for logs: ``advance(k)`` after each batch prints
    ``<what>: done/total samples (p %), r samples/s, elapsed h:mm:ss, about h:mm:ss left`` when
    ``every`` seconds (:data:`PLAIN_PROGRESS_S`) have passed since the last line; ``finish()``
    prints the last one. ``clock`` returns seconds (monotonic); ``unit`` names what is counted
    (samples)."""

    def __init__(self, what: str, total: int, every: float | None = None,
                 clock: Callable[[], float] = time.monotonic, stream=None,
                 unit: str = "samples"):
        self.what, self.total, self.clock, self.unit = what, total, clock, unit
        self.every = PLAIN_PROGRESS_S if every is None else every
        self.stream = stream
        self.done = 0
        self.start = self.last = clock()
        self._printed_at = -1

    def advance(self, k: int) -> None:
        self.done += k
        now = self.clock()
        if now - self.last >= self.every:
            self._print(now)

    def finish(self) -> None:
        if self._printed_at != self.done:
            self._print(self.clock())

    def _print(self, now: float) -> None:
        self.last, self._printed_at = now, self.done
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else float("nan")
        line = (f"{self.what}: {self.done}/{self.total} {self.unit} "
                f"({100 * self.done / max(self.total, 1):.0f} %), {rate:.3g} {self.unit}/s, "
                f"elapsed {_hms(elapsed)}")
        if self.done < self.total:
            left = (self.total - self.done) / rate if rate > 0 else float("nan")
            line += f", about {_hms(left)} left"
        print(line, file=self.stream or sys.stderr, flush=True)


def _hms(seconds: float) -> str:
    """``h:mm:ss`` (``?`` when not finite)."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
