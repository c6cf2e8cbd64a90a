"""benchmarks/stream_wait.py end to end, tiny: it launches its own 2-rank MPI job, prints the
table and writes one row per work time with positive rates for both ways of sending. Which
way wins is not checked here: on a shared 2-core machine that moves with other jobs' load."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "stream_wait.py"
MPIEXEC = Path(sys.executable).parent / "mpiexec"


@pytest.mark.slow  # runs a benchmark script or its training (seconds): make test-all
@pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")
def test_tiny_run_writes_both_rates(tmp_path):
    out = tmp_path / "wait.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--work-ms", "0", "1", "--mib", "4",
                           "--steps", "4", "--repeats", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wait_large" in proc.stdout
    res = json.loads(out.read_text())
    assert (res["mib"], res["steps"], res["repeats"]) == (4, 4, 1)
    assert [r["work_ms"] for r in res["rows"]] == [0.0, 1.0]
    for r in res["rows"]:
        assert r["copy_steps_per_s"] > 0 and r["wait_steps_per_s"] > 0
        assert r["wait_over_copy"] == pytest.approx(r["wait_steps_per_s"] / r["copy_steps_per_s"])


def test_bad_arguments_are_refused():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--mib", "2"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2 and "--mib" in proc.stderr
