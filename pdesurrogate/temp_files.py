"""Temporary folders and backups beside a target renamed into place when complete (an export
folder); the naming scheme, exclusive files and the cleaning of killed writers' leftovers are
:mod:`pdesurrogate.datasets.temp_files`'s (standard library only; the datasets package loads its
readers lazily, so importing it here costs nothing), re-exported here.

A folder is made with ``mkdir`` (mode 0700 while it is filled, so nobody can plant a link
inside it) and gets 0777 less the umask when complete (:func:`umask_mode`). A target being
replaced is renamed aside first: to a :func:`backup_name` (renamed back by
:func:`clean_leftovers` if the writer is killed before the replacement is in: an export) or to
an :func:`aside_name` (removed by it instead: a plot that must never sit beside the new rollout
as if its own).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from pdesurrogate.datasets import temp_files as _temp
from pdesurrogate.datasets.guarded_file import GuardedFile

TEMP, BACKUP, ATTEMPTS = _temp.TEMP, _temp.BACKUP, _temp.ATTEMPTS
host_tag, temp_name, leftover_pattern = _temp.host_tag, _temp.temp_name, _temp.leftover_pattern
open_temp_file, umask_mode, is_running = _temp.open_temp_file, _temp.umask_mode, _temp.is_running
remove_flat, clean_leftovers = _temp.remove_flat, _temp.clean_leftovers
named_error = _temp.named_error

__all__ = ["ATTEMPTS", "BACKUP", "TEMP", "aside_name", "atomic_write", "backup_name",
           "clean_leftovers",
           "host_tag", "is_running", "leftover_pattern", "named_error", "open_temp_file",
           "remove_flat", "temp_dir", "temp_name", "umask_mode"]


def temp_dir(target: Path) -> Path:
    """A new empty folder named for ``target`` (module docstring), made in its folder, open to
    its owner only while it is filled (nobody can plant a link inside it); give it the usual
    mode with ``os.chmod(path, umask_mode(0o777))`` when complete. An OSError other than a
    taken name (a read-only folder) names ``target``, not the temporary (:func:`named_error`)."""
    for _ in range(ATTEMPTS):
        path = temp_name(target, TEMP)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        except OSError as e:
            raise named_error(e, target) from None
        return path
    raise FileExistsError(f"no free temporary name beside {str(target)!r}")


def backup_name(target: Path) -> Path:
    """A free name to rename ``target`` aside to while its replacement is renamed in."""
    for _ in range(ATTEMPTS):
        path = temp_name(target, BACKUP)
        if not os.path.lexists(path):
            return path
    raise FileExistsError(f"no free backup name beside {str(target)!r}")


def aside_name(target: Path) -> Path:
    """A free temporary name to rename ``target`` aside to while its replacement goes in, for
    a target that must not come back after a kill (unlike :func:`backup_name`'s, a leftover
    under this name is removed by :func:`clean_leftovers`, not renamed back)."""
    for _ in range(ATTEMPTS):
        path = temp_name(target, TEMP)
        if not os.path.lexists(path):
            return path
    raise FileExistsError(f"no free temporary name beside {str(target)!r}")


def atomic_write(path: Path, write: Callable[[IO[bytes]], None], ext: str = "") -> None:
    """Write ``path`` whole or not at all: ``write(f)`` into a temporary of this scheme
    (created exclusively, so a link planted at its name is never followed, with the mode the
    umask gives; ``ext`` ends its name), then renamed over ``path``; the temporaries a killed
    writer of ``path`` left are removed first. An OSError (a full disk, a read-only folder)
    names ``path``, not the temporary (:func:`named_error`)."""
    clean_leftovers(path)
    tmp, f = open_temp_file(path, ext)
    try:
        with f:
            # through a GuardedFile: a full disk is the OSError of the write that failed, not
            # what the library writing (torch's zip writer: "unexpected pos") makes of it
            guarded = GuardedFile(f)
            write(guarded)
            guarded.flush()
            if guarded.error is not None:
                raise guarded.error
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            named_error(e, path)
        raise
