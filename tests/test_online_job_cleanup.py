"""What a ``pdesurrogate online`` job leaves on the machine, and how the launcher removes it
(no job runs here; tests/test_online.py kills a solver rank of a real one): the job's own
TMPDIR folder, and the MPICH shared-memory segments that a failed job leaves in /dev/shm
(MPICH unlinks them only in MPI_Finalize), as its ranks recorded them. Nothing else is
removed, whatever the run folder's files name."""

import mmap
import os
import secrets
import socket
import tempfile
from pathlib import Path

import pytest

from pdesurrogate.online import (
    JOB_TMP_FILE,
    JOB_TMP_PREFIX,
    RANKS,
    SHM_DIR,
    _clean_up_after_job,
    _make_job_tmp,
    _record_shm,
)

pytestmark = pytest.mark.skipif(not SHM_DIR.is_dir() or not Path("/proc/self/maps").exists(),
                                reason="needs /dev/shm and /proc (Linux)")


@pytest.fixture
def segment():
    """A shared-memory segment named as MPICH names its own, created and mapped by this
    process as an MPICH rank maps its node's segment: (its path, the mapping)."""
    path = SHM_DIR / f"mpich_shm_{secrets.token_hex(4)}_0"
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        os.ftruncate(fd, mmap.PAGESIZE)
        mapped = mmap.mmap(fd, mmap.PAGESIZE)
        yield path, mapped
        mapped.close()
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def test_the_segments_a_rank_maps_are_recorded_and_unlinked_after_the_job(tmp_path, segment):
    path, _ = segment
    out = tmp_path / "run"
    (out / RANKS).mkdir(parents=True)
    _record_shm(out / RANKS / "solver0.shm")
    assert f"{socket.gethostname()} {path.name}\n" in (out / RANKS / "solver0.shm").read_text()
    _clean_up_after_job(out)
    assert not path.exists()


def test_only_mpich_segments_of_this_host_are_unlinked(tmp_path, segment):
    """A record (a file in the run folder, which anyone who can write there may edit) naming
    another host's segment, a name not of MPICH's form, or a path out of /dev/shm: left."""
    path, _ = segment
    out = tmp_path / "run"
    (out / RANKS).mkdir(parents=True)
    precious = tmp_path / "precious"
    precious.write_text("keep\n")
    rel = os.path.relpath(precious, SHM_DIR)
    (out / RANKS / "trainer0.shm").write_text(
        f"another-host-{secrets.token_hex(2)} {path.name}\n"
        f"{socket.gethostname()} {rel}\n{socket.gethostname()} {precious}\n")
    _clean_up_after_job(out)
    assert path.exists() and precious.read_text() == "keep\n"


def test_the_jobs_tmpdir_is_removed_with_what_it_holds(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "run"
    out.mkdir()
    job = _make_job_tmp(out)
    assert job.parent == tmp_path / "tmp" and job.name.startswith(JOB_TMP_PREFIX)
    assert (out / JOB_TMP_FILE).read_text().strip() == str(job)
    (job / "tmpabcwandb-artifacts").mkdir()  # what a killed rank's libraries leave
    (job / "tmpabcwandb-artifacts" / "x").write_text("x")
    _clean_up_after_job(out)
    assert list((tmp_path / "tmp").iterdir()) == [] and not (out / JOB_TMP_FILE).exists()


@pytest.mark.parametrize("kind", ["not ours", "symlink"])
def test_a_folder_the_record_names_is_removed_only_if_it_is_a_jobs_tmpdir(tmp_path, kind):
    out = tmp_path / "run"
    out.mkdir()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data").write_text("keep\n")
    named = precious
    if kind == "symlink":
        named = tmp_path / f"{JOB_TMP_PREFIX}1-00000000"
        named.symlink_to(precious, target_is_directory=True)
    (out / JOB_TMP_FILE).write_text(f"{named}\n")
    _clean_up_after_job(out)
    assert (precious / "data").read_text() == "keep\n"
