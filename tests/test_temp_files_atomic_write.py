"""pdesurrogate.temp_files.atomic_write: removes the temporaries a killed writer of the same
name left, writes into a temporary whose name ends with ``ext``, and leaves no temporary when
the write fails (cases a mutation audit found no test held)."""

import pytest

from pdesurrogate.temp_files import atomic_write

from .test_temp_files import _dead_pid, _leftover


def test_a_dead_writers_leftover_goes_and_the_temporary_ends_with_ext(tmp_path):
    target = tmp_path / "curves.png"
    dead = _leftover(tmp_path, "curves.png", _dead_pid(), kind="tmp.png")
    dead.write_bytes(b"half a png")
    names = []

    def write(f):
        # the temporary is the one entry beside the target, while it is written
        names.extend(p.name for p in tmp_path.iterdir())
        f.write(b"whole")

    with pytest.warns(UserWarning, match="no longer running"):
        atomic_write(target, write, ".png")
    assert target.read_bytes() == b"whole"
    assert len(names) == 1 and names[0].endswith(".tmp.png"), names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]


def test_a_failed_write_leaves_neither_temporary_nor_target(tmp_path):
    target = tmp_path / "summary.json"

    def write(f):
        f.write(b"par")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, write)
    assert list(tmp_path.iterdir()) == []
