"""Building an FNO does not import wandb (neuraloperator's optional use of it): no 0.4 s of
import and no patched ``sys.stdout.write`` / ``sys.stderr.write`` in our process
(models/fno.py, ``_neuralop_classes``)."""

import subprocess
import sys
import types

from pdesurrogate.models import fno as fno_module

CHILD = """
import sys
write, err_write = sys.stdout.write, sys.stderr.write
from pdesurrogate.models import FNO
FNO(1, 1, [8])
assert "wandb" not in sys.modules, "building an FNO imported wandb"
assert sys.stdout.write == write and sys.stderr.write == err_write, "stdout/stderr patched"
import wandb  # held back only while neuralop loaded: a WandbLogger can still import it
print("ok", wandb.__name__)
"""


def test_fno_build_leaves_wandb_unimported_and_stdout_unpatched():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["ok", "wandb"]


def test_a_wandb_imported_before_is_left_alone(monkeypatch):
    mine = types.ModuleType("wandb")
    monkeypatch.setitem(sys.modules, "wandb", mine)
    fno_module._neuralop_classes()
    assert sys.modules["wandb"] is mine
