"""Checks of a benchmark's numeric options, as usage errors: a run with no epochs or no
repeats would print a table of nothing, or a traceback from deep inside the code."""

from __future__ import annotations

import argparse


def check_at_least(parser: argparse.ArgumentParser, lows: dict[str, tuple[object, int]]) -> None:
    """Usage error for the first option whose value is below its least sensible value:
    ``lows`` maps an option (``"--epochs"``) to ``(value, low)``; a None value (left to a
    computed default) is not checked."""
    for option, (value, low) in lows.items():
        if value is not None and value < low:
            parser.error(f"{option} must be >= {low}, got {value}")
