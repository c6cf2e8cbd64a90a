"""pdesurrogate.temp_files: temporary names nobody can guess or plant, created exclusively, and
the leftovers of killed writers (removed only when their process is known to be gone)."""

import os
import re
import stat
import subprocess
import sys

import pytest

from pdesurrogate.temp_files import (
    backup_name,
    clean_leftovers,
    open_temp_file,
    temp_dir,
    umask_mode,
)


def _dead_pid() -> int:
    """The id of a process that ran and is gone (reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _leftover(folder, target, pid, kind="tmp", host=None, token="0123456789abcdef"):
    from pdesurrogate.temp_files import host_tag

    return folder / f".{target}.{host or host_tag()}.{pid}.{token}.{kind}"


def test_temp_names_are_random_exclusive_and_keep_the_umask(tmp_path):
    target = tmp_path / "p.png"
    old = os.umask(0o022)
    try:
        (a, fa), (b, fb) = open_temp_file(target, ".png"), open_temp_file(target, ".png")
        d = temp_dir(target)
    finally:
        os.umask(old)
    with fa, fb:
        fa.write(b"x")
    assert a != b and a.parent == b.parent == tmp_path
    for p in (a, b):
        assert re.fullmatch(r"\.p\.png\.[A-Za-z0-9-]+\.\d+\.[0-9a-f]{16}\.tmp\.png", p.name)
        assert str(os.getpid()) in p.name.split(".")
    assert a.read_bytes() == b"x"
    # a plain open's mode (mkstemp would give 0600); a folder is private while it is filled
    assert stat.S_IMODE(a.stat().st_mode) == 0o644
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert umask_mode(0o777) == 0o777 & ~old
    assert not os.path.lexists(backup_name(target))


def test_leftovers_of_dead_writers_go_others_stay(tmp_path):
    """A leftover of this host's dead process is removed (file or flat folder) with a warning;
    one of a live process, of another host or of another target stays."""
    dead = _dead_pid()
    gone_file = _leftover(tmp_path, "t.nc", dead)
    gone_file.write_text("half")
    gone_dir = _leftover(tmp_path, "t.nc", dead, token="fedcba9876543210")
    gone_dir.mkdir()
    (gone_dir / "config.json").write_text("{}")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = [_leftover(tmp_path, "t.nc", live.pid),
                _leftover(tmp_path, "t.nc", dead, host="elsewhere"),
                _leftover(tmp_path, "u.nc", dead)]
        for p in keep:
            p.write_text("keep")
        with pytest.warns(UserWarning, match=rf"removed .*process {dead}, no longer running"):
            removed = clean_leftovers(tmp_path / "t.nc")
    finally:
        live.kill()
        live.wait()
    assert sorted(removed) == sorted([gone_file, gone_dir])
    assert sorted(tmp_path.iterdir()) == sorted(keep)


def test_leftovers_under_older_versions_names_go_when_their_pid_is_dead(tmp_path):
    """Names of versions before the host-tagged scheme, ``.<target>.tmp-<pid>`` (a file, or an
    export's folder) and predict's ``.<target>.tmp-<pid><suffix>``, are removed with a warning
    when no process of that id runs here; a live process's stays, and so does the visible
    ``<target>.tmp-<pid>`` a DatasetWriter keeps a finished file under."""
    dead = _dead_pid()
    gone = [tmp_path / f".t.nc.tmp-{dead}", tmp_path / f".t.nc.tmp-{dead}.nc",
            tmp_path / f".out.tmp-{dead}"]
    gone[0].write_text("half")
    gone[1].write_text("half")
    gone[2].mkdir()
    (gone[2] / "config.json").write_text("{}")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = [tmp_path / f".t.nc.tmp-{live.pid}", tmp_path / f"t.nc.tmp-{dead}",
                tmp_path / f".u.nc.tmp-{dead}", tmp_path / f".t.nc.tmp-{dead}.png"]
        for p in keep:
            p.write_text("keep")
        with pytest.warns(UserWarning, match=rf"removed .*process {dead}, no longer running"):
            removed = clean_leftovers(tmp_path / "t.nc") + clean_leftovers(tmp_path / "out")
    finally:
        live.kill()
        live.wait()
    assert sorted(removed) == sorted(gone)
    assert sorted(tmp_path.iterdir()) == sorted(keep)


def test_a_link_left_over_is_removed_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data").write_text("precious")
    planted = _leftover(tmp_path, "m", _dead_pid())
    planted.symlink_to(victim)
    with pytest.warns(UserWarning, match="removed"):
        clean_leftovers(tmp_path / "m")
    assert not os.path.lexists(planted) and (victim / "data").read_text() == "precious"


def test_a_backup_of_a_killed_replace_is_restored(tmp_path):
    """A dead writer's backup of an export comes back when the target is missing, and goes
    when the target is there (the replacement was renamed in before the kill)."""
    backup = _leftover(tmp_path, "model", _dead_pid(), kind="old")
    backup.mkdir()
    (backup / "config.json").write_text("old")
    with pytest.warns(UserWarning, match=r"restored .*model' from .*killed while replacing"):
        clean_leftovers(tmp_path / "model")
    assert (tmp_path / "model" / "config.json").read_text() == "old"
    assert not os.path.lexists(backup)

    backup.mkdir()
    (backup / "config.json").write_text("older")
    with pytest.warns(UserWarning, match="removed"):
        clean_leftovers(tmp_path / "model")
    assert (tmp_path / "model" / "config.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_host_tags_of_long_or_odd_host_names_stay_distinct():
    """Names cut to 32 characters used to make cluster nodes sharing a long prefix one host,
    whose leftovers each removed as its own; a hash of the full name keeps them apart."""
    from pdesurrogate.temp_files import host_tag, leftover_pattern

    prefix = "compute-node-of-a-very-large-cluster-rack"
    tags = {host_tag(f"{prefix}{i}") for i in range(50)}
    assert len(tags) == 50
    assert host_tag("node_1.cluster") != host_tag("node-1-cluster")  # "_" and "." became "-"
    assert host_tag("login01") == "login01"  # a plain short name as it is
    for tag in (*tags, host_tag("node_1.cluster"), host_tag("")):
        assert len(tag) <= 32
        assert leftover_pattern("t.nc").fullmatch(f".t.nc.{tag}.12.0123456789abcdef.tmp")


def test_a_pid_beyond_any_process_id_is_gone_for_every_writer(tmp_path):
    """A leftover naming a process id no process can have (os.kill: OverflowError) is removed
    by every writer alike: dataset files too, which used to keep it as if running."""
    from pdesurrogate.datasets import DatasetWriter

    left = _leftover(tmp_path, "t.nc", 9_999_999_999)
    left.write_bytes(b"half")
    with pytest.warns(UserWarning, match="process 9999999999, no longer running"):
        w = DatasetWriter(tmp_path / "t.nc", pde="toy", grid=[[0.0, 1.0]], grid_names=["x"],
                          times=[0.0], channel_names=["u"], param_names=[], n_samples=1)
    w.abort()
    assert not left.exists()


def test_the_core_is_one_module_and_loads_without_the_datasets_readers():
    """pdesurrogate.temp_files re-exports pdesurrogate.datasets.temp_files (one module object,
    not a copy), and importing it (as `pdesurrogate configs` does) imports neither the
    datasets package's readers nor h5py or torch."""
    code = ("import sys, pdesurrogate.temp_files as t\n"
            "assert not {'pdesurrogate.datasets.reader', 'h5py', 'torch'} & set(sys.modules)\n"
            "from pdesurrogate.datasets import temp_files as core, DatasetWriter\n"
            "assert t.clean_leftovers is core.clean_leftovers and t.temp_name is core.temp_name\n"
            "from pdesurrogate.datasets import ourformat\n"
            "assert ourformat.temp_name is core.temp_name\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
