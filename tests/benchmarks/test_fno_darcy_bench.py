"""benchmarks/fno_darcy.py: --quick end to end (slow) prints its table and run line and writes
JSON whose FNO has learned a -> u well below the mean field's error (~0.5); the options
--quick sets give way to those given beside it; a grid too coarse for the modes is refused."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import fno_darcy  # noqa: E402


@pytest.mark.slow  # runs a benchmark script or its training (seconds): make test-all
def test_quick_learns_darcy_and_reports_it(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fno_darcy.py"), "--quick",
                           "--data", str(tmp_path / "darcy_{n}_{samples}.nc"),
                           "--out", str(tmp_path / "logs"), "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "test relative L2 of u" in proc.stdout and "run: commit" in proc.stdout
    assert (tmp_path / "darcy_32_60.nc").is_file()  # the cached data set, all 60 samples
    res = json.loads(out.read_text())
    assert (res["n"], res["train"], res["test"], res["epochs"]) == (32, 40, 10, 20)
    assert res["paper"] == 0.0108 and res["ratio_to_paper"] == res["test_rel_l2"] / 0.0108
    # predicting the mean field errs by ~0.5; 200 steps of --quick reach ~0.13
    assert 0 < res["test_rel_l2"] < 0.3, res["test_rel_l2"]
    assert res["run"]["args"]["quick"] is True and res["train_seconds"] > 0


def test_quick_sets_small_defaults_that_given_options_override():
    quick = fno_darcy.parse_args(["--quick"])
    assert {k: getattr(quick, k) for k in fno_darcy.QUICK} == fno_darcy.QUICK
    mixed = fno_darcy.parse_args(["--quick", "--epochs", "3", "--n", "40"])
    assert (mixed.epochs, mixed.n, mixed.train, mixed.width) == (3, 40, 40, 16)
    full = fno_darcy.parse_args([])
    assert (full.n, full.train, full.val, full.test, full.width, full.modes,
            full.batch_size) == (85, 1000, 100, 100, 32, 12, 20)


@pytest.mark.parametrize("args,message", [
    (["--quick", "--modes", "17"], "--modes must be at most n/2 = 16"),
    (["--val", "0"], "--val must be >= 1, got 0"),
    (["--lr", "0"], "--lr must be > 0, got 0.0"),
    (["--data", "x_{points}.nc"], "only {n} and {samples} are filled in"),
])
def test_bad_options_are_usage_errors(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        fno_darcy.parse_args(args)
    assert e.value.code == 2 and message in capsys.readouterr().err
