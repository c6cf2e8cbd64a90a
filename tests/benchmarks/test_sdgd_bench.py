"""benchmarks/sdgd.py --quick end to end: cost rows for every method and d, the budget runs
(sdgd vs full) with baselines, and the two target runs (paper's setting, fitted output bias)
with their histories. The accuracy target is not checked here (--quick trains for seconds);
the benchmark's default run reports it."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "sdgd.py"


@pytest.mark.slow
def test_quick_run_writes_sane_json(tmp_path):
    out = tmp_path / "sdgd.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Cost per training iteration" in proc.stdout
    res = json.loads(out.read_text())
    methods = {"full", "sdgd", "sdgd-bwd", "hutchinson"}
    assert {(r["dim"], r["method"]) for r in res["cost"]} == {
        (d, m) for d in (20, 60) for m in methods}
    for r in res["cost"]:
        assert "error" not in r, r
        assert r["seconds_per_iter"] > 0 and r["peak_mib"] > 0
    assert {(r["dim"], r["method"]) for r in res["budget"]} == {(20, "sdgd"), (20, "full")}
    for r in res["budget"]:
        assert math.isfinite(r["rel_l2"]) and r["iters"] > 0
        assert 0 < r["baselines"]["taylor1"] < r["baselines"]["const"]
    assert [t["fit_output_bias"] for t in res["target"]] == [False, True]
    for t in res["target"]:
        assert "error" not in t, t
        assert t["history"] and all(math.isfinite(h["rel_l2"]) for h in t["history"])
    fitted = res["target"][1]["history"][0]
    assert fitted["iters"] == 0 and fitted["output_bias"] != 0
