"""What produced a benchmark's figures: every --json file carries the commit, the package
versions, the machine (CPU model, cores, torch threads), the time and the options, and every
printed table ends with a line saying the same; every script has a --quick and says its runtime
in --help. The issue notes compare figures across sessions and machines: without these a
reviewer cannot tell which commit or which machine gave a number."""

import argparse
import datetime
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from outputs import provenance, run_line, write_json  # noqa: E402

SCRIPTS = ["cape", "fno_burgers", "fno_darcy", "refiner_ks", "scot_ns", "sdgd", "solvers",
           "sor_bandit", "stream_wait", "streaming", "training_overhead"]
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def _head() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_provenance_names_commit_versions_machine_time_and_options():
    args = argparse.Namespace(epochs=3, out=Path("runs/x"), sizes=["4KiB"], data=[Path("a")])
    run = provenance(args)
    assert run["commit"] == _head()
    assert isinstance(run["modified"], int) and run["modified"] >= 0
    assert run["versions"]["torch"] == torch.__version__
    assert run["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    m = run["machine"]
    assert m["cpu"] and m["cpus"] >= 1 and 1 <= m["cpus_usable"] <= m["cpus"]
    assert m["torch_threads"] == torch.get_num_threads()
    age = datetime.datetime.now(datetime.UTC) - datetime.datetime.fromisoformat(run["timestamp"])
    assert abs(age.total_seconds()) < 60
    assert run["args"] == {"epochs": 3, "out": "runs/x", "sizes": ["4KiB"], "data": ["a"]}
    json.dumps(run)  # all of it can go into the JSON file


def test_run_line_says_commit_cores_threads_and_versions():
    run = provenance()
    line = run_line(run)
    assert f"commit {_head()[:10]}" in line
    assert f"{run['machine']['cpus']} CPUs" in line and run["machine"]["cpu"] in line
    assert f"torch threads {torch.get_num_threads()}" in line
    assert f"torch {torch.__version__}" in line and run["timestamp"] in line


def test_write_json_adds_the_run_and_keeps_one_given(tmp_path):
    args = argparse.Namespace(quick=True)
    path = tmp_path / "r.json"
    write_json(path, {"ratio": 0.9}, args=args)
    res = json.loads(path.read_text())
    assert res["ratio"] == 0.9 and res["run"]["commit"] == _head()
    assert res["run"]["args"] == {"quick": True}
    write_json(path, {"ratio": 0.8, "run": {"commit": "abc"}})  # a combined file's own
    assert json.loads(path.read_text())["run"] == {"commit": "abc"}


@pytest.fixture(scope="module")
def helps():
    """Each script's --help, three at a time (each imports its libraries): name -> stdout."""
    with ThreadPoolExecutor(3) as pool:
        procs = {name: pool.submit(subprocess.run,
                                   [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"),
                                    "--help"], capture_output=True, text=True, timeout=120,
                                   cwd=ROOT)
                 for name in SCRIPTS}
        return {name: p.result() for name, p in procs.items()}


@pytest.mark.slow  # runs a benchmark script or its training (seconds): make test-all
@pytest.mark.parametrize("name", SCRIPTS)
def test_help_offers_quick_and_says_runtime_and_reference(helps, name):
    proc = helps[name]
    assert proc.returncode == 0, proc.stderr
    for word in ("--quick", "--json", "Runtime"):
        assert word in proc.stdout, f"{name}.py --help says nothing of {word!r}"
    text = proc.stdout.lower()
    assert "measure" in text and ("reference" in text or " vs " in text), proc.stdout


@pytest.mark.slow  # runs a benchmark script or its training (seconds): make test-all
def test_sor_bandit_json_and_table_say_what_produced_them(tmp_path):
    out = tmp_path / "sor.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sor_bandit.py"),
                           "--systems", "4", "--n", "4", "--arms", "2", "--seeds", "1",
                           "--threads", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"commit {_head()[:10]}" in proc.stdout and "torch threads 1" in proc.stdout
    run = json.loads(out.read_text())["run"]
    assert run["commit"] == _head() and run["machine"]["torch_threads"] == 1
    assert run["args"]["systems"] == 4 and run["args"]["quick"] is False


def test_sor_bandit_quick_is_a_short_sequence(monkeypatch):
    import sor_bandit

    seen = {}

    def stop(systems, n, *rest):
        seen.update(systems=systems, n=n)
        raise SystemExit(0)

    monkeypatch.setattr(sor_bandit, "iteration_table", stop)
    with pytest.raises(SystemExit):
        sor_bandit.main(["--quick"])
    assert seen == {"systems": 100, "n": 32}


@pytest.mark.slow  # runs a benchmark script or its training (seconds): make test-all
@pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")
def test_stream_wait_quick_json_says_what_produced_it(tmp_path):
    out = tmp_path / "wait.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "stream_wait.py"),
                           "--quick", "--mib", "4", "--json", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"commit {_head()[:10]}" in proc.stdout
    res = json.loads(out.read_text())
    assert [r["work_ms"] for r in res["rows"]] == [0.0, 3.0]
    assert (res["steps"], res["repeats"]) == (16, 1)
    assert res["run"]["commit"] == _head() and res["run"]["args"]["quick"] is True
