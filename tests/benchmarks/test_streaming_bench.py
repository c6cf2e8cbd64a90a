"""benchmarks/streaming.py --quick end to end, one test per part: (a) launches its own MPI job
(1 trainer + 1 solver), prints the table and writes JSON with a finite, positive figure for
every size; (b) one online training run fed by a synthetic solver and its DataLoader reference;
(c) `pdesurrogate online` vs `pdesurrogate fit` at the same number of steps, tested on the same
trajectories. Figures are not checked against the targets (80%, 5%, Melissa's 16%) here: on a
shared 2-core machine they move with other jobs' load; the benchmark reports them."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench(monkeypatch):
    """benchmarks/streaming.py as a module (its sibling modules on the path)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("streaming_bench",
                                                  ROOT / "benchmarks" / "streaming.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "streaming_bench", module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_fresh_producer_writes_each_state_and_reuses_only_arrays_nobody_holds(monkeypatch):
    """Part (a)'s solver writes a new state before each send, into the array it used longest
    ago that nothing holds any more (an uncopied send keeps its array until MPI moved it):
    handing back a held array would overwrite a state still on its way."""
    bench = _bench(monkeypatch)
    field = np.arange(8, dtype=np.float32)
    p = bench._Producer(field, "fresh")
    a = p.next()
    assert a is not field and np.array_equal(a, field)
    b = p.next()  # a is still held here
    assert b is not a and np.array_equal(b, field + 1) and np.array_equal(a, field)
    held_a = id(a)
    del a  # like a completed send: b stays held
    c = p.next()
    assert id(c) == held_a and np.array_equal(c, field) and np.array_equal(b, field + 1)
    # a sender that never holds an array (a copying client, raw MPI's Send): one array,
    # updated in place
    in_place = bench._Producer(field, "fresh")
    assert len({id(in_place.next()) for _ in range(5)}) == 1
    static = bench._Producer(field, "static")
    assert static.next() is field and static.next() is field
SCRIPT = ROOT / "benchmarks" / "streaming.py"
MPIEXEC = Path(sys.executable).parent / "mpiexec"


@pytest.mark.slow
@pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")
def test_quick_run_writes_sane_json(tmp_path):
    out = tmp_path / "streaming.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--part", "a", "--quick", "--json",
                           str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ours/raw" in proc.stdout
    res = json.loads(out.read_text())
    assert res["quick"] is True and res["wall_s"] > 0 and res["mpi"]
    (part,) = res["parts"]["a"]  # --quick: one job, 1 trainer + 1 solver
    assert part["target_ratio"] == 0.8
    rows = part["rows"]
    assert [r["case"] for r in rows] == ["4KiB", "64KiB", "256KiB", "1MiB", "8MiB"]
    for r in rows:
        assert r["n_solvers"] == 1 and r["repeats"] == 3
        assert r["payload_bytes"] == 4 * math.prod(r["shape"])
        assert r["messages_per_solver"] >= 32
        for key in ("ours_mb_per_s", "raw_mb_per_s", "raw_distinct_mb_per_s", "ratio",
                    "ratio_one_buffer", "raw_fresh_mb_per_s"):
            assert math.isfinite(r[key]) and r[key] > 0, (r["case"], key, r[key])
        # the target's reference: raw MPI of fresh states (the default source)
        assert r["source"] == "fresh" and r["reference_mb_per_s"] == r["raw_fresh_mb_per_s"]
        assert len(r["raw_fresh_mb_per_s_all"]) == 3
        assert r["ring_buffers"] >= 2
        for key in ("ours_mb_per_s_all", "raw_mb_per_s_all", "raw_distinct_mb_per_s_all",
                    "ratio_all"):
            assert len(r[key]) == 3 and all(math.isfinite(v) and v > 0 for v in r[key])
        assert r["verdict"] in ("met", "short", "unclear")
        assert r["meets_target"] == (r["ratio"] >= 0.8 and r["ratio_best"] >= 0.8)
        assert math.isfinite(r["ratio_best"]) and r["ratio_best"] > 0
        assert r["malformed"] == 0


@pytest.mark.slow
@pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")
def test_part_b_quick_idle_fraction(tmp_path):
    """Part (b): one online training run (`pdesurrogate online`'s trainer path) fed by a
    synthetic solver rank, plus the in-memory DataLoader reference; the idle fraction and its
    breakdown are finite shares of the run (not checked against the 5% target)."""
    out = tmp_path / "b.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--part", "b", "--quick", "--buffers",
                           "reservoir", "--steps", "30", "--json", str(out)],
                          capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "idle fraction" in proc.stdout
    (part,) = json.loads(out.read_text())["parts"]["b"]
    assert part["target_idle"] == 0.05
    (row,) = part["rows"]
    assert row["buffer"] == "reservoir" and row["n_solvers"] == 1 and row["steps"] == 30
    assert 0 <= row["idle_fraction"] < 1 and math.isfinite(row["idle_fraction"])
    assert row["meets_target"] == (row["idle_fraction"] < 0.05)
    for key in ("wait_s", "get_s", "starved_s", "sync_s", "train_s", "step_ms", "samples_per_s"):
        assert math.isfinite(row[key]) and row[key] >= 0, (key, row[key])
    assert row["starved_s"] <= row["get_s"] + 1e-9
    assert row["get_s"] + row["sync_s"] <= row["wait_s"] + 1e-6
    # the watermark (200 samples) must fill before training starts: at least 19 simulations
    assert row["samples_received"] >= 200 and row["simulations"] >= 19
    ref = part["reference"]
    assert ref["steps"] == 30 and 0 <= ref["idle_fraction"] < 1 and ref["step_ms"] > 0


@pytest.mark.slow
@pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")
def test_part_c_quick_online_vs_offline(tmp_path):
    """Part (c), two seeds: `pdesurrogate online` and `pdesurrogate fit` train the same FNO for
    the same number of steps; every exported model is tested on the same held-out
    trajectories; the table reports means over seeds."""
    out = tmp_path / "c.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--part", "c", "--quick", "--c-steps",
                           "20", "--c-repeats", "2", "--offline-sims", "4", "--test-sims", "4",
                           "--workdir", str(tmp_path / "work"), "--json", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "online lower by" in proc.stdout
    (c,) = json.loads(out.read_text())["parts"]["c"]
    assert c["steps"] == 20 and c["test_sims"] == 4 and c["pde"] == "burgers1d"
    assert c["repeats"] == 2
    on, off = c["online"], c["offline"]
    assert on["gradient_steps"] == off["gradient_steps"] == 20
    assert off["simulations"] == 4 and off["pairs"] == 40
    assert on["simulations"] >= 19 > off["simulations"]  # the watermark alone needs 19
    for x in (on, off):
        assert [r["seed"] for r in x["runs"]] == [0, 1]
        for key in ("rollout_rel_l2", "one_step_rel_l2", "last_step_rel_l2"):
            assert math.isfinite(x[key]) and 0 < x[key] < 10, (key, x[key])
            assert x[key] == pytest.approx(sum(x[key + "_all"]) / 2)
        for r in x["runs"]:
            assert r["gradient_steps"] == 20 and r["wall_s"] > 0
            assert len(r["rollout_rel_l2_per_traj"]) == 4
    for key in ("gain_rollout_rel_l2", "gain_one_step_rel_l2"):
        assert math.isfinite(c[key]) and c[key] < 1 and len(c[key + "_all"]) == 2
    for rep in (0, 1):
        assert (tmp_path / "work" / f"online{rep}" / "model" / "config.json").exists()
        assert (tmp_path / "work" / f"offline-model{rep}" / "config.json").exists()
