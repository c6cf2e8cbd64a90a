"""A command run as a program imports its heavy libraries with the cyclic garbage collector
off and freezes them (``pdesurrogate.startup_gc``); a Python caller of ``cli.main`` keeps its
collector as it was. Each process-level check runs in a fresh interpreter that counts the full
(generation 2) collections with ``gc.callbacks``: freezing objects in the test process would
keep them for the rest of the session."""

import gc
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")

# runs `pdesurrogate ARGS` as the console script does (main() reading sys.argv); prints what the
# collector did on its last stderr line
PROBE = """
import gc, json, sys
full = []
gc.callbacks.append(lambda phase, info: phase == "stop" and info["generation"] == 2
                    and full.append(1))
from pdesurrogate.cli import main
sys.argv = ["pdesurrogate", *sys.argv[1:]]
try:
    rc = main()
finally:
    sys.stderr.write("\\n" + json.dumps({"full": len(full), "frozen": gc.get_freeze_count(),
                                         "enabled": gc.isenabled(),
                                         "torch": "torch" in sys.modules,
                                         "lightning": "lightning.pytorch" in sys.modules}))
sys.exit(rc)
"""


def _probe(*args: str, cwd: Path) -> tuple[int, dict]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True,
                         text=True, timeout=300)
    return out.returncode, json.loads(out.stderr.strip().splitlines()[-1])


@pytest.fixture
def data(tmp_path) -> str:
    path = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), path, samples=8,
                     times=np.linspace(0, 1, 3), seed=0, workers=1)
    return str(path)


def test_generate_imports_torch_with_no_full_collection(tmp_path):
    """Importing torch (generate's solvers run on it) ran 3 full collections over everything
    it had made."""
    rc, gc_state = _probe("generate", "--solver", "burgers1d", "--solver.n_points", "16",
                          "--samples", "2", "--out", "tiny.nc", cwd=tmp_path)
    assert rc == 0 and (tmp_path / "tiny.nc").is_file()
    assert gc_state["torch"] and gc_state["enabled"]
    assert gc_state["full"] == 0
    assert gc_state["frozen"] > 50_000  # torch's objects, out of every later collection


def test_info_on_a_data_file_imports_no_torch(tmp_path, data):
    """info reads a dataset file with h5py alone: no torch to import first."""
    rc, gc_state = _probe("info", data, cwd=tmp_path)
    assert rc == 0
    assert not gc_state["torch"] and gc_state["frozen"] == 0


def test_fit_start_up_runs_no_full_collection_over_lightning(tmp_path, data):
    """A fit's start-up ran 7 full collections (0.8-0.9 s of 6 s); now the imports run none,
    and the run's own full collections (if any) skip the frozen imports."""
    rc, gc_state = _probe(
        "fit", "--config", CONFIG, "--data.init_args.path", data,
        "--data.init_args.batch_size", "4", "--model.init_args.model.init_args.hidden_channels",
        "8", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
        "--trainer.num_sanity_val_steps", "0", "--trainer.limit_val_batches", "0",
        "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir",
        str(tmp_path / "run"), cwd=tmp_path)
    assert rc == 0
    assert gc_state["lightning"] and gc_state["enabled"]
    assert gc_state["full"] <= 1
    assert gc_state["frozen"] > 300_000


def test_a_help_text_imports_nothing_for_the_command(tmp_path):
    """`export --help` needs no torch (1-2 s to import): the start-up imports are skipped."""
    rc, gc_state = _probe("export", "--help", cwd=tmp_path)
    assert rc == 0
    assert not gc_state["torch"] and gc_state["frozen"] == 0


def test_a_python_caller_of_main_keeps_its_collector(data, capsys):
    """main(ARGS) from a user's script or notebook freezes nothing: its garbage alive at that
    moment would otherwise never be collected."""
    before = gc.get_freeze_count()
    assert main(["info", data]) == 0
    capsys.readouterr()
    assert gc.get_freeze_count() == before and gc.isenabled()


@pytest.mark.parametrize("on", [True, False])
def test_import_without_gc_restores_the_collector_and_skips_a_broken_module(tmp_path, on):
    code = f"""
import gc, sys
from pdesurrogate.startup_gc import import_without_gc
{'' if on else 'gc.disable()'}
import_without_gc(["pdesurrogate_no_such_module", "json"])
assert "json" in sys.modules and gc.get_freeze_count() > 0
assert gc.isenabled() is {on}, gc.isenabled()
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
