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
