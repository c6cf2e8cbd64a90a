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
    png = tmp_path / "cape.png"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--cache", "",
                           "--json", str(out), "--plot", str(png)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "CAPE / FNO+p" in proc.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
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


@pytest.mark.slow
def test_seeds_runs_each_seed_and_prints_their_means(tmp_path):
    """--seeds 0 1: both seeds run (in two processes), each seed's result is kept beside the
    means, and --combine of those files gives the same means."""
    out = tmp_path / "cape.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--cache", "",
                           "--families", "burgers1d", "--regimes", "no_curriculum",
                           "--seeds", "0", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "mean over seeds [0, 1]" in proc.stdout
    means = json.loads(out.read_text())
    assert means["seeds"] == [0, 1]
    per_seed = [json.loads((tmp_path / f"cape.seed{s}.json").read_text()) for s in (0, 1)]
    assert [r["settings"]["seed"] for r in per_seed] == [0, 1]
    # different seeds: different data and initialisations, so different figures
    fig = [r["families"]["burgers1d"]["runs"]["no_curriculum"]["cape"]["groups"]["seen"]
           ["one_step"] for r in per_seed]
    assert fig[0] != fig[1]
    mean = means["families"]["burgers1d"]["runs"]["no_curriculum"]["cape"]["groups"]["seen"]
    assert math.isclose(mean["one_step"], sum(fig) / 2)
    again = tmp_path / "again.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--combine",
                           *(str(tmp_path / f"cape.seed{s}.json") for s in (0, 1)),
                           "--json", str(again)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(again.read_text())["families"] == means["families"]


def _fake_run(seed: int, scale: float) -> dict:
    """A result of benchmarks/cape.py with every figure of FNO+p = 0.1 and of CAPE-FNO =
    ``0.1 * scale``."""
    groups = ("seen", "between", "outside")
    row = {m: {"train_seconds": 1.0, "groups": {g: {"one_step": v, "rollout": 2 * v}
                                                for g in groups},
               "per_value": {"0.002": {"one_step": v, "rollout": 2 * v},
                             "0.04": {"one_step": 3 * v, "rollout": 6 * v}}}
           for m, v in (("fno_p", 0.1), ("cape", 0.1 * scale))}
    ratio = {g: {"one_step": scale, "rollout": scale} for g in groups}
    return {"settings": {"seed": seed, "epochs": 40, "json": f"s{seed}.json", "combine": None},
            "families": {"burgers1d": {"parameters": {"fno_p": 10, "cape": 10},
                                       "runs": {"curriculum": row},
                                       "ratio_cape_to_fno_p": {"curriculum": ratio},
                                       "train_values": [0.002], "between_values": [],
                                       "outside_values": [0.04]}}}


@pytest.mark.slow  # runs a benchmark script or its training (seconds): make test-all
def test_combine_averages_seeds_and_refuses_other_differences(tmp_path):
    """--combine: means over seeds, the ratio of the means, the per-seed range; files that
    differ in anything but the seed are refused, naming the setting."""
    paths = []
    for seed, scale in ((0, 0.5), (1, 1.5)):
        paths.append(tmp_path / f"s{seed}.json")
        paths[-1].write_text(json.dumps(_fake_run(seed, scale)))
    out, png = tmp_path / "mean.json", tmp_path / "mean.png"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--combine", *map(str, paths),
                           "--json", str(out), "--plot", str(png)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fam = json.loads(out.read_text())["families"]["burgers1d"]
    cape = fam["runs"]["curriculum"]["cape"]["groups"]["outside"]
    assert math.isclose(cape["one_step"], 0.1) and math.isclose(cape["rollout"], 0.2)
    assert math.isclose(fam["runs"]["curriculum"]["cape"]["per_value"]["0.04"]["rollout"], 0.6)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))
    # the held-out groups over the training values, per model: here 1.00 for every group
    assert "FNO+p between 1.00/1.00, outside 1.00/1.00" in proc.stdout
    assert math.isclose(fam["ratio_cape_to_fno_p"]["curriculum"]["between"]["rollout"], 1.0)
    assert fam["ratio_range"]["curriculum"]["seen"]["one_step"] == [0.5, 1.5]
    # the unseen values together (here only 0.04): CAPE-FNO / FNO+p per seed is each seed's scale
    unseen = fam["unseen_ratio_range"]["curriculum"]
    assert list(unseen) == ["fno_p"]  # no FNO in these runs
    for q in ("one_step", "rollout"):
        assert unseen["fno_p"][q] == pytest.approx([0.5, 1.5])
    assert "all unseen values together" in proc.stdout
    other = _fake_run(2, 1.0)
    other["settings"]["epochs"] = 20
    paths[1].write_text(json.dumps(other))
    proc = subprocess.run([sys.executable, str(SCRIPT), "--combine", *map(str, paths)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0 and "['epochs']" in proc.stderr
