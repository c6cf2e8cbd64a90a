"""How ``generate_dataset`` shares batches among ``workers`` processes (its lanes): batch ``b``
goes to lane ``b % workers``, each lane solves its batches in order, is forked while the parent
runs no other thread, a failed batch or a dead worker ends every lane at once, no lane holds the
output file, and the open-files limit makes room for them all (test_generate: the bounded
number in flight; test_lanes: the lanes themselves)."""

import multiprocessing as mp
import os
import re
import signal
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import generate_dataset
from pdesurrogate.datasets.generate import sample_seed
from pdesurrogate.datasets.lanes import LaneDiedError
from tests.datasets.test_generate import TIMES, SineAdvection, _running
from tests.datasets.test_generate_reproducible import Tally

SEED = 5


@pytest.mark.parametrize("workers", [2, 3])
def test_each_lane_solves_the_batches_b_mod_workers_in_order(tmp_path, workers):
    """7 samples in batches of 2 (the last one partial): batch ``b`` follows the
    ``b // workers`` solves its lane made before, as a lane of the batches ``b % workers``
    solved in order sees. Two runs alike (the reproducibility test) do not show it: a lane
    taking batches in another fixed order, or one lane taking them all, repeats too."""
    samples, batch_size = 7, 2
    path = tmp_path / "tally.nc"
    generate_dataset(Tally(set()), path, samples=samples, times=TIMES, seed=SEED,
                     batch_size=batch_size, workers=workers, progress=False)
    with h5py.File(path) as f:
        u = f["u"][()]
    plain = np.stack([SineAdvection().solve(*SineAdvection().sample(1, sample_seed(SEED, i)),
                                            TIMES)[0].numpy() for i in range(samples)])
    earlier = np.array([(i // batch_size) // workers for i in range(samples)])
    np.testing.assert_allclose(u - plain, np.broadcast_to(
        1e-3 * earlier[:, None, None, None], u.shape), rtol=0, atol=1e-6)


class FailFirst(SineAdvection):
    """Batch 0 (the sample ``first``) raises once both workers are solving; any other batch
    takes 60 s. Each solve leaves a file named for its process id in ``pids``."""

    def __init__(self, pids: str, first: float):
        super().__init__()
        self.pids, self.first = pids, first

    def solve(self, u0, params, times):
        open(os.path.join(self.pids, str(os.getpid())), "w").close()
        if float(params["beta"][0]) != self.first:
            time.sleep(60)
        deadline = time.monotonic() + 20
        while len(os.listdir(self.pids)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        raise RuntimeError("stand-in failure")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_a_failed_batch_ends_every_lane_at_once(tmp_path):
    """Batch 0 fails while lane 1 is a minute into its batch: the error comes within seconds
    and both worker processes have ended (not only the failed batch's)."""
    pids = tmp_path / "pids"
    pids.mkdir()
    first = float(SineAdvection().sample(1, sample_seed(SEED, 0))[1]["beta"][0])
    start = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="stand-in failure"):
            generate_dataset(FailFirst(str(pids), first), tmp_path / "x.nc", samples=4,
                             times=TIMES, seed=SEED, batch_size=1, workers=2, progress=False)
        assert time.monotonic() - start < 15
        workers = [int(p) for p in os.listdir(pids)]
        assert len(workers) == 2
        deadline = time.monotonic() + 5
        while any(_running(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_running(p) for p in workers)
    finally:
        for p in os.listdir(pids):
            if _running(int(p)):
                os.kill(int(p), 9)
    assert os.listdir(tmp_path) == ["pids"]


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_every_worker_is_forked_while_the_parent_has_one_thread(tmp_path, monkeypatch):
    """fork() copies only the calling thread: a lock another thread held then (a queue's,
    malloc's) stays locked in the child for ever. Each worker process is forked while the
    parent runs its main thread alone. Before, a one-process pool per lane started its
    manager and queue-feeder threads with its process: lanes 2 and 3 were forked with 3 and
    5 threads running."""
    threads, fork = [], os.fork

    def counting_fork():
        threads.append(threading.active_count())
        return fork()

    monkeypatch.setattr(os, "fork", counting_fork)
    generate_dataset(SineAdvection(), tmp_path / "x.nc", samples=6, times=TIMES, batch_size=1,
                     workers=3, progress=False, mp_context="fork")
    assert threads == [1, 1, 1]


class KillsBatchOne(SineAdvection):
    """Batch 1 (the sample ``second``) ends its process (``how``: SIGKILL or ``os._exit(3)``);
    any other batch takes 60 s. Each solve leaves a file named for its process id in ``pids``."""

    def __init__(self, pids: str, second: float, how: str):
        super().__init__()
        self.pids, self.second, self.how = pids, second, how

    def solve(self, u0, params, times):
        open(os.path.join(self.pids, str(os.getpid())), "w").close()
        if float(params["beta"][0]) != self.second:
            time.sleep(60)
        elif self.how == "SIGKILL":
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            os._exit(3)
        return super().solve(u0, params, times)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
@pytest.mark.parametrize("how, said", [("SIGKILL", "was killed by SIGKILL"),
                                       ("exit", "exited with status 3")])
def test_a_dead_worker_ends_the_run_at_once_naming_it(tmp_path, how, said):
    """The worker solving batch 1 dies while the other is a minute into batch 0: the run ends
    within seconds with an error naming the process, how it ended and its batch, and leaves
    no worker and no file. Before, it waited for batch 0, then said only that "a process in
    the process pool was terminated abruptly"."""
    second = float(SineAdvection().sample(1, sample_seed(SEED, 1))[1]["beta"][0])
    pids, out = tmp_path / "pids", tmp_path / "out"
    pids.mkdir()
    out.mkdir()
    start = time.monotonic()
    try:
        with pytest.raises(LaneDiedError, match=rf"worker process 2 of 2 \(pid \d+\) {said}"
                                                r".* while running batch 1; the run is "
                                                r"stopped") as err:
            generate_dataset(KillsBatchOne(str(pids), second, how), out / "x.nc", samples=4,
                             times=TIMES, seed=SEED, batch_size=1, workers=2, progress=False)
        assert time.monotonic() - start < 15
        workers = {int(p) for p in os.listdir(pids)}
        assert len(workers) == 2 and re.search(r"pid (\d+)", str(err.value))[1] in \
            {str(p) for p in workers}
        assert not any(_running(p) for p in workers)
    finally:
        for p in os.listdir(pids):
            if _running(int(p)):
                os.kill(int(p), signal.SIGKILL)
    assert os.listdir(out) == []


class ListFiles(SineAdvection):
    """Each solve writes the files its process has open, one a line, to ``log/PID``."""

    def __init__(self, listing: str):
        super().__init__()
        self.listing = listing

    def solve(self, u0, params, times):
        fds = "/proc/self/fd"
        names = []
        for fd in os.listdir(fds):
            try:
                names.append(os.readlink(os.path.join(fds, fd)))
            except OSError:  # the listing's own descriptor, closed meanwhile
                pass
        with open(os.path.join(self.listing, str(os.getpid())), "a") as f:
            f.write("".join(f"{n}\n" for n in names))
        return super().solve(u0, params, times)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
@pytest.mark.parametrize("workers", [2, 3])
def test_no_worker_holds_the_output_file_open(tmp_path, workers):
    """Every lane's process is started (forked) before the temporary output file is opened, so
    no worker holds an HDF5 file open for writing (its library state and descriptor, copied)."""
    out, log = tmp_path / "out", tmp_path / "log"
    out.mkdir()
    log.mkdir()
    generate_dataset(ListFiles(str(log)), out / "x.nc", samples=2 * workers, times=TIMES,
                     batch_size=1, workers=workers, progress=False)
    assert len(os.listdir(log)) == workers
    held = [line for p in log.iterdir() for line in p.read_text().splitlines()
            if line.startswith(str(out))]
    assert held == []


_UNDER_A_LIMIT = """
import json, os, resource, sys
sys.path.insert(0, os.getcwd())
from pdesurrogate.datasets import generate_dataset
from tests.datasets.test_generate import TIMES, SineAdvection
soft, hard = int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
try:
    generate_dataset(SineAdvection(), sys.argv[1], samples=16, times=TIMES, batch_size=1,
                     workers=8, progress=False)
    error = None
except OSError as e:
    error = str(e)
print(json.dumps({"error": error, "limit": resource.getrlimit(resource.RLIMIT_NOFILE)}))
"""


def _under_a_limit(path, soft: int, hard: int) -> dict:
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _UNDER_A_LIMIT, str(path), str(soft),
                          str(hard)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


resource = pytest.importorskip("resource")


@pytest.mark.skipif(resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 512,
                    reason="needs a hard open-files limit of 512")
def test_eight_workers_run_under_a_soft_open_files_limit_of_20(tmp_path):
    """8 lanes need 30 open files: generate raises the soft limit of 20 towards the hard one
    for the run (Too many open files before; at 1024, the usual soft limit, 128 workers failed)
    and puts it back."""
    state = _under_a_limit(tmp_path / "x.nc", 20, 512)
    assert state == {"error": None, "limit": [20, 512]}
    with h5py.File(tmp_path / "x.nc") as f:
        assert f["u"].shape[0] == 16


def test_a_hard_open_files_limit_too_low_is_named(tmp_path):
    state = _under_a_limit(tmp_path / "x.nc", 80, 80)
    assert "8 workers need about 88 open files (3 a worker)" in state["error"]
    assert "ulimit -Hn) is 80: pass workers=5 (--workers 5)" in state["error"]
    assert not (tmp_path / "x.nc").exists() and os.listdir(tmp_path) == []
