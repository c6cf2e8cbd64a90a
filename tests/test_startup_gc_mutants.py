"""Cases of ``pdesurrogate.startup_gc`` and its use in ``cli.main`` that the first tests left
open: an import stopped by Ctrl-C, ``-h`` as well as ``--help``, and ``main(ARGS)`` from Python
for a command that has start-up imports. Each runs in a fresh interpreter: freezing objects in
the test process would keep them for the rest of the session."""

import json
import subprocess
import sys


def _run(code: str, cwd) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_an_import_stopped_by_ctrl_c_turns_the_collector_back_on(tmp_path):
    """Ctrl-C during an import (torch takes seconds) propagates, and the collector is on again
    and the objects made so far frozen, as after a finished import."""
    (tmp_path / "pdesurrogate_interrupted.py").write_text("raise KeyboardInterrupt\n")
    state = _run("""
import gc, json, sys
sys.path.insert(0, ".")
from pdesurrogate.startup_gc import import_without_gc
try:
    import_without_gc(["json", "pdesurrogate_interrupted", "csv"])
except KeyboardInterrupt:
    stopped = True
else:
    stopped = False
print(json.dumps({"stopped": stopped, "enabled": gc.isenabled(),
                  "frozen": gc.get_freeze_count(), "csv": "csv" in sys.modules}))
""", tmp_path)
    assert state == {"stopped": True, "enabled": True, "frozen": state["frozen"], "csv": False}
    assert state["frozen"] > 0


def test_short_help_imports_nothing_for_the_command(tmp_path):
    """``export -h`` is the help as ``--help`` is: no torch imported first."""
    state = _run("""
import gc, json, sys
from pdesurrogate.cli import main
sys.argv = ["pdesurrogate", "export", "-h"]
try:
    rc = main()
except SystemExit as stop:  # argparse's help exits
    rc = stop.code
print("\\n" + json.dumps({"rc": rc, "torch": "torch" in sys.modules,
                          "frozen": gc.get_freeze_count()}))
""", tmp_path)
    assert state == {"rc": 0, "torch": False, "frozen": 0}


def test_main_with_arguments_freezes_nothing_for_a_command_with_imports(tmp_path):
    """``main(["generate", ...])`` from a user's script: generate has start-up imports (torch),
    yet nothing is frozen and the collector stays as it was."""
    state = _run("""
import gc, json
from pdesurrogate.cli import main
rc = main(["generate", "--solver", "burgers1d", "--solver.n_points", "16", "--samples", "2",
           "--out", "tiny.nc", "--workers", "1"])
print("\\n" + json.dumps({"rc": rc, "frozen": gc.get_freeze_count(),
                          "enabled": gc.isenabled()}))
""", tmp_path)
    assert state == {"rc": 0, "frozen": 0, "enabled": True}
    assert (tmp_path / "tiny.nc").is_file()
