"""Building an FNO leaves the process's warning filters as the user set them.

neuralop's modules insert ``filterwarnings("once", category=UserWarning)`` at the front of the
filters as they load; before, a script's ``simplefilter("error", UserWarning)`` stopped raising
once an FNO had been built. The check runs in a fresh interpreter: neuralop loads once a process.
"""

import subprocess
import sys

SCRIPT = """
import warnings
import torch  # its own import-time filters are not ours to judge
warnings.simplefilter("error", UserWarning)
before = list(warnings.filters)
from pdesurrogate.models import FNO
FNO(1, 1, [8], hidden_channels=8, n_layers=2)
assert "neuralop" in __import__("sys").modules
added = [f for f in warnings.filters if f not in before]
assert warnings.filters == before, f"filters added by building an FNO: {added}"
try:
    warnings.warn("a user's own warning", UserWarning)
except UserWarning:
    print("raised")
"""


def test_building_an_fno_keeps_the_users_warning_filters():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "raised"
