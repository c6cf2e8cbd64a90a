"""Ctrl-C while the process exits, after a command returned: SIGINT's default action ends it
(status -2 here, 130 in a shell) and nothing is printed. Before, the KeyboardInterrupt landed in
whichever exit hook ran (a library's temporary folder being removed, torch's weakref
finalizers): "Exception ignored in atexit callback" and its traceback, exit status 0."""

import signal
import subprocess
import sys

# an exit hook registered before the command runs (as libraries register theirs on import):
# it runs after main's; Ctrl-C lands in it
SCRIPT = """
import atexit, os, signal, sys

def slow_hook():
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(10**6):  # where Python raises the KeyboardInterrupt
        pass
    print("exit hook finished", flush=True)

signal.signal(signal.SIGINT, signal.default_int_handler)
atexit.register(slow_hook)
from pdesurrogate.cli import main
print("main returned", main(["no-such-command"]), flush=True)
"""


def test_ctrl_c_during_exit_ends_the_process_quietly():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120)
    assert "main returned 2" in proc.stdout, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert "exit hook finished" not in proc.stdout
    assert proc.returncode == -signal.SIGINT, (proc.returncode, proc.stderr)
