"""A command's heavy imports with Python's cyclic garbage collector off, then frozen.

Importing torch, and Lightning on top of it, creates about 400,000 Python objects that live as
long as the process. While they are being created, the cyclic collector's allocation counters
keep firing: a ``pdesurrogate fit`` start-up ran 7 full collections, each over every object made
so far, 0.8-0.9 s of a 6-s start-up on a 2-core machine, and each freed at most a few hundred
objects (measured with ``gc.callbacks``, 2026-12-07). :func:`import_without_gc` imports such
modules with the collector off and then moves everything alive into the collector's permanent
generation (:func:`gc.freeze`), so that the full collections of the rest of the run skip them
too. Frozen objects are also never written to by the collector, which keeps the pages that a
forked DataLoader worker shares with its parent shared.

For a fresh process only (the ``pdesurrogate`` command calls it when run as a program, never
when a Python caller hands :func:`pdesurrogate.cli.main` its arguments): a frozen object is
never collected, so cyclic garbage alive at that moment would stay for the life of the process.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterable


def import_without_gc(modules: Iterable[str]) -> None:
    """Import ``modules`` (dotted names) with the cyclic garbage collector off, freeze every
    object alive (:func:`gc.freeze`) and turn the collector back on if it was on. No modules:
    nothing happens.

    A module that fails to import is skipped: the command imports it again where it needs it,
    and reports a missing or broken library there, its own way (Python keeps no half-imported
    module, so the second import fails the same way)."""
    modules = tuple(modules)
    if not modules:
        return  # nothing to import: nothing to freeze either
    was_on = gc.isenabled()
    gc.disable()
    try:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # a broken install raises OSError, RuntimeError...: as above
                continue
    finally:
        gc.freeze()
        if was_on:
            gc.enable()
