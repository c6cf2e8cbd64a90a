"""benchmarks/inference_overhead.py: --quick end to end (its bare loops do the same arithmetic
as Surrogate.rollout / predict, bit for bit, or it stops; the JSON holds finite, positive
times of both sides and their ratios), and bad options as usage errors before any work."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "inference_overhead.py"


@pytest.mark.parametrize("args, message", [
    (["--repeats", "0"], "--repeats must be >= 1"),
    (["--batches", "1,x"], "--batches must be comma-separated ints"),
    (["--batches", "0,8"], "--batches must be >= 1"),
])
def test_bad_options_are_usage_errors(args, message):
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


@pytest.mark.slow
def test_quick_run_writes_sane_json(tmp_path):
    out = tmp_path / "inference.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--repeats", "1",
                           "--workdir", str(tmp_path / "work"), "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert {(r["batch"], r["steps"]) for r in res["rollout"]} == {(1, 2), (1, 10), (8, 2),
                                                                  (8, 10)}
    for row in res["rollout"]:
        assert row["bare"]["cpu_s"] > 0 and row["ours"]["cpu_s"] > 0
        assert math.isclose(row["ratio"], row["ours"]["cpu_s"] / row["bare"]["cpu_s"])
    assert set(res["predict"]) == {"bare", "predict (tensor)", "predict (numpy)"}
    cmd = res["command"]
    assert cmd["trajectories"] == 16 and cmd["steps"] == 5
    for side in ("bare", "command"):
        m = cmd["median"][side]
        assert 0 < m["rollout_cpu_s"] < m["cpu_s"]
        assert all(r.get("finite", True) for r in cmd["runs"][side])
    assert math.isfinite(cmd["ratio_whole"]) and math.isfinite(cmd["ratio_rollout"])
    assert (tmp_path / "work" / "rollout.nc").exists()  # the command wrote its netCDF
