"""A dataset file that cannot be written whole (a full disk or quota; here a file size limit,
RLIMIT_FSIZE, whose EFBIG reaches the writer as ENOSPC does): ``DatasetWriter`` stops at the
block that failed, with one OSError naming the file, and leaves no temporary file; ``generate``
says so in one line and keeps the file an earlier run wrote. Before, HDF5's failed writes were
printed as "Exception ignored" tracebacks, the run went on to the end, and the process died of
a segmentation fault at exit (status 139).

Each case runs in a subprocess: the limit applies to the whole process, and the old failure
was a crash.
"""

import errno
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import h5netcdf
import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, generate_dataset
from pdesurrogate.solvers import Burgers1D

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64 * 1024  # bytes; every file below is written past it


def _limited(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python args`` with files limited to LIMIT bytes (a write past it fails with EFBIG;
    SIGXFSZ, which would kill the process instead, is ignored)."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))

    return subprocess.run([sys.executable, *args], cwd=cwd, preexec_fn=limit,
                          capture_output=True, text=True, timeout=300)


WRITE_BLOCKS = """
import sys
import h5netcdf
import numpy as np
import pytest
from pdesurrogate.datasets import DatasetWriter

n, x = 64, np.linspace(0, 1, 256, endpoint=False)
w = DatasetWriter("d.nc", "toy", (x,), ("x",), np.arange(4.0), ["u"], ["nu"], n)
for i in range(n):
    try:
        w.write(i, np.ones((1, 4, 1, 256)), {"nu": [0.1]})
    except OSError as e:
        print(f"block {i}: {e}")
        sys.exit(0)
w.close()
print("closed")
"""


def test_writer_stops_at_the_block_that_failed_and_removes_its_file(tmp_path):
    """64 samples of 4 KiB into a 64 KiB limit: write() raises at a block before the last
    (HDF5 writes a block's chunks when the call ends), naming the file, not the temporary."""
    run = _limited(["-c", WRITE_BLOCKS], tmp_path)
    assert run.returncode == 0, (run.returncode, run.stderr[-3000:])
    out = run.stdout.strip()
    assert out.startswith("block ") and out.endswith("[Errno 27] File too large: 'd.nc'"), out
    assert int(out.split()[1].rstrip(":")) < 63, out
    assert "Exception ignored" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert os.listdir(tmp_path) == []


def test_generate_past_the_limit_is_one_line_and_keeps_the_earlier_file(tmp_path):
    """``generate --overwrite`` onto a good file, failing part way: status 2, one error line
    naming the file and the cause, the earlier file unchanged, nothing else in the folder."""
    out = tmp_path / "b.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), out, samples=4,
                     times=np.linspace(0, 1, 3), seed=0, workers=1)
    before = out.read_bytes()
    run = _limited(["-m", "pdesurrogate.cli", "generate", "--config",
                    str(ROOT / "configs" / "data" / "burgers1d.yaml"),
                    "--solver.n_points", "128", "--samples", "64", "--n_times", "6",
                    "--batch_size", "8", "--workers", "1", "--out", "b.nc", "--overwrite"],
                   tmp_path)
    assert run.returncode == 2, (run.returncode, run.stderr[-3000:])
    lines = run.stderr.strip().splitlines()
    assert lines[-2:] == ["pdesurrogate generate: error: OSError: [Errno 27] File too large: "
                          "'b.nc'", "(set PDESURROGATE_DEBUG=1 for the full traceback)"], lines
    assert "Exception ignored" not in run.stderr and "Traceback" not in run.stderr
    assert os.listdir(tmp_path) == ["b.nc"]
    assert out.read_bytes() == before


def test_an_hdf5_error_after_a_dropped_write_reports_the_write(tmp_path, monkeypatch):
    """HDF5 may fail on its own terms after a write was dropped (reading back what it thinks
    it wrote): the write's error is what the writer raises, and the file goes."""
    x = np.linspace(0, 1, 8, endpoint=False)
    w = DatasetWriter(tmp_path / "d.nc", "toy", (x,), ("x",), np.arange(2.0), ["u"], ["nu"], 2)
    w._guard.error = OSError(errno.ENOSPC, "No space left on device")  # a dropped write

    def hdf5_fails(self, key, value):
        raise RuntimeError("Can't read data (addr overflow)")

    monkeypatch.setattr(h5netcdf.Variable, "__setitem__", hdf5_fails)
    with pytest.raises(OSError) as err:
        w.write(0, np.ones((2, 2, 1, 8)), {"nu": [0.1, 0.2]})
    assert str(err.value) == f"[Errno 28] No space left on device: '{tmp_path / 'd.nc'}'"
    assert os.listdir(tmp_path) == []
