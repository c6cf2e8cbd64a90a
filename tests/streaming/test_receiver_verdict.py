"""The sender's verdict (``wait_large``) on a diverged sample (receiver_verdict.py runs a
Receiver over COMM_SELF in a subprocess): a NaN the sender found fails its simulation and is
counted as a non-finite sample, not as a malformed message."""

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def test_a_diverged_sample_fails_its_simulation_and_is_not_malformed():
    proc = subprocess.run([sys.executable, str(HERE / "receiver_verdict.py")],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(proc.stdout.splitlines()[-1])
    assert r["malformed"] == 0 and r["malformed_by_reason"] == {}
    assert r["samples_non_finite"] == 1
    assert r["sims_failed"] == 1 and r["sims_dropped"] == 0
    assert r["committed_sims"] == [1] and r["stored"] == [[1, 0], [1, 1]]
