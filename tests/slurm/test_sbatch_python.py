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


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_run_the_installed_package_from_a_clone(script, tmp_path):
    import pdesurrogate
    from pdesurrogate.online import BOOTSTRAP

    code = "\n".join(ln for ln in script.read_text().splitlines()
                     if not ln.lstrip().startswith("#"))
    assert "-m pdesurrogate" not in code
    (pds,) = re.findall(r"^PDS=\(.*\)$", code, re.M)
    assert pds == f"PDS=(\"$PY\" -c '{BOOTSTRAP}')", "not the text of online.BOOTSTRAP"
    # the submit directory: a clone's root with its pdesurrogate/ folder, and a user's module
    (tmp_path / "pdesurrogate").mkdir()
    (tmp_path / "pdesurrogate" / "__init__.py").write_text(
        'raise ImportError("imported the pdesurrogate/ folder of the submit directory")\n')
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "my_solver.py").write_text(MY_SOLVER)
    env = {**os.environ, "PYTHONPATH": str(mine)}
    proc = subprocess.run(
        ["bash", "-c", f'set -eu; PY={sys.executable}; {pds}; '
                       f'"${{PDS[@]}}" generate --solver.help my_solver.MyAdvection'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"pdesurrogate from {pdesurrogate.__file__}\n" in proc.stdout, proc.stdout
    assert "A solver of the user's own" in proc.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_submit_directory_on_pythonpath_stays_on_it(script, tmp_path):
    """PYTHONPATH=. (or $PWD) is the user's choice: a module of theirs in the submit directory
    then imports (review: the bootstrap dropped every entry equal to the current folder)."""
    code = "\n".join(ln for ln in script.read_text().splitlines()
                     if not ln.lstrip().startswith("#"))
    (pds,) = re.findall(r"^PDS=\(.*\)$", code, re.M)
    (tmp_path / "my_solver.py").write_text(MY_SOLVER)
    for entry in (".", str(tmp_path)):
        proc = subprocess.run(
            ["bash", "-c", f'set -eu; PY={sys.executable}; {pds}; '
                           f'"${{PDS[@]}}" generate --solver.help my_solver.MyAdvection'],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": entry}, capture_output=True,
            text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "A solver of the user's own" in proc.stdout
