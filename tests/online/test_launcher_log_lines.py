"""``pdesurrogate online``'s first line in a log file (a Slurm log, ``2> log``): whole, the run
folder's path not folded at rich's 80 columns, so it can be grepped and copied."""

import importlib.util
import os
import subprocess
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).resolve().parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = helpers.pytestmark


def test_the_launchers_first_line_is_one_line_in_a_log(tmp_path):
    """An mpiexec that fails at once: the launcher has said what it starts, and where."""
    fake = tmp_path / "mpiexec"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    out = tmp_path / ("run_" + "x" * 60)
    env = {k: v for k, v in helpers.env_with(tmp_path).items() if k != "COLUMNS"}
    proc = subprocess.run([*helpers.PDESURROGATE, "--config", str(helpers.write_config(tmp_path)),
                           "--out", str(out), "--mpiexec", str(fake)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=os.getcwd())
    assert proc.returncode == 1, proc.stderr
    assert (f"online: 1 trainer + 2 solver ranks, 24 simulations -> {out}/  (Ctrl-C or "
            "SIGTERM: checkpoint and stop)") in proc.stderr.splitlines(), proc.stderr
