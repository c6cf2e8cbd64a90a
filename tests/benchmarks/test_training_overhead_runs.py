"""benchmarks/training_overhead.py's process runner: a command pinned to the cores asked for,
and each command's own CPU time even when two run at once (--side-by-side starts the bare loop
and fit together, from two threads)."""

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from training_overhead import run_process  # noqa: E402

BURN = ("import time\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < {secs}:\n"
        "    pass\n"
        "print('burnt')\n")


@pytest.mark.parametrize("tty", [False, True])
def test_a_pinned_command_runs_on_the_cores_asked_for(tty):
    core = max(os.sched_getaffinity(0))
    cmd = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]
    wall, cpu, rc, out = run_process(cmd, dict(os.environ), tty=tty, cpus={core})
    assert rc == 0, out
    assert f"[{core}]" in out
    assert wall > 0 and cpu > 0


def test_two_commands_at_once_each_get_their_own_cpu_time():
    # a short and a long burner started together: each must report its own CPU time, not the
    # sum of all children this process has reaped so far
    def run(secs):
        return run_process([sys.executable, "-c", BURN.format(secs=secs)], dict(os.environ),
                           tty=False)

    with ThreadPoolExecutor(2) as pool:
        short, long = pool.map(run, (0.5, 0.8))
    assert short[2] == 0 and long[2] == 0
    assert "burnt" in short[3] and "burnt" in long[3]
    assert 0.5 <= short[1] < 0.75, short
    assert 0.8 <= long[1] < 1.1, long  # both together: 1.3 s or more


def test_exit_status_of_a_failing_command():
    wall, cpu, rc, out = run_process([sys.executable, "-c", "import sys; print('no'); "
                                      "sys.exit(3)"], dict(os.environ), tty=False)
    assert rc == 3 and "no" in out


THREADED = ("import threading, time\n"
            "ts = [threading.Thread(target=time.sleep, args=(30,), daemon=True)\n"
            "      for _ in range(2)]\n"
            "[t.start() for t in ts]\n"
            "print('ready', flush=True)\n"
            "time.sleep(30)\n")


def _allowed(pid: int) -> dict[int, str]:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        out[int(tid)] = next(line.split()[1] for line in status.splitlines()
                             if line.startswith("Cpus_allowed_list"))
    return out


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_swapping_moves_every_thread_of_both_processes():
    import subprocess
    import threading

    from training_overhead import swap_cores

    a, b = sorted(os.sched_getaffinity(0))[:2]
    procs = [subprocess.Popen([sys.executable, "-c", THREADED], stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        done = threading.Event()
        # one swap (every 0.05 s, stopped after the first): process 0 to b, process 1 to a
        swapper = threading.Thread(target=swap_cores, args=([p.pid for p in procs], [a, b],
                                                            0.05, done))
        swapper.start()
        deadline = 100
        while set(_allowed(procs[0].pid).values()) != {str(b)} and deadline:
            threading.Event().wait(0.001)
            deadline -= 1
        done.set()
        swapper.join()
        first, second = _allowed(procs[0].pid), _allowed(procs[1].pid)
        assert len(first) == 3 and len(second) == 3  # the main thread and its two
        # swapped once or more: the two processes are on different cores, all threads alike
        assert len(set(first.values())) == 1 and len(set(second.values())) == 1
        assert set(first.values()) | set(second.values()) == {str(a), str(b)}
    finally:
        for p in procs:
            p.kill()
            p.wait()
