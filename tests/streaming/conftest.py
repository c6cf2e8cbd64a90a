"""Shared by the streaming tests: the MPI scripts of this folder (``receiver_guards.py``,
``client_packs.py``, ...) run in their own process, so the test process never starts MPI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def run_script():
    """``run_script(name)``: run this folder's script ``name`` with one OpenMP thread, fail the
    test (with its output) unless it exits 0, and return its stdout's lines, each one JSON
    object."""

    def run(name: str) -> list[dict]:
        proc = subprocess.run([sys.executable, str(HERE / name)], capture_output=True,
                              text=True, timeout=60, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines()]

    return run
