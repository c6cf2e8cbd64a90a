"""What a rank of ``pdesurrogate online`` parses under the user's own ``mpiexec`` (as under
srun): a solver rank the settings without the model and the trainer, and never Lightning (it
held ~130 MB of Lightning and the model's libraries in each solver rank); a trainer rank the
whole config, whose error ends every rank, reported once, none left waiting in MPI."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("online_test_helpers",
                                               Path(__file__).with_name("test_online.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

MPIEXEC = helpers.BIN / "mpiexec"
pytestmark = pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")
# what a solver rank must not import: Lightning, and the model's libraries with it
TRAINING = ("lightning", "lightning_fabric", "pytorch_lightning", "pdesurrogate.training",
            "pdesurrogate.models", "neuralop")


def mpi_job(n: int, cmd: list[str], tmp_path: Path, timeout: float = 120):
    """``mpiexec -n N CMD`` (the venv's, on this machine): its exit status and output; fails
    the test, and kills every rank, if it has not ended after ``timeout`` seconds."""
    proc = subprocess.Popen([str(MPIEXEC), "-launcher", "fork", "-n", str(n), *cmd],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=helpers.env_with(tmp_path), cwd=tmp_path,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the MPI job hung ({timeout} s):\n{out}{err}")
    return proc.returncode, out + err


# each rank: its settings (less model and trainer), what it imported of the training side
# after the solver rank's set-up, and the trainer settings it parsed
RANK = """
import json, sys
from pdesurrogate.online import _parameter_box, build_solver
from pdesurrogate.online.rank_settings import rank_settings
from pdesurrogate.streaming import Scheduler, solver_simulation
from pdesurrogate.streaming.roles import mpi
import pdesurrogate.online.rank  # run_rank's module, which a solver rank runs

parser, cfg = rank_settings(json.loads(sys.argv[1]))
solver = build_solver(cfg)
box = _parameter_box(cfg, solver)
Scheduler(box, cfg.simulations, cfg.sampling, cfg.seed, cfg.max_retries)
solver_simulation(solver, cfg.n_steps, cfg.dt)
settings = {k: v for k, v in cfg.as_dict().items() if k not in ("model", "trainer")}
trainer = cfg.trainer.as_dict() if hasattr(cfg.trainer, "as_dict") else cfg.trainer
print("RANK", json.dumps({
    "rank": mpi().COMM_WORLD.rank, "settings": settings, "box": box,
    "imported": sorted(m for m in sys.modules if m.startswith(%r)),
    "max_steps": (trainer or {}).get("max_steps")}, default=str))
"""


@pytest.mark.slow  # ~7 s on 2 cores: make test-all runs it
def test_a_solver_rank_parses_and_sets_up_without_lightning(tmp_path):
    """World rank 1 of 2 (a solver) has the same settings as the trainer rank, its solver,
    parameter box, scheduler and simulation built, and has imported neither Lightning nor the
    model's libraries; the trainer rank has them, and the command line's model and trainer
    options (left out of the solver's parse) with the options after them."""
    cfg = helpers.write_config(tmp_path)
    argv = ["--config", str(cfg), "--model.init_args.residual", "false",
            "--trainer.max_steps=7", "--trainer.limit_val_batches", "0", "--seed", "5"]
    code = RANK % (TRAINING,)
    rc, out = mpi_job(2, [sys.executable, "-c", code, json.dumps(argv)], tmp_path)
    assert rc == 0, out
    ranks = {r["rank"]: r for r in (json.loads(line.removeprefix("RANK "))
                                    for line in out.splitlines() if line.startswith("RANK "))}
    assert sorted(ranks) == [0, 1], out
    trainer, solver = ranks[0], ranks[1]
    assert solver["imported"] == [], solver["imported"]
    assert "lightning" in trainer["imported"], trainer["imported"]
    assert trainer["max_steps"] == 7
    assert solver["settings"] == trainer["settings"]
    assert solver["settings"]["seed"] == 5 and solver["box"] == {"beta": [0.2, 1.0]}


@pytest.mark.slow  # ~8 s a case on 2 cores: make test-all runs them
@pytest.mark.parametrize(("edit", "args", "message"), [
    # a misspelt key of the model: jsonargparse's parse error
    (("hidden_channels: 8", "hiden_channels: 8"), [],
     "(pdesurrogate.models.FNO): Option 'hiden_channels' is not accepted"),
    # a trainer setting an online run refuses (the second trainer rank finds it too)
    (None, ["--trainers", "2", "--trainer.min_steps", "5"],
     "online config: trainer.min_steps (5): an online run cannot promise a minimum"),
])
def test_a_config_error_only_trainer_ranks_find_ends_the_job_reported_once(tmp_path, edit,
                                                                             args, message):
    """Under the user's own mpiexec the solver ranks parse the config without the model and
    the trainer, and pass; the trainer ranks find the error after MPI has started (a rank
    that exits before MPI_Init leaves the others waiting in it for good): every rank ends,
    exit status 2, the error printed once (it was printed by every rank), nothing started."""
    cfg = helpers.write_config(tmp_path)
    if edit:
        cfg.write_text(cfg.read_text().replace(*edit))
    out = tmp_path / "r"
    rc, output = mpi_job(3, [*helpers.PDESURROGATE, "--config", str(cfg), "--out", str(out),
                             *args], tmp_path)
    assert rc == 2, output
    assert output.count(message) == 1, output
    assert "Traceback" not in output and not out.exists(), output
