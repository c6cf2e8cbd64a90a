"""What an online job leaves on the machine (its TMPDIR folder, MPICH's shared-memory segments),
and its removal.

What a job leaves on the machine: a job the launcher starts with the wheel's mpiexec (its
ranks on this machine) gets its own TMPDIR, a new folder in the launcher's, removed when the
job ends, however it ends; and after a job whose rank died, the launcher unlinks the MPICH
shared-memory segments (``/dev/shm/mpich_shm_*``) that its ranks recorded mapping
(``out/ranks/*.shm``). A launcher killed with SIGKILL cannot: the next run in ``out`` does,
before its job starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import stat
import tempfile
from pathlib import Path

from pdesurrogate.online.run_folder import RANKS
from pdesurrogate.temp_files import atomic_write

# a job the launcher starts on this machine gets its own TMPDIR, a new folder of this prefix in
# the launcher's; its path is kept in out/JOB_TMP_FILE until the launcher removes it, so that a
# launcher that was killed leaves it for the next run in out to remove
JOB_TMP_PREFIX, JOB_TMP_FILE = "pdesurrogate-online-", "online.tmpdir"
# MPICH's shared-memory segments (shm_open names "mpich_shm_<world id>_<node>", the world id a
# hash of the job's PMI name): MPICH unlinks them in MPI_Finalize, so a job whose rank died
# leaves them behind; each rank records those it maps in out/ranks/<role><n>.shm
SHM_DIR = Path("/dev/shm")
MPICH_SHM = re.compile(r"mpich_(shm|vci)_[0-9a-f]+_[0-9]+")


def _make_job_tmp(out: Path) -> Path:
    """A new folder for the job's TMPDIR in this process's temporary folder (a node's local
    disk under Slurm, as the user set it), its path written to ``out``'s :data:`JOB_TMP_FILE`
    first, for :func:`_clean_up_after_job`."""
    parent = Path(tempfile.gettempdir())
    name = f"{JOB_TMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
    atomic_write(out / JOB_TMP_FILE, lambda f: f.write(f"{parent / name}\n".encode()))
    (parent / name).mkdir(mode=0o700)
    return parent / name


def _clean_up_after_job(out: Path) -> None:
    """After the job in ``out`` ended (however it ended), or before the next one starts there
    (its launcher was killed): unlink the MPICH shared-memory segments its ranks on this host
    recorded (``ranks/*.shm``; a normal end already did), and remove its TMPDIR folder (the
    one ``out``'s :data:`JOB_TMP_FILE` names, if it is one of ours). Only names of MPICH's
    form in :data:`SHM_DIR`, and only a folder of :data:`JOB_TMP_PREFIX` owned by this user
    that is no symlink: the files in ``out`` are not trusted to name anything else."""
    host = socket.gethostname()
    for record in sorted((out / RANKS).glob("*.shm")):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for line in record.read_text().splitlines():
                where, _, name = line.partition(" ")
                if where == host and MPICH_SHM.fullmatch(name):
                    with contextlib.suppress(OSError):
                        (SHM_DIR / name).unlink()
    with contextlib.suppress(OSError, UnicodeDecodeError):
        tmp = Path((out / JOB_TMP_FILE).read_text().strip())
        st = tmp.lstat()
        if (tmp.is_absolute() and tmp.name.startswith(JOB_TMP_PREFIX)
                and stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()):
            shutil.rmtree(tmp, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (out / JOB_TMP_FILE).unlink()


def _clear_previous_job(out: Path) -> None:
    """Before a new job in ``out``: what an earlier (ended or aborted) job there left on this
    host, and its ranks' stale pid files (a stop must not look deliverable before this job's
    ranks have their handlers in place)."""
    _clean_up_after_job(out)
    shutil.rmtree(out / RANKS, ignore_errors=True)


def _record_shm(path: Path) -> None:
    """Write to ``path`` the MPICH shared-memory segments this process maps (Linux:
    ``/proc/self/maps``), as ``HOST NAME`` lines, for :func:`_clean_up_after_job`; nothing
    where there are none (another MPI, no /proc)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return
    names = set()
    for line in maps.splitlines():
        where = line.split(maxsplit=5)[5:]  # address perms offset dev inode [path]
        seg = Path(where[0]) if where else None
        if seg is not None and seg.parent == SHM_DIR and MPICH_SHM.fullmatch(seg.name):
            names.add(seg.name)
    if names:
        host = socket.gethostname()
        text = "".join(f"{host} {n}\n" for n in sorted(names))
        atomic_write(path, lambda f: f.write(text.encode()))
