"""benchmarks/sdgd.py --quick end to end (slow): cost rows for every method and d, the budget
runs (sdgd vs full) with baselines, and the two target runs (paper's setting, fitted output
bias) with their histories. The accuracy target is not checked here (--quick trains for
seconds); the benchmark's default run reports it. Fast: bad options are usage errors, what
--quick sets (explicit options win), a failed job makes the exit status 1."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "sdgd.py"
sys.path.insert(0, str(ROOT / "benchmarks"))

import sdgd  # noqa: E402


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


@pytest.mark.parametrize("argv, message", [
    # the audit's command: it used to print IndexError in the table and exit 0
    (["--skip-cost", "--budget", "0", "--budget-dims", "20", "--target-budget", "0"],
     "--budget must be a finite number > 0, got 0"),
    (["--budget", "-5"], "--budget must be a finite number > 0, got -5"),
    (["--target-budget", "0"], "--target-budget must be a finite number > 0, got 0; "
                               "--skip-target skips the target runs"),
    (["--target-budget-fit", "0"], "--target-budget-fit must be a finite number > 0, got 0"),
    (["--eval-every", "0"], "--eval-every must be a finite number > 0, got 0"),
    (["--target-dim", "5"], "--target-dim must be >= 20 (as the other dimensions), got 5"),
    (["--dims", "10"], "dimensions must be >= 20"),
    (["--width", "0"], "--width must be >= 1, got 0"),
])
def test_bad_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        sdgd.parse_args(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_quick_sets_what_its_help_says_and_explicit_options_win(capsys):
    quick = sdgd.parse_args(["--quick"])
    for k, v in sdgd.QUICK.items():
        assert getattr(quick, k) == v, k
    mixed = sdgd.parse_args(["--quick", "--width", "64", "--dims", "100", "--budget-dims"])
    assert (mixed.width, mixed.dims, mixed.budget_dims) == (64, [100], [])
    assert (mixed.budget, mixed.target_dim) == (3.0, 60)  # the others from --quick
    plain = sdgd.parse_args([])
    assert (plain.width, plain.budget, plain.dims) == (128, 120.0, [100, 1000, 10000, 100000])
    with pytest.raises(SystemExit):
        sdgd.parse_args(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--quick small smoke run: sets --dims 20 60, --iters 2, --budget 3.0" in help_text
    assert "an option given explicitly wins" in help_text
    assert "--quick takes seconds" not in help_text


def test_a_failed_job_makes_the_exit_status_1(monkeypatch, tmp_path, capsys):
    """Every job fails (as a child's exception would report it): the tables show the error,
    the end lists the failed jobs, and main returns 1 (it returned 0)."""
    monkeypatch.setattr(sdgd, "run_child", lambda kind, job, *a: {
        "error": f"RuntimeError: {kind} d={job['dim']} broke"})
    out = tmp_path / "r.json"
    rc = sdgd.main(["--skip-cost", "--budget-dims", "20", "--budget", "1", "--target-dim", "20",
                    "--target-budget", "1", "--target-fit-bias", "off", "--test-points", "10",
                    "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 1
    assert "3 job(s) failed" in text and "budget d=20 sdgd: RuntimeError: train d=20 broke" in text
    assert "target d=20 sdgd, paper's setting: RuntimeError" in text
    assert json.loads(out.read_text())["budget"][0]["error"] == "RuntimeError: train d=20 broke"


@pytest.mark.slow  # runs a benchmark script or its training (seconds): make test-all
def test_train_job_never_indexes_an_empty_history():
    """A train job with no evaluation (budget 0, as --budget 0 used to run) still reports a
    rel L2 instead of IndexError."""
    import torch

    threads = torch.get_num_threads()
    sent = []

    class Queue:
        def put(self, msg):
            sent.append(msg)

    job = {"dim": 20, "method": "sdgd", "problem": "poisson", "seed": 0, "threads": 1,
           "width": 8, "depth": 1, "lr": 1e-3, "batch": 4, "dim_batch": 2, "probes": 1,
           "fit_output_bias": False, "budget": 0.0, "eval_every": 1.0, "test_points": 10}
    try:
        sdgd._train_job(job, Queue())
    finally:
        torch.set_num_threads(threads)
    kind, res = sent[-1]
    assert kind == "result" and res["iters"] == 0 and math.isfinite(res["rel_l2"])
