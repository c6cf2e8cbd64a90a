"""Temporary files and folders beside a target that is renamed into place when complete, and the
leftovers of writers that were killed.

pdesurrogate writes every output (an export folder, a ``predict`` rollout and plot, a copied
config) under a temporary name in the target's folder, so the final rename is atomic. The name
is ``.<target>.<host>.<pid>.<16 random hex digits>.tmp`` (a backup of a replaced export folder:
``... .old``), with the target's extension after it where a writer picks the format from it (as
matplotlib does). It is created exclusively: a file with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and
written through the descriptor that created it, a folder with ``mkdir`` (mode 0700 while it is
filled); both fail on anything already there, a planted symbolic link included, so nothing anyone
placed in the folder is ever followed or overwritten, and the random part keeps the name from
being guessed in advance. A file's mode is 0666 less the umask, as a plain ``open`` gives
(``tempfile.mkstemp``'s 0600 would make a shared model or plot unreadable to the group); a
folder gets 0777 less the umask when complete (:func:`umask_mode`).

A process killed with SIGKILL leaves its temporary behind. :func:`clean_leftovers` removes, for
one target, those of this scheme whose writer is known to be gone: written on this host (the
name says which; another node of a cluster may share the folder) by a process id that no longer
runs (``os.kill(pid, 0)``). A leftover of a live process or of another host stays. Each removal
is reported with a warning; a leftover backup of an export whose target is missing is renamed
back (a replace killed between its two renames), and that is reported too.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

TEMP, BACKUP = "tmp", "old"
_ATTEMPTS = 100


def _host() -> str:
    # the name's host part: letters, digits and "-" only, so the pattern below can split it
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def _name(target: Path, kind: str, ext: str) -> Path:
    token = secrets.token_hex(8)
    return target.with_name(f".{target.name}.{_host()}.{os.getpid()}.{token}.{kind}{ext}")


def _pattern(target: Path) -> re.Pattern:
    return re.compile(re.escape(f".{target.name}.") + r"([A-Za-z0-9-]{1,32})\.(\d{1,10})\."
                      rf"[0-9a-f]{{16}}\.({TEMP}|{BACKUP})(\.[^./]*)?")


def open_temp_file(target: Path, ext: str = "") -> tuple[Path, BinaryIO]:
    """A new empty file named for ``target`` (module docstring), created exclusively in its
    folder, and the file object open on it for writing (write through it: a reopen by name
    could follow a link someone put there meanwhile); ``ext`` (e.g. ``".png"``) ends the
    name."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_ATTEMPTS):
        path = _name(target, TEMP, ext)
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        return path, os.fdopen(fd, "wb")
    raise FileExistsError(f"no free temporary name beside {str(target)!r}")


def temp_dir(target: Path) -> Path:
    """A new empty folder named for ``target`` (module docstring), made in its folder, open to
    its owner only while it is filled (nobody can plant a link inside it); give it the usual
    mode with ``os.chmod(path, umask_mode(0o777))`` when complete."""
    for _ in range(_ATTEMPTS):
        path = _name(target, TEMP, "")
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary name beside {str(target)!r}")


def umask_mode(mode: int) -> int:
    """``mode`` less this process's umask: what ``open`` / ``mkdir`` would have given."""
    try:  # Linux >= 4.7 shows it without changing it
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return mode & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting it, and put straight back
    os.umask(mask)
    return mode & ~mask


def backup_name(target: Path) -> Path:
    """A free name to rename ``target`` aside to while its replacement is renamed in."""
    for _ in range(_ATTEMPTS):
        path = _name(target, BACKUP, "")
        if not os.path.lexists(path):
            return path
    raise FileExistsError(f"no free backup name beside {str(target)!r}")


def aside_name(target: Path) -> Path:
    """A free temporary name to rename ``target`` aside to while its replacement goes in, for
    a target that must not come back after a kill (unlike :func:`backup_name`'s, a leftover
    under this name is removed by :func:`clean_leftovers`, not renamed back)."""
    for _ in range(_ATTEMPTS):
        path = _name(target, TEMP, "")
        if not os.path.lexists(path):
            return path
    raise FileExistsError(f"no free temporary name beside {str(target)!r}")


def remove_flat(path: Path) -> bool:
    """Remove ``path``: a file or link (never followed), or a folder of plain files only (a
    temporary export). A folder holding anything else is left as it is; returns False then."""
    if not os.path.isdir(path) or os.path.islink(path):
        os.unlink(path)
        return True
    with os.scandir(path) as entries:
        names = [e.name for e in entries]
    for name in names:
        if stat.S_ISDIR(os.lstat(path / name).st_mode):
            return False
    for name in names:
        os.unlink(path / name)
    os.rmdir(path)
    return True


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    except (OverflowError, ValueError):  # beyond any process id
        return False
    return True


def clean_leftovers(target: Path) -> list[Path]:
    """Remove the temporaries of ``target`` that writers on this host left when they were
    killed (module docstring), with a warning for each; rename a leftover backup back to
    ``target`` when ``target`` is missing. Returns the paths removed or restored."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    pattern, host = _pattern(target), _host()
    try:
        with os.scandir(folder) as entries:
            found = [(m, folder / e.name) for e in entries if (m := pattern.fullmatch(e.name))]
    except OSError:
        return []  # no folder yet: nothing left over
    done = []
    # a backup to restore first: the newest, should a target have been replaced and killed
    # more than once
    found.sort(key=lambda f: (f[0].group(3) != BACKUP, -_mtime(f[1])))
    for m, path in found:
        if m.group(1) != host or _running(int(m.group(2))):
            continue
        writer = f"process {m.group(2)}, no longer running"
        try:
            if m.group(3) == BACKUP and not os.path.lexists(target):
                os.rename(path, target)
                warnings.warn(f"restored {str(target)!r} from {str(path)!r}, left by {writer}: "
                              "it was killed while replacing it", stacklevel=2)
            elif remove_flat(path):
                warnings.warn(f"removed {str(path)!r}, a temporary left by {writer}",
                              stacklevel=2)
            else:
                continue
        except OSError:
            continue  # gone meanwhile, or not ours to remove: left as it is
        done.append(path)
    return done


def _mtime(path: Path) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0
