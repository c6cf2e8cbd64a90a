"""Temporary files beside a target that is renamed into place when complete, and the leftovers
of writers that were killed: the one naming scheme of every writer in pdesurrogate.

Every output (a dataset file, a checkpoint, an export folder, a ``predict`` rollout and plot, a
copied config) is written under a temporary name in the target's folder, so the final rename is
atomic. The name is ``.<target>.<host>.<pid>.<16 random hex digits>.tmp`` (a backup of a
replaced target: ``... .old``), with the target's extension after it where a writer picks the
format from it (as matplotlib does); a target's name longer than 160 bytes is cut there and
followed by ``-`` and 8 hex digits of its hash, so that a temporary's name stays within the 255
bytes of a file name. ``<host>`` is the host name in letters, digits and ``-``;
one longer than 32 characters, or changed by that, is cut to 23 and followed by ``-`` and 8 hex
digits of a hash of the full name, so two hosts sharing a long prefix (cluster nodes) never
share a tag.

A file is created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``, :func:`open_temp_file`, or
h5py's mode ``"w-"`` on a :func:`temp_name`) and written through the descriptor that created
it: that fails on anything already there, a planted symbolic link included, so nothing anyone
placed in the folder is ever followed or overwritten, and the random part keeps the name from
being guessed in advance. A file's mode is 0666 less the umask, as a plain ``open`` gives
(``tempfile.mkstemp``'s 0600 would make a shared model or checkpoint unreadable to the group).

A process killed with SIGKILL leaves its temporary behind. :func:`clean_leftovers` removes, for
one target, those of this scheme whose writer is known to be gone: written on this host (the
name says which; another node of a cluster may share the folder) by a process id that no longer
runs (:func:`is_running`). A leftover of a live process or of another host stays. Each removal
is reported with a warning; a leftover backup whose target is missing is renamed back (a
replace killed between its two renames), and that is reported too.

Versions before this scheme named a temporary ``.<target>.tmp-<pid>`` (``predict``'s rollout
and plot: ``.<target>.tmp-<pid><suffix>``, ``<suffix>`` the target's extension). Such a name
carries no host, so :func:`clean_leftovers` removes it when no process ``<pid>`` runs on *this*
host: a writer of an old version still running on another node that shares the folder could
lose its temporary (and fail on its rename); a live process with that id here keeps it. The
old ``DatasetWriter``'s visible ``<target>.tmp-<pid>`` is left alone: it is also the name under
which the current one keeps a finished file it could not rename into place (its error names
it), which is data, not a leftover.

This module imports the standard library only, and the package's ``__init__`` is not needed to
use it: ``pdesurrogate.temp_files`` (which ``pdesurrogate configs`` imports) loads it without
the datasets package's readers (see there).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import socket
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

TEMP, BACKUP = "tmp", "old"
# how many random names are tried before giving up: 16 random hex digits make a clash of two
# writers vanishingly rare, so running out means something fills the folder on purpose
ATTEMPTS = 100
_HOST_CHARS = 32
# a file name's limit on Linux's and macOS's filesystems; the target's name in a temporary one
# is cut to _NAME_BYTES, which leaves room within it for the rest (at most 66 bytes) and an
# extension of up to 29: a target's name near the limit was refused for its temporary's
_NAME_MAX = 255
_NAME_BYTES = 160


def host_tag(hostname: str | None = None) -> str:
    """The host part of temporary names (module docstring): at most 32 letters, digits and
    ``-``, distinct for distinct host names."""
    full = socket.gethostname() if hostname is None else hostname
    tag = re.sub(r"[^A-Za-z0-9-]", "-", full)
    if tag == full and 0 < len(tag) <= _HOST_CHARS:
        return tag
    digest = hashlib.sha256(full.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{tag[:_HOST_CHARS - 9]}-{digest}"


def _name_part(name: str) -> str:
    """``name`` as it begins a temporary name: itself up to :data:`_NAME_BYTES` bytes, a longer
    one cut (a character cut in two dropped) and followed by ``-`` and 8 hex digits of a hash
    of all of it, so that two long names sharing a beginning never share temporaries."""
    raw = os.fsencode(name)
    if len(raw) <= _NAME_BYTES:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:8]
    cut = raw[:_NAME_BYTES - 9]
    try:
        raw.decode("utf-8")
        text = cut.decode("utf-8", "ignore")
    except UnicodeDecodeError:  # a name not in UTF-8: its bytes as they are
        text = os.fsdecode(cut)
    return f"{text}-{digest}"


def temp_name(target: Path, kind: str = TEMP, ext: str = "") -> Path:
    """A fresh, unguessable name of this scheme beside ``target`` (not created): ``kind``
    ``"tmp"`` (a temporary) or ``"old"`` (a backup), ``ext`` e.g. ``".png"`` at its end.
    OSError (ENAMETOOLONG) naming ``target`` if its name is longer than any file name can be,
    before anything is written under a temporary name that would fit."""
    target = Path(target)
    if len(os.fsencode(target.name)) > _NAME_MAX:
        raise OSError(errno.ENAMETOOLONG, f"file name too long ({len(os.fsencode(target.name))} "
                      f"bytes; a file name has at most {_NAME_MAX})", str(target))
    token = secrets.token_hex(8)
    return target.with_name(f".{_name_part(target.name)}.{host_tag()}.{os.getpid()}.{token}."
                            f"{kind}{ext}")


def leftover_pattern(target: Path) -> re.Pattern:
    """The names :func:`temp_name` gives for ``target`` (and, for a long name, those it gave
    before it cut long names); groups: host, pid, kind, ext."""
    name = Path(target).name
    names = "|".join(re.escape(n) for n in dict.fromkeys((name, _name_part(name))))
    return re.compile(rf"\.(?:{names})\."
                      + rf"([A-Za-z0-9-]{{1,{_HOST_CHARS}}})\.(\d{{1,10}})\."
                      rf"[0-9a-f]{{16}}\.({TEMP}|{BACKUP})(\.[^./]*)?")


def old_leftover_pattern(target: Path) -> re.Pattern:
    """The temporary names of versions before this scheme (module docstring) for ``target``;
    group: pid."""
    name = Path(target).name
    suffix = Path(name).suffix
    return re.compile(re.escape(f".{name}.tmp-") + r"(\d{1,10})"
                      + (f"(?:{re.escape(suffix)})?" if suffix else ""))


def open_temp_file(target: Path, ext: str = "", *, readable: bool = False,
                   buffering: int = -1) -> tuple[Path, BinaryIO]:
    """A new empty file named for ``target`` (module docstring), created exclusively in its
    folder, and the file object open on it for writing (write through it: a reopen by name
    could follow a link someone put there meanwhile); ``ext`` (e.g. ``".png"``) ends the
    name. ``readable``: open it for reading too (``"r+b"``, for HDF5); ``buffering`` as
    ``open``'s (0: unbuffered). FileExistsError after :data:`ATTEMPTS` names that were all
    taken; another OSError (a read-only folder, a full disk) names ``target``, not the
    temporary (:func:`named_error`)."""
    flags = ((os.O_RDWR if readable else os.O_WRONLY) | os.O_CREAT | os.O_EXCL
             | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0))
    for _ in range(ATTEMPTS):
        path = temp_name(target, TEMP, ext)
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as e:
            raise named_error(e, target) from None
        return path, os.fdopen(fd, "r+b" if readable else "wb", buffering=buffering)
    raise FileExistsError(f"no free temporary name beside {str(target)!r}")


def named_error(error: OSError, path: str | os.PathLike) -> OSError:
    """``error``, changed in place to read as the writer of ``path`` reports it: its errno's
    text, naming ``path`` (the final name, which the user gave, not the temporary one written),
    e.g. ``[Errno 28] No space left on device: 'data/burgers.nc'``. A write's or flush's
    OSError names no file, and a library's (HDF5) says it in its own words. In place, so that
    a bare ``raise`` keeps its type and traceback, and the command's one-line report (which
    prints the innermost cause) shows it. One with no errno (a message of ours, which names
    what it is about) is left as it is, as is a rename's, which names both its files."""
    if error.errno is not None and error.filename2 is None:
        error.strerror, error.filename = os.strerror(error.errno), str(path)
        error.args = (error.errno, error.strerror)
    return error


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


def is_running(pid: int) -> bool:
    """Whether process ``pid`` of this host may still be writing: this process, a live one, or
    another user's (``os.kill`` may not ask it); not one beyond any process id."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):  # no process can have that id
        return False
    return True


def remove_flat(path: Path) -> bool:
    """Remove ``path``: a file or link (never followed), or a folder of plain files only (a
    temporary export). A folder holding anything else is left as it is; returns False then."""
    path = Path(path)
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


def clean_leftovers(target: Path) -> list[Path]:
    """Remove the temporaries of ``target`` that writers on this host left when they were
    killed (module docstring), with a warning for each; rename a leftover backup back to
    ``target`` when ``target`` is missing. Temporaries under the names of older versions go
    when their process id runs on no process here (they name no host). Returns the paths
    removed or restored."""
    target = Path(target)
    folder = target.parent  # Path("x").parent is Path("."): always a folder to list
    pattern, host = leftover_pattern(target), host_tag()
    old_pattern = old_leftover_pattern(target)
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries]
    except OSError:
        return []  # no folder yet: nothing left over
    found = [(m, folder / n) for n in names if (m := pattern.fullmatch(n))]
    done = []
    for n in names:
        m = old_pattern.fullmatch(n)
        if m and not is_running(int(m.group(1))) and _remove(folder / n, m.group(1)):
            done.append(folder / n)
    # a backup to restore first: the newest, should a target have been replaced and killed
    # more than once
    found.sort(key=lambda f: (f[0].group(3) != BACKUP, -_mtime(f[1])))
    for m, path in found:
        if m.group(1) != host or is_running(int(m.group(2))):
            continue
        writer = f"process {m.group(2)}, no longer running"
        try:
            if m.group(3) == BACKUP and not os.path.lexists(target):
                os.rename(path, target)
                warnings.warn(f"restored {str(target)!r} from {str(path)!r}, left by {writer}: "
                              "it was killed while replacing it", stacklevel=2)
            elif not _remove(path, m.group(2)):
                continue
        except OSError:
            continue  # gone meanwhile, or not ours to remove: left as it is
        done.append(path)
    return done


def _remove(path: Path, pid: str) -> bool:
    """Remove the leftover ``path`` of process ``pid`` (:func:`remove_flat`) with a warning;
    False when it is left (not flat, gone meanwhile, not ours to remove)."""
    try:
        if not remove_flat(path):
            return False
    except OSError:
        return False
    # stacklevel 3: the warning names the writer that called clean_leftovers
    warnings.warn(f"removed {str(path)!r}, a temporary left by process {pid}, no longer "
                  "running", stacklevel=3)
    return True


def _mtime(path: Path) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0
