"""A generate killed (kill -9) while it replaced a file left its temporary beside it, hidden
(``.NAME.HOST.PID.HEX.tmp``) and as large as the dataset. The next generate to the same path
removed it when it wrote (target missing, or --overwrite), but one refused because the file
exists kept it: it now removes, with a warning, the temporaries whose writer is no longer
running, and only those."""

import os
import subprocess
import sys

import numpy as np
import pytest

from pdesurrogate.datasets import generate_dataset
from pdesurrogate.datasets.temp_files import temp_name
from pdesurrogate.solvers import Burgers1D


def _left_by(target, pid: int):
    """A temporary of ``target`` named as process ``pid`` on this host names its own."""
    mine = temp_name(target)
    path = mine.with_name(mine.name.replace(f".{os.getpid()}.", f".{pid}.", 1))
    path.write_bytes(b"\0" * 4096)
    return path


def test_a_refused_generate_removes_a_killed_writers_temporary_and_keeps_a_live_ones(tmp_path):
    target = tmp_path / "b.nc"
    target.write_bytes(b"a finished dataset")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = _left_by(target, int(gone.stdout))
    live = _left_by(target, os.getpid())  # a generate writing it now
    with pytest.warns(UserWarning, match=f"removed .*{dead.name}.*no longer running"), \
            pytest.raises(FileExistsError, match="exists; pass --overwrite"):
        generate_dataset(Burgers1D(n_points=16), target, samples=2, times=np.linspace(0, 1, 2),
                         workers=1, progress=False, overwrite=False)
    # before: both kept
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, "b.nc"])
    assert target.read_bytes() == b"a finished dataset"
