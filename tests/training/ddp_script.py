"""Runs the script of a DDP test (its ranks: Lightning's child processes, or spawned ones)."""

import os
import signal
import subprocess
import sys


def run_ranks(text: str, tmp_path, *args) -> tuple[int, str, str]:
    """Writes ``text`` to ``tmp_path/ranks.py`` and runs it as ``ranks.py tmp_path *args`` in
    ``tmp_path``: (exit code, stdout, stderr). Fails the test if it has not ended in 90 s."""
    script = tmp_path / "ranks.py"
    script.write_text(text)
    # its own session, so that a hung run's other ranks (its child processes) are killed too
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), *map(str, args)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError("the ranks hung: " + err[-3000:]) from None
    return proc.returncode, out, err
