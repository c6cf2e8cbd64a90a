"""benchmarks/refiner_ks.py and benchmarks/scot_ns.py --quick end to end: each prints its table
and writes JSON with finite figures for every model. The figures themselves are not checked
(--quick trains for a few dozen steps; the full runs report them)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, tmp_path: Path, data: str) -> dict:
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick",
                           "--data", str(tmp_path / data), "--json", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"stdout": proc.stdout, **json.loads(out.read_text())}


@pytest.mark.slow
def test_refiner_ks_quick(tmp_path):
    res = _run("refiner_ks.py", tmp_path, "ks_{points}_{n}x{horizon}.nc")
    assert "KS high-correlation time" in res["stdout"]
    r = res["results"]
    assert list(r) == ["mse", "refiner s2e-07", "refiner s0.01"]
    assert r["mse"]["evaluations_per_step"] == 1 and "spread" not in r["mse"]
    for name in ("refiner s2e-07", "refiner s0.01"):
        assert r[name]["evaluations_per_step"] == 4
        sp = r[name]["spread"]
        assert all(row["spread"] > 0 and math.isfinite(row["error"]) for row in sp["table"])
    for v in r.values():
        assert 0 <= v["corr_time"] <= 20 and math.isfinite(v["one_step_rel_mse"])


@pytest.mark.slow
def test_scot_ns_quick(tmp_path):
    res = _run("scot_ns.py", tmp_path, "ns_{grid}_{n}x{times}.nc")
    assert "relative L2 error at lead time" in res["stdout"]
    r = res["results"]
    assert list(r) == ["all2all", "one_step", "fno"]
    # 12 training trajectories of K + 1 = 6 times: 21 all2all pairs each, 5 one-step pairs
    assert r["all2all"]["train_pairs"] == 12 * 21 and r["one_step"]["train_pairs"] == 12 * 5
    for kind, v in r.items():
        errs = list(v["ar"].values()) + list(v.get("direct", {}).values())
        assert errs and all(math.isfinite(e) and e > 0 for e in errs), kind
