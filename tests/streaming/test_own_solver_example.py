"""examples/own_solver.py runs as the README says (one trainer rank, two solver ranks under the
venv's mpiexec): every simulation of its budget reaches the trainer and the loss falls."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "own_solver.py"

pytestmark = pytest.mark.skipif(not (BIN / "mpiexec").exists(), reason="no mpiexec next to python")


def test_own_solver_example_streams_every_simulation_and_learns():
    proc = subprocess.run([str(BIN / "mpiexec"), "-launcher", "fork", "-n", "3", sys.executable,
                           str(SCRIPT)], capture_output=True, text=True, timeout=180, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    m = re.search(r"received (\d+) simulations, (\d+) samples; (\d+) steps, "
                  r"loss (\S+) -> (\S+)$", proc.stdout, re.MULTILINE)
    assert m, log
    sims, samples, steps = (int(v) for v in m.group(1, 2, 3))
    first, last = float(m.group(4)), float(m.group(5))
    assert (sims, samples) == (24, 24 * 21), log  # 24 simulations of 20 steps + the initial state
    assert steps >= 24 * 20 // 8 - 1, log  # each of the 480 pairs drawn at least once, batches of 8
    assert last < 0.5 * first, log  # 0.01-0.03 x in five runs


def _docstring_script() -> str:
    """streaming/client.py's docstring script, as a user copies it."""
    from pdesurrogate.streaming import client

    block = client.__doc__.split("::\n\n", 1)[1]
    code = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        code.append(line)
    return textwrap.dedent("\n".join(code))


def _run_script(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    script = tmp_path / "by_hand.py"
    script.write_text(code)
    return subprocess.run([str(BIN / "mpiexec"), "-launcher", "fork", "-n", "2", sys.executable,
                           str(script)], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_client_docstring_script_runs_as_written(tmp_path):
    """The README sends users who stream by hand to streaming/client.py's docstring: its
    script runs under mpiexec -n 2 as it stands, and the trainer gets the simulation."""
    proc = _run_script(tmp_path, _docstring_script())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "trainer: 1 simulation(s), 2 batches" in proc.stdout  # 10 pairs, batches of 4


def test_client_docstring_script_ends_when_the_users_loop_raises(tmp_path):
    """A bug in the user's step, halfway through the documented loop: the solver rank fails
    with the user's error and the trainer ends (nothing committed) instead of waiting for that
    rank forever, as it did when the script called shutdown() after the loop (a hang until
    mpiexec was killed)."""
    code = _docstring_script()
    step = next(line for line in code.splitlines() if line.strip() == "t += dt")
    indent = step[: len(step) - len(step.lstrip())]
    code = code.replace(step, f"{step}\n{indent}if n == 50:\n{indent}    raise "
                              f"RuntimeError('bug in my step')", 1)
    proc = _run_script(tmp_path, code)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log
    assert "RuntimeError: bug in my step" in proc.stderr, log
    assert "trainer: 0 simulation(s), 0 batches" in proc.stdout, log
