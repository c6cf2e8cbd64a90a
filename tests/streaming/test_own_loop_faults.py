"""A user's own loop misbehaving under mpiexec (own_loop_faults.py): NaN in one simulation
fails and resubmits that simulation only, also when short simulations share chain packs
(one finite flag per pack made the trainer drop every simulation in it); a forgotten close()
is discarded with a warning that says so."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
MPIEXEC = Path(sys.executable).parent / "mpiexec"

pytestmark = pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")


def run(mode: str, n: int, tmp_path: Path) -> tuple[dict, str]:
    out = tmp_path / "trainer.json"
    proc = subprocess.run([str(MPIEXEC), "-launcher", "fork", "-n", str(n), sys.executable,
                           str(HERE / "own_loop_faults.py"), mode, str(out)],
                          capture_output=True, text=True, timeout=90,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout + proc.stderr


def test_nan_fails_only_its_simulation_and_is_resubmitted(tmp_path):
    res, log = run("nan", 3, tmp_path)
    bad = res["bad"]
    assert bad and res["abandoned"] == bad  # each tried 1 + max_retries times, then given up
    rc = res["receiver"]
    assert rc["sims_committed"] == 12 - len(bad) and rc["sims_dropped"] == 0
    assert rc["sims_failed"] == 2 * len(bad) and rc["malformed"] == 0
    assert sorted(map(tuple, res["got"])) == [(s, k) for s in range(12) if s not in bad
                                              for k in range(5)]
    assert f"simulation {bad[0]}: NaN/inf in the fields sent at step 3" in log


def test_shutdown_with_the_simulation_open_warns(tmp_path):
    res, log = run("forget_close", 2, tmp_path)
    assert res["receiver"]["sims_failed"] == 1 and res["receiver"]["sims_committed"] == 0
    assert ("StreamClient.shutdown with simulation 101 still open (3 samples discarded): "
            "call close()") in log
