"""An online run's end accounts for every simulation (``pdesurrogate online``, 2 trainer ranks
and 1 solver rank under mpiexec, 40 simulations of a solver that diverges for beta > 0.6, FIFO
buffers of 12 items): committed, abandoned or named in summary.json's undelivered_sim_ids and
the printed table, never two of these; a run that reports ``finished`` at the stream's end
left none undelivered."""

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

MPIEXEC = Path(sys.executable).parent / "mpiexec"
N_SIMS = 40

pytestmark = pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")

SOLVER = '''
from pdesurrogate.solvers import Advection1D
from pdesurrogate.solvers.base import SolverDivergedError


class HalfDiverging(Advection1D):
    """Diverges for beta above 0.6: a failure that depends on the parameter."""

    def advance(self, u, params, duration):
        if u.shape[0] == 1 and float(params["beta"].reshape(-1)[0]) > 0.6:
            raise SolverDivergedError(self.name, 0, duration, "beta > 0.6")
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
n_steps: 6
dt: 0.05
credits: 1000
buffer: {{kind: fifo, capacity: 12, watermark: 1}}
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
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1",
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


def finished(runs: dict, name: str) -> tuple[dict, str, Path]:
    """The run ``name`` of :func:`runs` once it has ended: its summary, its stderr, its test
    folder."""
    tmp_path, started = runs[name]
    proc = started.result()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # 3: the stream ended with simulations undelivered (resumable), not 0
    assert proc.returncode == (3 if summary["status"] == "incomplete" else 0), (
        proc.stdout[-3000:] + proc.stderr[-3000:])
    return summary, proc.stderr, tmp_path


def accounted(s: dict) -> list[int]:
    committed, abandoned = s["committed_sim_ids"], s["abandoned_sim_ids"]
    lost = s["undelivered_sim_ids"]
    parts = [*committed, *abandoned, *lost]
    assert len(parts) == len(set(parts)), (committed, abandoned, lost)
    assert sorted(parts) == list(range(N_SIMS))
    return lost


def test_the_stream_end_of_two_uneven_trainers_loses_no_simulation(runs):
    """Halton routing and parameter-dependent failures leave the trainers uneven: the one
    with more data still holds simulations when the other runs dry. The run ends by the
    stream with every simulation committed or abandoned, or else says it is incomplete,
    keeps its checkpoint and names the ids."""
    s, err, tmp_path = finished(runs, "stream")
    lost = accounted(s)
    assert s["ended_by"].startswith("the stream")
    if s["status"] == "finished":
        assert lost == [] and s["sims_discarded"] == 0
        assert not (tmp_path / "run" / "checkpoint").exists()
    else:
        assert s["status"] == "incomplete" and lost
        assert (tmp_path / "run" / "checkpoint" / "manifest.json").is_file()


def test_a_trainer_limit_names_the_simulations_it_left_undelivered(runs):
    """trainer.max_steps 4 ends training while the buffers hold back the solver: the run is
    finished by that limit, and the simulations not delivered (never run, or discarded when
    they arrived after the limit) are named in summary.json and counted in the table."""
    s, err, _ = finished(runs, "max_steps")
    lost = accounted(s)
    assert s["status"] == "finished" and s["ended_by"] == "trainer.max_steps (4)"
    assert lost and set(s["discarded_sim_ids"]) <= set(lost)
    assert re.search(rf"simulations not delivered\s+│ {len(lost)} \(ids {lost[0]}, ", err)
