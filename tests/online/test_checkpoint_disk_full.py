"""An online run whose checkpoint cannot be written (a full disk or quota): the staged
``checkpoint.partial/`` goes, with the empty file the Lightning checkpoint was to be renamed
from, ``checkpoint/`` (the last complete one) is left as it was, and the error names the file
that failed, not its temporary; the rank says it in one line; the launcher's message says that
the run folder's file system is full (the ranks' error lines go to logs there, which a 20 KiB
tmpfs left empty: the job "failed with exit code 255" with nothing above it).
"""

import errno
import json
import os
import shutil
from collections import namedtuple
from types import SimpleNamespace

import pytest

from pdesurrogate.online import launcher
from pdesurrogate.online.checkpoint import CHECKPOINT, STAGE, _write_checkpoint
from pdesurrogate.online.errors import UsageError
from pdesurrogate.online.rank import _failure


class _Comm:
    """One trainer rank's communicator."""
    size = 1

    def bcast(self, value, root=0):
        return value

    def allreduce(self, value):
        return value

    def Barrier(self):
        pass


class _Receiver:
    def snapshot(self, freeze):
        return {"committed_sims": [0, 1, 2]}

    def stats(self):
        return {"samples": 6, "bytes": 600}


class _Trainer:
    """Writes ``payload`` to the checkpoint path, or half of it and then fails as a full disk
    does (``full``)."""
    global_step = 5

    def __init__(self, payload: bytes, full: bool = False):
        self.payload, self.full = payload, full

    def save_checkpoint(self, path, weights_only):
        with open(path, "wb") as f:
            f.write(self.payload[: len(self.payload) // 2] if self.full else self.payload)
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")


def _checkpoint(out, trainer) -> None:
    roles = SimpleNamespace(comm=_Comm(), rank_in_role=0)
    _write_checkpoint(out, trainer, _Receiver(), roles, SimpleNamespace(simulations=16),
                      freeze=False, prior={"samples": 0, "bytes": 0})


def test_a_failed_checkpoint_leaves_the_last_one_and_no_stage(tmp_path):
    _checkpoint(tmp_path, _Trainer(b"first checkpoint"))
    final = tmp_path / CHECKPOINT
    before = {p.name: p.read_bytes() for p in final.iterdir()}
    assert json.loads(before["manifest.json"])["global_step"] == 5
    with pytest.raises(OSError) as err:
        _checkpoint(tmp_path, _Trainer(b"second checkpoint", full=True))
    assert str(err.value) == ("[Errno 28] No space left on device: "
                              f"'{tmp_path / STAGE / 'model.ckpt'}'")
    assert sorted(os.listdir(tmp_path)) == [CHECKPOINT]
    assert {p.name: p.read_bytes() for p in final.iterdir()} == before


def test_a_rank_says_a_full_disk_in_one_line_and_other_failures_with_a_traceback():
    full = OSError(errno.ENOSPC, "No space left on device", "run/checkpoint.partial/x.pt")
    assert _failure(full) == ("error: [Errno 28] No space left on device: "
                              "'run/checkpoint.partial/x.pt'")
    assert _failure(OSError(errno.EFBIG, "File too large", "a.pt")).startswith("error: ")
    assert _failure(UsageError("'x.yaml': bad")) == "error: 'x.yaml': bad"
    # no file named, or another cause: a bug's traceback is wanted
    assert _failure(OSError(errno.ENOSPC, "No space left on device")).startswith("fatal: ")
    assert _failure(OSError(errno.EIO, "Input/output error", "a.pt")).startswith("fatal: ")
    assert _failure(KeyError("x")) == "fatal: KeyError: 'x'"


_Usage = namedtuple("_Usage", "total used free")


def test_the_launcher_says_when_the_run_folder_is_full(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage(20480, 8192, 12288))
    assert launcher._full_disk_note(tmp_path) == (
        f". The file system of {tmp_path} is full (12288 bytes free): a write there failed, "
        "and the job's logs may have lost its error lines; free space (or pick another "
        "--out) first")
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: _Usage(1 << 40, 1 << 39, launcher.FULL_BELOW))
    assert launcher._full_disk_note(tmp_path) == ""
