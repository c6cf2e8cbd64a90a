"""Lanes: task ``k`` in lane ``k % workers``, results in task order, a worker's exception raised
in the parent with its traceback, a dead worker named at once, and workers that end when the
parent is gone (generate's use of them: test_generate_lanes)."""

import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pdesurrogate.datasets.lanes import LaneDiedError, Lanes, WorkerTraceback
from tests.datasets.test_generate import _running

pytestmark = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
FORK = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None


def _whoami(k: int, nap: float = 0.0) -> tuple[int, int]:
    time.sleep(nap)
    return k, os.getpid()


def test_task_k_runs_in_lane_k_mod_workers_and_comes_back_in_order():
    """Task 0 is slow: the tasks of the other lanes finish first, yet come back after it."""
    with Lanes(3, FORK, _whoami) as lanes:
        got = list(lanes.results((k, 0.3 if k == 0 else 0.0) for k in range(10)))
        pids = lanes.pids
    assert [k for k, _ in got] == list(range(10))
    assert [pid for _, pid in got] == [pids[k % 3] for k in range(10)]
    assert len(set(pids)) == 3 and os.getpid() not in pids


def test_spawned_lanes_run_the_tasks_in_order_too():
    # a function a spawned child imports without this test module (pytest's path)
    with Lanes(2, mp.get_context("spawn"), os.getpid) as lanes:
        got = list(lanes.results(() for _ in range(5)))
        pids = lanes.pids
    assert got == [pids[k % 2] for k in range(5)] and len(set(pids)) == 2


def _fail(k: int) -> int:
    if k == 3:
        raise ValueError(f"task {k} failed")
    return k


def test_an_exception_in_a_worker_is_raised_with_its_traceback():
    with pytest.raises(ValueError, match="^task 3 failed$") as err, \
            Lanes(2, FORK, _fail) as lanes:
        list(lanes.results((k,) for k in range(8)))
    assert isinstance(err.value.__cause__, WorkerTraceback)
    assert "in _fail" in str(err.value.__cause__)
    assert not any(p.is_alive() for p in lanes._procs)


class HoldsALock(Exception):
    def __init__(self):
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def _unpicklable(k: int) -> int:
    raise HoldsALock()


def test_an_exception_that_does_not_pickle_comes_back_as_its_text():
    with pytest.raises(RuntimeError, match=r"could not send back HoldsALock: holds a lock"), \
            Lanes(2, FORK, _unpicklable) as lanes:
        list(lanes.results((k,) for k in range(2)))


def _bad_setup(x: int) -> None:
    raise OSError(f"no device {x}")


def test_a_failed_setup_is_raised_by_the_constructor_and_ends_every_lane():
    made = []

    class Kept(Lanes):
        def terminate(self):
            made.append(list(self._procs))
            super().terminate()

    with pytest.raises(OSError, match="no device 7"):
        Kept(3, FORK, _whoami, setup=_bad_setup, setup_args=(7,))
    assert len(made[0]) == 3 and not any(p.is_alive() for p in made[0])


def _die(k: int, how: str) -> int:
    if k == 1:
        if how == "SIGKILL":
            os.kill(os.getpid(), 9)
        os._exit(3)
    time.sleep(60 if k == 0 else 0)
    return k


@pytest.mark.parametrize("how, said", [("SIGKILL", "was killed by SIGKILL"),
                                       ("exit", "exited with status 3")])
def test_a_dead_worker_is_named_at_once(how, said):
    """Lane 2 dies in task 1 while lane 1 is a minute into task 0: the error names it within
    seconds, not after task 0."""
    start = time.monotonic()
    with pytest.raises(LaneDiedError, match=rf"worker process 2 of 2 \(pid \d+\) {said}.* "
                                            r"while running item 1; the run is stopped"), \
            Lanes(2, FORK, _die, unit="item") as lanes:
        list(lanes.results((k, how) for k in range(4)))
    assert time.monotonic() - start < 10
    assert not any(p.is_alive() for p in lanes._procs)


_ORPHANS = """
import multiprocessing as mp, os, sys, time
sys.path.insert(0, os.getcwd())
from pdesurrogate.datasets.lanes import Lanes
from tests.datasets.test_lanes import _whoami
lanes = Lanes(3, mp.get_context("fork"), _whoami)
lanes._conns[2].send((0, 60.0))  # the last lane starts a minute-long task
with open(sys.argv[1], "w") as f:
    f.write(" ".join(map(str, lanes.pids)))
os._exit(0)  # no cleanup: as a parent killed by SIGKILL
"""


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_idle_workers_end_when_the_parent_is_gone(tmp_path):
    """The parent dies while the last lane is busy: the idle lanes end within seconds (a forked
    lane holding the parent's end of an earlier lane's pipe kept that lane waiting)."""
    listing = tmp_path / "pids"
    # no pipes for its output: the workers would hold them open
    out = subprocess.run([sys.executable, "-c", _ORPHANS, str(listing)], timeout=60,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0
    pids = [int(p) for p in listing.read_text().split()]
    assert len(pids) == 3
    try:
        deadline = time.monotonic() + 5
        while any(_running(p) for p in pids[:2]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_running(p) for p in pids[:2])
    finally:
        for p in pids:
            if _running(p):
                os.kill(p, 9)


@pytest.mark.parametrize("bad", [{"workers": 0}, {"workers": True}, {"depth": 0}])
def test_bad_arguments_are_named(bad):
    args = {"workers": 2, "context": FORK, "run": _whoami, **bad}
    with pytest.raises(ValueError, match=f"{next(iter(bad))} must be an int >= 1"):
        Lanes(**args)
