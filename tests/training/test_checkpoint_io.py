"""AtomicCheckpointIO: a checkpoint is replaced by a rename inside its own folder (never copied
in from $TMPDIR, so a kill leaves the old file or the new one, never a part), and is read
weights-only from local files alone."""

import errno
import os
import pickle
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
import torch

from pdesurrogate.training import checkpoint_io
from pdesurrogate.training.checkpoint_io import AtomicCheckpointIO


def _checkpoint(value: float) -> dict:
    return {"state_dict": {"w": torch.full((4, 4), value)}, "epoch": int(value)}


@pytest.fixture
def tmpdir_elsewhere(tmp_path, monkeypatch) -> Path:
    """$TMPDIR for this test: a folder apart from the checkpoint's."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_save_renames_a_file_from_the_targets_own_folder(tmp_path, tmpdir_elsewhere,
                                                         monkeypatch):
    """Written, flushed to disk (fsync) and renamed within the checkpoint folder: nothing
    goes through $TMPDIR (which may be another filesystem, where a move is a copy)."""
    target = tmp_path / "run" / "checkpoints" / "last.ckpt"
    events = []
    replace, fsync, move = os.replace, os.fsync, shutil.move
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", a, b)),
                                                     replace(a, b))[1])
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", fd)), fsync(fd))[1])
    monkeypatch.setattr(shutil, "move", lambda *a, **k: (events.append(("move",)),
                                                         move(*a, **k))[1])
    seen_in_tmpdir = []
    save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: (
        seen_in_tmpdir.extend(os.listdir(tmpdir_elsewhere)), save(obj, f, *a, **k))[1])

    AtomicCheckpointIO().save_checkpoint(_checkpoint(1.0), target)

    replaces = [e for e in events if e[0] == "replace"]
    assert len(replaces) == 1 and not [e for e in events if e[0] == "move"], events
    _, src, dst = replaces[0]
    assert Path(dst) == target and Path(src).parent == target.parent, replaces
    assert events[0][0] == "fsync", events  # the data is on disk before the rename
    assert not seen_in_tmpdir and not os.listdir(tmpdir_elsewhere)
    assert sorted(os.listdir(target.parent)) == ["last.ckpt"]  # no temporary file left
    loaded = AtomicCheckpointIO().load_checkpoint(target)
    assert torch.equal(loaded["state_dict"]["w"], torch.full((4, 4), 1.0))


@pytest.mark.parametrize("killed_in", ["torch.save", "a copy"])
def test_a_save_killed_midway_leaves_a_whole_checkpoint(killed_in, tmp_path, tmpdir_elsewhere,
                                                        monkeypatch):
    """$TMPDIR is another filesystem (a rename out of it fails with EXDEV, as the kernel's
    does, so a move becomes a copy), and the save is killed half way through writing the
    checkpoint's bytes, in torch.save or in a copy. last.ckpt holds the old checkpoint or the
    new one, whole, at every moment; no temporary file is left beside it."""
    target = tmp_path / "run" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint(_checkpoint(1.0), target)
    old = target.read_bytes()

    def across_filesystems(real):
        def rename(src, dst, *args, **kwargs):
            if Path(src).is_relative_to(tmpdir_elsewhere) != Path(dst).is_relative_to(
                    tmpdir_elsewhere):
                raise OSError(errno.EXDEV, "Invalid cross-device link", str(src))
            return real(src, dst, *args, **kwargs)
        return rename

    monkeypatch.setattr(os, "rename", across_filesystems(os.rename))
    monkeypatch.setattr(os, "replace", across_filesystems(os.replace))
    at_the_kill = []

    def killed() -> None:
        at_the_kill.append(target.read_bytes())
        raise KeyboardInterrupt  # as a signal would

    if killed_in == "torch.save":
        def torn_save(obj, f, *args, **kwargs):
            f.write(old[: len(old) // 2])
            f.flush()
            killed()
        monkeypatch.setattr(torch, "save", torn_save)
    else:
        def torn_copy(src, dst, *args, **kwargs):
            data = Path(src).read_bytes()
            with open(dst, "wb") as f:
                f.write(data[: len(data) // 2])
            killed()
        monkeypatch.setattr(shutil, "copyfile", torn_copy)

    try:
        io.save_checkpoint(_checkpoint(2.0), target)
    except KeyboardInterrupt:
        pass
    assert all(seen == old for seen in at_the_kill)
    assert AtomicCheckpointIO().load_checkpoint(target)["epoch"] == (
        1 if at_the_kill else 2)
    assert sorted(os.listdir(target.parent)) == ["last.ckpt"]
    assert not os.listdir(tmpdir_elsewhere)


def test_a_checkpoint_gets_the_mode_the_umask_gives(tmp_path):
    """As a plain open() would give it (tempfile.mkstemp's 0o600 would not): a run folder
    shared by a group stays readable by the group."""
    old = os.umask(0o027)
    try:
        AtomicCheckpointIO().save_checkpoint(_checkpoint(1.0), tmp_path / "last.ckpt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "last.ckpt").stat().st_mode) == 0o640


class _Marker:
    """Unpickled, it would create the file ``path``: the stand-in for a payload."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_load_never_unpickles_objects(tmp_path):
    marker = tmp_path / "ran"
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {}, "payload": _Marker(str(marker))}, bad)
    with pytest.raises(pickle.UnpicklingError):
        AtomicCheckpointIO().load_checkpoint(bad)
    with pytest.raises(ValueError, match=r"weights_only=False would unpickle"):
        AtomicCheckpointIO().load_checkpoint(bad, weights_only=False)
    assert not marker.exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/evil.ckpt", "https://x.org/last.ckpt",
                                 "file:///tmp/last.ckpt", "s3://bucket/last.ckpt"])
def test_load_refuses_a_url(url):
    """Lightning reads an http(s) path with torch.hub and, by default, unpickles it."""
    with pytest.raises(ValueError, match=r"a URL; checkpoints are read from local files only"):
        AtomicCheckpointIO().load_checkpoint(url)


def test_load_of_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="Checkpoint file not found"):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "none.ckpt")


def test_is_url():
    assert checkpoint_io.is_url("http://h/x") and checkpoint_io.is_url("s3://b/k")
    assert not checkpoint_io.is_url("runs/http/last.ckpt")
    assert not checkpoint_io.is_url("http_runs/last.ckpt")
    assert not checkpoint_io.is_url(Path("C:/runs/last.ckpt"))


def test_the_temporary_of_a_killed_save_goes_at_the_next_save(tmp_path):
    """A save killed before its rename leaves ``.last.ckpt.<host>.<pid>.<random>.tmp``; the
    next save of last.ckpt on this host removes it (its process is gone), with a warning, and
    one of a live process stays."""
    import subprocess
    import sys

    from pdesurrogate.temp_files import host_tag

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    left = tmp_path / f".last.ckpt.{host_tag()}.{p.pid}.0123456789abcdef.tmp"
    live = tmp_path / f".last.ckpt.{host_tag()}.{os.getpid()}.fedcba9876543210.tmp"
    for f in (left, live):
        f.write_bytes(b"half a checkpoint")
    with pytest.warns(UserWarning, match=rf"removed .*{left.name}.*process {p.pid}"):
        AtomicCheckpointIO().save_checkpoint(_checkpoint(2.0), tmp_path / "last.ckpt")
    assert sorted(os.listdir(tmp_path)) == sorted(["last.ckpt", live.name])


def test_storage_options_are_lightnings_type_error(tmp_path):
    """As the docstring says: TorchCheckpointIO, which this extends, takes no storage
    options, and nothing is written."""
    with pytest.raises(TypeError, match="storage_options"):
        AtomicCheckpointIO().save_checkpoint(_checkpoint(1.0), tmp_path / "last.ckpt",
                                             storage_options={"anon": True})
    assert os.listdir(tmp_path) == []
