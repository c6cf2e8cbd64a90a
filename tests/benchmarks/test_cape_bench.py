"""benchmarks/cape.py --quick end to end: every family, model and training regime gets finite
figures per held-out group, matched parameter counts are recorded, and the ratio CAPE-FNO /
FNO+p is there. The accuracy target is not checked here (--quick trains for 3 epochs); the
benchmark's default run reports it."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "cape.py"


@pytest.mark.slow
def test_quick_run_writes_sane_json(tmp_path):
    out = tmp_path / "cape.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--cache", "",
                           "--json", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "CAPE / FNO+p" in proc.stdout
    res = json.loads(out.read_text())
    assert res["wall_seconds"] > 0
    assert set(res["families"]) == {"advection1d", "burgers1d"}
    for fam in res["families"].values():
        counts = fam["parameters"]
        assert set(counts) == {"fno", "fno_p", "cape"} and all(c > 0 for c in counts.values())
        assert set(fam["runs"]) == {"no_curriculum", "curriculum"}
        for regime, rows in fam["runs"].items():
            assert set(rows) == {"fno", "fno_p", "cape"}
            for row in rows.values():
                assert row["train_seconds"] > 0
                assert set(row["groups"]) == {"seen", "between", "outside"}
                for g in row["groups"].values():
                    for q in ("one_step", "rollout", "final_step"):
                        assert math.isfinite(g[q]) and g[q] > 0
                held_out = fam["between_values"] + fam["outside_values"]
                assert len(row["per_value"]) == len(fam["train_values"]) + len(held_out)
            ratio = fam["ratio_cape_to_fno_p"][regime]
            assert all(math.isfinite(ratio[g][q]) for g in ratio for q in ratio[g])
