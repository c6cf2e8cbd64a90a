"""``pdesurrogate online`` with a scientist's own Solver subclass (``solver: {class_path:
mymodule.MySolver}``) whose ``advance`` returns float64 states from float32 ones: the solver
rank ends the job at the first simulation with one line naming the solver, the call and the
expected dtype. Before, every simulation was failed and resubmitted on that error until the
budget was spent (one "attempt ... failed" line each), and the run ended on the trainer."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = pytest.mark.skipif(not (helpers.BIN / "mpiexec").exists(),
                                reason="no mpiexec next to python")

# float64 only for one trajectory, as a solver rank runs it: the trainer's validation
# trajectories (a batch of them) stay float32, so which rank reports first is not a race
DOUBLE = """
from pdesurrogate.solvers import Advection1D


class DoubleAdvection(Advection1D):
    def advance(self, u, params, duration):
        out = super().advance(u, params, duration)
        return out.double() if u.shape[0] == 1 else out
"""


@pytest.mark.slow  # 10-20 s: an MPI job of 3 ranks
def test_a_solver_breaking_the_contract_ends_the_job_in_one_line(tmp_path):
    (tmp_path / "usersolver.py").write_text(DOUBLE)
    config = helpers.write_config(tmp_path, solver="usersolver.DoubleAdvection")
    proc = helpers.run(["--config", str(config), "--out", str(tmp_path / "run")], tmp_path,
                       timeout=240)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert ("error: solver advection1d (usersolver.DoubleAdvection): advance returned "
            "torch.float64 states of shape (1, 1, 32) at step 1, expected torch.float32 states "
            "of shape (1, 1, 32)") in text, text
    assert "Traceback" not in text, text
    assert "attempt 1 failed" not in text, text  # no retry of a contract error
