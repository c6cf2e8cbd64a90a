"""benchmarks/training_overhead.py --quick end to end: it runs the real `pdesurrogate fit` and
the bare PyTorch loop as separate processes and writes finite, positive samples/s for both, in
both measures (whole command, steady state), and the overhead. The 5 % target is not checked
here: on a shared 2-core machine --quick's few short runs move with other jobs' load."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "training_overhead.py"


@pytest.mark.slow
def test_quick_run_writes_sane_json(tmp_path):
    out = tmp_path / "overhead.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--workdir",
                           str(tmp_path / "work"), "--json", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "overhead" in proc.stdout
    res = json.loads(out.read_text())
    assert res["training_pairs"] > 0 and res["epochs"] >= 2
    for side in ("bare", "fit"):
        assert len(res["runs"][side]) == res["repeats"]
        for run in res["runs"][side]:
            for key in ("wall_seconds", "whole_samples_per_s", "steady_samples_per_s"):
                assert math.isfinite(run[key]) and run[key] > 0
            assert run["threads"] == res["threads"]
    for key in ("ratio_whole", "ratio_steady", "overhead_whole", "overhead_steady"):
        assert math.isfinite(res[key])
    assert math.isclose(res["overhead_steady"], 1 - res["ratio_steady"])
    # the fit runs wrote their logs and checkpoints as a user's run does
    assert list((tmp_path / "work").glob("fit_*/csv/version_*/checkpoints/last.ckpt"))
