"""``pdesurrogate generate`` prints its warning that it removed a killed writer's temporary
(84fdbd1) as ``pdesurrogate generate: warning: removed 'PATH', ...``, one line per temporary, as
it prints its other warnings. Before, it came in Python's format: ``/.../datasets/generate.py:250:
UserWarning: removed ...`` followed by the source line ``clean_leftovers(p)``."""

import subprocess
import sys
from pathlib import Path

from pdesurrogate.cli import main
from tests.datasets.test_generate_leftovers import _left_by

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "data" / "burgers1d.yaml")


def test_the_refused_runs_leftover_warning_is_one_plain_line_per_temporary(tmp_path, capsys,
                                                                          monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    (tmp_path / "b.nc").write_bytes(b"a finished dataset")
    pids = [int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                               capture_output=True, text=True, check=True).stdout)
            for _ in range(2)]
    dead = [_left_by(tmp_path / "b.nc", pid) for pid in pids]
    assert main(["generate", "--config", CONFIG, "--solver.n_points",
                 "16", "--samples", "2", "--out", str(tmp_path / "b.nc")]) != 0
    err = capsys.readouterr().err.splitlines()
    warned = sorted(line for line in err if "warning" in line)
    assert warned == sorted(f"pdesurrogate generate: warning: removed '{path}', a temporary left "
                            f"by process {pid}, no longer running"
                            for path, pid in zip(dead, pids, strict=True)), err
    assert not any("UserWarning" in line or "clean_leftovers" in line for line in err), err
    assert any(line.startswith("pdesurrogate generate: error: FileExistsError") for line in err)
