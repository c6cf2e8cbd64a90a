"""benchmarks/sor_bandit.py on a tiny sequence: the table's rows are consistent (the oracle is
a lower bound of every method, the best fixed omega of every fixed one), the prefix curve ends
at the whole sequence, and a cached table replays to the same figures."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "sor_bandit.py"
sys.path.insert(0, str(ROOT / "benchmarks"))

from sor_bandit import prefix_lengths  # noqa: E402


def test_prefix_lengths():
    assert prefix_lengths(40) == [40]
    assert prefix_lengths(1000) == [1000]
    assert prefix_lengths(10000) == [1000, 2000, 5000, 10000]
    assert prefix_lengths(3000) == [1000, 2000, 3000]


def test_tiny_sequence_and_cached_replay(tmp_path):
    cache, out = tmp_path / "table.npz", [tmp_path / "a.json", tmp_path / "b.json"]
    for path in out:  # the first run builds the table, the second replays it
        proc = subprocess.run([sys.executable, str(SCRIPT), "--systems", "40", "--n", "12",
                               "--arms", "4", "--seeds", "2", "--threads", "1", "--cache",
                               str(cache), "--json", str(path)],
                              capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "over all 40 systems" in proc.stdout
    a, b = (json.loads(p.read_text()) for p in out)
    assert a["rows"] == b["rows"] and a["prefixes"] == b["prefixes"]
    totals = {r["method"].split(" (")[0]: r["total_iterations"] for r in a["rows"]}
    oracle = totals["oracle"]
    assert all(t >= oracle for t in totals.values())
    best_fixed = next(v for k, v in totals.items() if k.startswith("best fixed"))
    assert totals["omega = 1"] >= best_fixed
    (last,) = a["prefixes"]
    assert last["systems"] == 40
    ratio = next(r["ratio_best_fixed"] for r in a["rows"] if r["method"] == "TsallisINF")
    assert abs(last["tsallis_ratio_best_fixed"] - ratio) < 1e-12
