"""How the sbatch scripts start pdesurrogate, without Slurm: each defines ``PDS``, the command
that runs the pdesurrogate installed for ``$PY``. Submitted from a clone (the usual case), the
submit directory holds a ``pdesurrogate/`` folder that is not the installed package;
``"$PY" -m pdesurrogate.cli`` imported that folder. A module of the user's on PYTHONPATH, named
by ``class_path``, must import. The scripts run the text of ``pdesurrogate.online.BOOTSTRAP``,
whose spawned children tests/test_online.py checks."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "slurm").glob("*.sbatch"))

MY_SOLVER = """
import pdesurrogate
from pdesurrogate.solvers import Advection1D

print("pdesurrogate from", pdesurrogate.__file__)


class MyAdvection(Advection1D):
    \"\"\"A solver of the user's own.\"\"\"
"""


def run_pds(pds: str, cwd: Path, pythonpath: str) -> subprocess.CompletedProcess:
    """``pds`` (a script's ``PDS=(...)`` line) run in bash in ``cwd``, as the scripts run it:
    ``"${PDS[@]}" generate --solver.help my_solver.MyAdvection``."""
    return subprocess.run(
        ["bash", "-c", f'set -eu; PY={sys.executable}; {pds}; '
                       f'"${{PDS[@]}}" generate --solver.help my_solver.MyAdvection'],
        cwd=cwd, env={**os.environ, "PYTHONPATH": pythonpath}, capture_output=True, text=True,
        timeout=120)


@pytest.fixture(scope="module")
def ran():
    """Each distinct command run once for the module: the scripts' ``PDS`` lines are one text
    (the first test checks it is BOOTSTRAP's), and a run of the same line in the same kind of
    submit directory gives the same output, so the scripts' tests share it (a script whose
    line differed would get its own run). Keys: (what the test calls the run, pds, PYTHONPATH
    entry)."""
    return {}


def script_code(script: Path) -> str:
    """The script less its comment lines."""
    return "\n".join(ln for ln in script.read_text().splitlines()
                     if not ln.lstrip().startswith("#"))


def pds_line(code: str) -> str:
    (pds,) = re.findall(r"^PDS=\(.*\)$", code, re.M)
    return pds


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_run_the_installed_package_from_a_clone(script, ran, tmp_path_factory):
    import pdesurrogate
    from pdesurrogate.online import BOOTSTRAP

    code = script_code(script)
    assert "-m pdesurrogate" not in code
    pds = pds_line(code)
    assert pds == f"PDS=(\"$PY\" -c '{BOOTSTRAP}')", "not the text of online.BOOTSTRAP"
    key = ("clone", pds, "mine")
    if key not in ran:
        # the submit directory: a clone's root with its pdesurrogate/ folder, and a user's
        # module
        tmp_path = tmp_path_factory.mktemp("clone")
        (tmp_path / "pdesurrogate").mkdir()
        (tmp_path / "pdesurrogate" / "__init__.py").write_text(
            'raise ImportError("imported the pdesurrogate/ folder of the submit directory")\n')
        mine = tmp_path / "mine"
        mine.mkdir()
        (mine / "my_solver.py").write_text(MY_SOLVER)
        ran[key] = run_pds(pds, tmp_path, str(mine))
    proc = ran[key]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"pdesurrogate from {pdesurrogate.__file__}\n" in proc.stdout, proc.stdout
    assert "A solver of the user's own" in proc.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_submit_directory_on_pythonpath_stays_on_it(script, ran, tmp_path_factory):
    """PYTHONPATH=. (or $PWD) is the user's choice: a module of theirs in the submit directory
    then imports (review: the bootstrap dropped every entry equal to the current folder)."""
    pds = pds_line(script_code(script))
    for entry in (".", "$PWD"):
        key = ("submit directory", pds, entry)
        if key not in ran:
            tmp_path = tmp_path_factory.mktemp("submit")
            (tmp_path / "my_solver.py").write_text(MY_SOLVER)
            ran[key] = run_pds(pds, tmp_path, "." if entry == "." else str(tmp_path))
        proc = ran[key]
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "A solver of the user's own" in proc.stdout
