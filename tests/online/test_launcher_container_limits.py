"""``pdesurrogate online`` refuses, before its MPI job starts, to start more ranks on this machine
than its ``/dev/shm`` has room for (``shm_room``). In a container (Docker's and Podman's
default ``/dev/shm`` is 64 MiB), a job that did not fit died inside ``MPI_Init``: seen with 4
ranks in a 16 MiB ``/dev/shm``, "BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES ... EXIT
CODE: 11" and "the MPI job failed with exit code 11", nothing naming /dev/shm.

No folder is mounted here: the free space the launcher reads is replaced (``shutil.disk_usage``
of ``/dev/shm`` only)."""

import importlib.util
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from pdesurrogate.cli import main
from pdesurrogate.online import shm_room
from pdesurrogate.online.shm_room import MIB, PER_RANK, SHM_DIR, shm_room_error

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

Usage = namedtuple("Usage", "total used free")


def _shm_with(monkeypatch, free: int) -> None:
    real = shutil.disk_usage

    def disk_usage(path):
        if str(path) == SHM_DIR:
            return Usage(64 * MIB, 64 * MIB - free, free)
        return real(path)

    monkeypatch.setattr(shm_room.shutil, "disk_usage", disk_usage)


def test_ranks_that_do_not_fit_are_refused_naming_dev_shm_and_what_to_do(monkeypatch):
    _shm_with(monkeypatch, 16 * MIB)
    # 16 MiB: three ranks' 15 MiB fit, four ranks' 20 MiB do not (measured: 20.6 MiB, and a
    # 4-rank job in a 16 MiB /dev/shm died)
    assert shm_room_error(3) is None
    message = shm_room_error(4)
    assert message is not None
    assert message.startswith("/dev/shm has 16.0 MiB free, and the 4 ranks")
    assert "about 20 MiB" in message and "--shm-size" in message and "3 fit" in message


def test_no_dev_shm_is_no_refusal(tmp_path):
    assert shm_room_error(1000, str(tmp_path / "none")) is None


def test_online_stops_before_its_job_starts_and_leaves_no_run_folder(tmp_path, monkeypatch,
                                                                      capsys):
    # the test config's job: 1 trainer + 2 solver ranks; room for two only
    _shm_with(monkeypatch, 2 * PER_RANK + MIB)
    cfg, out = helpers.write_config(tmp_path), tmp_path / "run"
    assert main(["online", "--config", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pdesurrogate online: error: /dev/shm has 11.0 MiB free" in err
    assert "3 ranks of the MPI job need about 15 MiB" in err
    assert not out.exists()


@pytest.mark.parametrize("free", [0, PER_RANK - 1])
def test_not_even_one_rank_says_none_fit(monkeypatch, free):
    _shm_with(monkeypatch, free)
    assert "(trainers + solvers: 0 fit)" in shm_room_error(1)


def test_ranks_that_fill_it_exactly_fit(monkeypatch):
    _shm_with(monkeypatch, 3 * PER_RANK)
    assert shm_room_error(3) is None
    assert shm_room_error(4) is not None


def test_the_message_counts_the_ranks_that_fit(monkeypatch):
    _shm_with(monkeypatch, 11 * MIB)  # two ranks of 5 MiB, not eight
    message = shm_room_error(8)
    assert "the 8 ranks of the MPI job need about 40 MiB" in message
    assert "(trainers + solvers: 2 fit)" in message


def test_a_folder_that_cannot_be_read_for_another_reason_is_no_refusal(monkeypatch):
    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(shm_room.shutil, "disk_usage", unreadable)
    assert shm_room_error(1000) is None
