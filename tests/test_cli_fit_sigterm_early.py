"""``pdesurrogate fit`` given SIGTERM before Lightning installs its handler (here: as the config's
classes are built): one line saying so, exit status 143, as the other commands. Before, SIGTERM's
default action ended it with no word (status -15)."""

import signal
import subprocess
import sys

import pytest

from .test_cli_fit import CONFIG, data, tiny  # noqa: F401 (data: a fixture)

TERM_NOW = '''
import os
import signal
from lightning.pytorch.callbacks import Callback


class TermNow(Callback):
    """SIGTERM to this process as the config's callbacks are built, before the Trainer runs."""

    def __init__(self):
        os.kill(os.getpid(), signal.SIGTERM)
'''


@pytest.mark.slow  # a subprocess run of several seconds: make test's 10 minutes
def test_sigterm_while_the_config_is_built_exits_143_with_one_line(tmp_path, data):  # noqa: F811
    (tmp_path / "termnow.py").write_text(TERM_NOW)
    root = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "pdesurrogate.cli", "fit", "--config", CONFIG, *tiny(data, root),
         "--trainer.callbacks+=termnow.TermNow"],
        cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1",
                           "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if "SIGTERM" in line]
    assert lines == ["pdesurrogate fit: stopped by SIGTERM; nothing was saved"], proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not list(root.rglob("*.ckpt"))
