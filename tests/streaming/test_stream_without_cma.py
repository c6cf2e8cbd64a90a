"""The stream where MPI cannot copy straight from the sender's memory (MPICH's CMA off, as in a
container or under a kernel that forbids cross-process reads, and like a network without
progress of its own): a large message then moves only while the sender calls MPI. The client
napped between its polls while waiting for its own sends and for the credits that follow them,
and part (a) of benchmarks/streaming.py moved 11-12 MB/s for every field size (raw MPI 1.2-2.4
GB/s). The bound here is 100 MB/s, ten times that and about a tenth of what it moves now."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MPIEXEC = Path(sys.executable).parent / "mpiexec"


@pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")
def test_64kib_fields_stream_at_over_100_mb_per_s_without_cma(tmp_path):
    out = tmp_path / "a.json"
    env = {**os.environ, "MPIR_CVAR_CH4_CMA_ENABLE": "0", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "streaming.py"), "--part", "a", "--sizes",
         "64KiB", "--repeats", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    row = json.loads(out.read_text())["parts"]["a"][0]["rows"][0]
    assert row["case"] == "64KiB"
    assert row["ours_mb_per_s"] > 100, row
