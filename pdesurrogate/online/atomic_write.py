"""Writing a file of the run folder whole or not at all: :func:`_atomic_write`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

from pdesurrogate.temp_files import atomic_write


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` whole or not at all: ``write(f)`` into a temporary of the project's one
    scheme (:mod:`pdesurrogate.temp_files`: created exclusively, so a link planted at its name
    is never followed, with the mode the umask gives), then renamed over ``path``; the
    temporaries a killed writer of ``path`` left are removed first
    (:func:`pdesurrogate.temp_files.atomic_write`)."""
    atomic_write(path, write)
