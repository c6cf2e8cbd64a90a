"""benchmarks/outputs.py and options.py: --json written whole into folders made on the spot,
paths and numeric options checked as usage errors before a run starts."""

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from options import check_at_least  # noqa: E402
from outputs import check_output, write_json  # noqa: E402


def test_write_json_makes_folders_and_replaces_whole(tmp_path, monkeypatch):
    path = tmp_path / "new" / "deeper" / "r.json"
    assert write_json(path, {"a": 1}) == str(path)
    old = json.loads(path.read_text())
    assert old["a"] == 1 and set(old) == {"a", "run"}  # run: what produced it

    def broken(obj, f, **kw):  # an interruption halfway through the dump
        f.write('{"half": ')
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", broken)
    with pytest.raises(KeyboardInterrupt):
        write_json(path, {"b": 2})
    assert json.loads(path.read_text()) == old  # the old file, whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]  # no temporary left


def test_bad_paths_and_values_are_usage_errors(tmp_path, capsys):
    ap = argparse.ArgumentParser(prog="bench")
    check_output(ap, "--json", None)
    check_output(ap, "--json", str(tmp_path / "a" / "b.json"))
    assert (tmp_path / "a").is_dir()
    for bad in (str(tmp_path), ""):
        with pytest.raises(SystemExit) as e:
            check_output(ap, "--json", bad)
        assert e.value.code == 2 and "expected a file name" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit):
        check_output(ap, "--json", str(tmp_path / "file" / "r.json"))
    assert "cannot create its folder" in capsys.readouterr().err
    check_at_least(ap, {"--epochs": (1, 1), "--width": (None, 1)})
    with pytest.raises(SystemExit):
        check_at_least(ap, {"--epochs": (1, 1), "--repeats": (0, 1)})
    assert "--repeats must be >= 1, got 0" in capsys.readouterr().err


# a script, a bad option of it, and what its refusal says
BAD_OPTIONS = [
    ("cape.py", ["--families", "foo"], "--families: unknown ['foo']"),
    ("solvers.py", ["--repeats", "0"], "--repeats must be >= 1, got 0"),
    ("fno_burgers.py", ["--points", "-4"], "--points must be an even integer >= 8"),
    ("fno_darcy.py", ["--n", "40", "--modes", "21"], "--modes must be at most n/2 = 20"),
    ("scot_ns.py", ["--leads", "20"], "--leads [20]: each lead"),
    ("training_overhead.py", ["--json", "/"], "--json '/': expected a file name"),
]


@pytest.fixture(scope="module")
def refusals():
    """Each BAD_OPTIONS run, all started together when the first test asks (each is one
    process importing its libraries, so on 2 cores two take the time of one): (script, args)
    -> future of its subprocess.run."""
    with ThreadPoolExecutor(3) as pool:
        yield {(script, tuple(args)): pool.submit(
            subprocess.run, [sys.executable, str(ROOT / "benchmarks" / script), *args],
            capture_output=True, text=True, timeout=120, cwd=ROOT)
            for script, args, _ in BAD_OPTIONS}


@pytest.mark.slow  # runs a benchmark script or its training (seconds): make test-all
@pytest.mark.parametrize("script,args,message", BAD_OPTIONS)
def test_scripts_refuse_bad_options_before_running(refusals, script, args, message):
    proc = refusals[script, tuple(args)].result()
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
