"""An online run's end accounts for every simulation (``pdesurrogate online``, 2 trainer ranks
and 1 solver rank under mpiexec, 42 simulations of a solver that diverges for beta > 0.6, FIFO
buffers of 4 items): committed, abandoned or named in summary.json's undelivered_sim_ids and
the printed table, never two of these; a run that ends by the stream commits every simulation
that did not diverge and leaves none undelivered."""

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pdesurrogate.streaming import Scheduler

MPIEXEC = Path(sys.executable).parent / "mpiexec"
N_SIMS = 42
N_STEPS = 6  # a simulation's training pairs (FIFO items)
# fewer than a simulation's items: when the poorer trainer rank runs dry, the richer one's
# receiver is still putting its last simulation into the buffer (its stream has not ended)
CAPACITY = 4
# the solver diverges for beta above this (CONFIG's beta_range: 0 to 1)
BETA_DIVERGES = 0.6

# two online runs side by side, ~30 s on 2 cores: make test-all runs them
pytestmark = [pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python"),
              pytest.mark.slow]

SOLVER = f'''
from pdesurrogate.solvers import Advection1D
from pdesurrogate.solvers.base import SolverDivergedError


class HalfDiverging(Advection1D):
    """Diverges for beta above {BETA_DIVERGES}: a failure that depends on the parameter."""

    def advance(self, u, params, duration):
        if u.shape[0] == 1 and float(params["beta"].reshape(-1)[0]) > {BETA_DIVERGES}:
            raise SolverDivergedError(self.name, 0, duration, "beta > {BETA_DIVERGES}")
        return super().advance(u, params, duration)
'''

CONFIG = f"""seed: 0
trainers: 2
solvers: 1
solver:
  class_path: halfdiv_solver.HalfDiverging
  init_args: {{n_points: 32, beta_range: [0.0, 1.0]}}
simulations: {N_SIMS}
sampling: halton
max_retries: 0
n_steps: {N_STEPS}
dt: 0.05
credits: 1000
buffer: {{kind: fifo, capacity: {CAPACITY}, watermark: 1}}
batch_size: 1
validation: {{trajectories: 2, every_n_steps: 1000}}
stats_trajectories: 2
checkpoint_every_n_steps: 0
stall_timeout: 60
model:
  class_path: pdesurrogate.training.NextStepModule
  init_args:
    model:
      class_path: pdesurrogate.models.FNO
      init_args: {{in_channels: 1, out_channels: 1, n_modes: [8], hidden_channels: 8,
                  n_layers: 2, n_params: 1}}
    scheduler: none
    residual: true
trainer: {{enable_progress_bar: false, log_every_n_steps: 5, enable_model_summary: false}}
"""


def run_online(tmp_path: Path, extra: str) -> subprocess.CompletedProcess:
    """The run of CONFIG with ``extra`` added to its trainer settings, in ``tmp_path``."""
    (tmp_path / "halfdiv_solver.py").write_text(SOLVER)
    cfg = tmp_path / "online.yaml"
    cfg.write_text(CONFIG.replace("enable_model_summary: false}",
                                  f"enable_model_summary: false{extra}}}"))
    # the solver's module first, then any PYTHONPATH the tests run with (no empty entry:
    # Python reads one as the current directory)
    path = [str(tmp_path), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "OMP_NUM_THREADS": "1",
           "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "pdesurrogate.cli", "online", "--config",
                           str(cfg), "--out", str(tmp_path / "run")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The module's two runs (to the stream's end, and ``trainer.max_steps 4``), started
    together when the first test asks (a run leaves one of 2 cores idle much of its time):
    name -> (its test folder, its run_online future)."""
    extras = {"stream": "", "max_steps": ", max_steps: 4"}
    with ThreadPoolExecutor(len(extras)) as pool:
        folders = {name: tmp_path_factory.mktemp(name) for name in extras}
        yield {name: (folders[name], pool.submit(run_online, folders[name], extra))
               for name, extra in extras.items()}


def finished(runs: dict, name: str) -> tuple[dict, subprocess.CompletedProcess, Path]:
    """The run ``name`` of :func:`runs` once it has ended: its summary, its process, its test
    folder."""
    tmp_path, started = runs[name]
    proc = started.result()
    path = tmp_path / "run" / "summary.json"
    assert path.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(path.read_text()), proc, tmp_path


def diverging() -> list[int]:
    """The ids of CONFIG's simulations whose beta (halton draws, seed 0) makes the solver
    diverge: with max_retries 0, abandoned at their first failure."""
    scheduler = Scheduler({"beta": (0.0, 1.0)}, N_SIMS, "halton", 0, 0)
    betas = [scheduler.params_of(s)["beta"] for s in range(N_SIMS)]
    # none so near the bound that the solver's float32 beta could fall on its other side
    assert min(abs(b - BETA_DIVERGES) for b in betas) > 1e-4
    return [s for s, b in enumerate(betas) if b > BETA_DIVERGES]


def accounted(s: dict) -> list[int]:
    committed, abandoned = s["committed_sim_ids"], s["abandoned_sim_ids"]
    lost = s["undelivered_sim_ids"]
    parts = [*committed, *abandoned, *lost]
    assert len(parts) == len(set(parts)), (committed, abandoned, lost)
    assert sorted(parts) == list(range(N_SIMS))
    return lost


def test_the_stream_end_of_two_uneven_trainers_loses_no_simulation(runs):
    """An odd number of simulations that do not diverge leaves the trainers uneven by one
    (the scheduler evens out what is done): the richer one still holds a simulation, more
    than its buffer takes, when the other runs dry, and its stream ends only then. Nothing is
    dropped or discarded on the way, so the run ends by the stream, finished, with exactly
    the diverging simulations abandoned, every other one committed, none undelivered and no
    checkpoint left."""
    s, proc, tmp_path = finished(runs, "stream")
    abandoned = diverging()
    committed = [i for i in range(N_SIMS) if i not in abandoned]
    assert s["committed_sim_ids"] == committed
    assert s["abandoned_sim_ids"] == abandoned
    n = len(committed)
    assert n % 2 == 1
    assert sorted(len(t["committed_sims"]) for t in s["trainers"]) == [n // 2, n - n // 2]
    # lockstep, a batch of 1: a step for each item of the poorer rank; the richer one ends
    # holding its last simulation's items, never trained on: a full buffer, the rest taken
    # past it once the ranks agreed the end
    assert s["global_step"] == N_STEPS * (n // 2)
    assert sorted((t["buffer"]["size"], t["receiver"]["items_not_buffered"])
                  for t in s["trainers"]) == [(0, 0), (CAPACITY, N_STEPS - CAPACITY)]
    assert s["undelivered_sim_ids"] == [] and s["discarded_sim_ids"] == []
    assert (s["sims_dropped"], s["sims_discarded"], s["sims_duplicate"]) == (0, 0, 0)
    assert s["status"] == "finished" and s["ended_by"].startswith("the stream: every")
    assert re.search(r"simulations not delivered\s+│ 0 ", proc.stderr)
    assert not (tmp_path / "run" / "checkpoint").exists()
    # an incomplete run (the stream ended with simulations undelivered) would exit 3
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_a_trainer_limit_names_the_simulations_it_left_undelivered(runs):
    """trainer.max_steps 4 ends training while the buffers hold back the solver: the run is
    finished by that limit, and the simulations not delivered (never run, or discarded when
    they arrived after the limit) are named in summary.json and counted in the table."""
    s, proc, _ = finished(runs, "max_steps")
    lost = accounted(s)
    assert s["status"] == "finished" and s["ended_by"] == "trainer.max_steps (4)"
    assert lost and set(s["discarded_sim_ids"]) <= set(lost)
    assert re.search(rf"simulations not delivered\s+│ {len(lost)} \(ids {lost[0]}, ",
                     proc.stderr)
    assert proc.returncode == 0, proc.stderr[-3000:]
