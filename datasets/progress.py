"""Progress of long work over samples on stderr (``generate``, ``predict``, the statistics,
opening a PDEBench file of many groups).

A rich bar where one is seen redrawn (:func:`redraws`: an interactive terminal wide enough);
otherwise (a Slurm log, a pipe, CI, ``TERM=dumb``, a narrow terminal) one plain line with
samples done, rate and time left, at most every :data:`PLAIN_PROGRESS_S` seconds (when a batch
finishes) and once at the end: a live bar draws nothing into a file until the work ends.
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
# the narrowest bar worth drawing, in columns; a terminal with less room for it gets plain lines
MIN_BAR_WIDTH = 10


def redraws(console) -> bool:
    """Whether a live rich bar on ``console`` (a ``rich.console.Console``) is seen as it runs:
    in Jupyter, or where rich animates (``is_interactive``: a terminal, not ``TERM=dumb``, or
    as ``TTY_INTERACTIVE`` says) onto a file that is a terminal. ``FORCE_COLOR`` or
    ``TTY_COMPATIBLE=1`` (set in CI for coloured logs) make rich take a log file for a
    terminal: a bar redrawn there left a CI log a frame every tenth of a second, and with
    ``TTY_INTERACTIVE=0`` (rich's advice for CI) one frame when the work ended. A console
    made with ``force_terminal=True``, or ``TTY_INTERACTIVE=1``, is taken at its word."""
    if console.is_jupyter:
        return True
    if not console.is_interactive:
        return False
    # private in rich, but the only way to tell force_terminal=True from FORCE_COLOR
    if getattr(console, "_force_terminal", None) or os.environ.get("TTY_INTERACTIVE") == "1":
        return True
    isatty = getattr(console.file, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:  # a closed file
        return False


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
    from rich.table import Column
    from rich.text import Text

    class _Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} {unit}/s", style="cyan")

    return _Rate(table_column=Column(no_wrap=True))


@contextlib.contextmanager
def progress_bar(on: bool, what: str, total: int,
                 unit: str = "samples") -> Iterator[Callable[[int], None]]:
    """``with progress_bar(on, what, total) as advance: advance(k)``: progress of ``total``
    ``unit`` (samples) on stderr when ``on``, a rich bar where it is seen redrawn
    (:func:`redraws`) and fits on one line of the terminal (:func:`bar_columns`), else
    :class:`PlainProgress` lines (the last one only when the work ends without an error)."""
    if not on:
        yield lambda k: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    columns = bar_columns(what, total, unit, console.width) if redraws(console) else None
    if columns is None:
        # a live bar draws nothing into a file: sbatch logs would show no progress
        plain = PlainProgress(what, total, unit=unit)
        yield plain.advance
        plain.finish()
        return
    from rich.progress import Progress

    bar = Progress(*columns, console=console)
    with bar:
        task = bar.add_task(what, total=total)
        yield lambda k: bar.advance(task, k)


def bar_columns(what: str, total: int, unit: str, width: int) -> list | None:
    """The rich bar's columns for ``total`` ``unit`` of ``what`` on a line of ``width``
    columns: label, bar, done/total, rate, elapsed, time left; without the rate where the line
    has no room for it and a bar :data:`MIN_BAR_WIDTH` wide, None (plain lines) where it has
    no room even then. Rich squeezed the columns instead: at 80 columns ``predicting 64
    rollouts of 20 steps`` folded its rate over three lines (``trajecto…``), at 40 it cut the
    count and the times to ``24…``, ``0:0…``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column

    count = 2 * len(str(total)) + 1
    rate = len(f"{9_999_999:,} {unit}/s") + 1
    # label, count, elapsed and time left (h:mm:ss) and the spaces between columns
    fixed = len(what) + 1 + count + 1 + 8 + 8
    for with_rate in (True, False):
        room = width - fixed - (rate if with_rate else 0) - 1
        if room >= MIN_BAR_WIDTH:
            columns = [TextColumn("[bold]{task.description}",
                                  table_column=Column(no_wrap=True)),
                       BarColumn(bar_width=min(40, room)), MofNCompleteColumn(
                           table_column=Column(no_wrap=True))]
            if with_rate:
                columns.append(rate_column(unit))
            return columns + [TimeElapsedColumn(table_column=Column(no_wrap=True)),
                              TimeRemainingColumn(table_column=Column(no_wrap=True))]
    return None


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
