"""``pdesurrogate online`` end to end, as a user runs it (the command starts its own MPI job with
the venv's mpiexec): a tiny advection1d stream into a tiny FNO. Checks the exported model, the
summary's accounting of simulations, stop-on-signal + ``--resume`` (every simulation trained on
exactly once), resubmission of failing simulations, and a solver rank killed mid-run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
PDESURROGATE = [sys.executable, "-m", "pdesurrogate.cli", "online"]

pytestmark = pytest.mark.skipif(not (BIN / "mpiexec").exists(), reason="no mpiexec next to python")

CONFIG = """
seed: 0
trainers: 1
solvers: 2
solver:
  class_path: {solver}
  init_args: {{n_points: 32, beta_range: [0.2, 1.0]}}
simulations: {simulations}
n_steps: 6
dt: 0.05
buffer: {{kind: reservoir, capacity: 60, watermark: 30}}
batch_size: 16
validation: {{trajectories: 4, every_n_steps: 1000}}
stats_trajectories: 4
checkpoint_every_n_steps: {ckpt}
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

# a solver whose first attempt of some simulations diverges (the seed of an attempt differs, so
# a rerun succeeds): the online run must resubmit them and never train on their samples
FLAKY = """
import torch
from pdesurrogate.solvers import Advection1D
from pdesurrogate.solvers.base import SolverDivergedError


class FlakyAdvection(Advection1D):
    def sample(self, n, seed, dtype=torch.float32, device="cpu"):
        self._bad = seed % 3 == 0
        return super().sample(n, seed, dtype, device)

    def advance(self, u, params, duration):
        if getattr(self, "_bad", False) and u.shape[0] == 1:
            raise SolverDivergedError(self.name, 0, duration, "injected fault")
        return super().advance(u, params, duration)
"""


# a solver slower than the test's stall_timeout per simulation (0.05 s a step, 100 steps)
SLOW = """
import time
from pdesurrogate.solvers import Advection1D


class SlowAdvection(Advection1D):
    def advance(self, u, params, duration):
        time.sleep(0.05)
        return super().advance(u, params, duration)
"""


def write_config(tmp_path: Path, solver="pdesurrogate.solvers.Advection1D", simulations=24,
                 ckpt=0) -> Path:
    path = tmp_path / "online.yaml"
    path.write_text(CONFIG.format(solver=solver, simulations=simulations, ckpt=ckpt))
    return path


def env_with(tmp_path: Path) -> dict:
    # no empty entry: Python reads one as the current directory
    path = [str(tmp_path), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    # the launcher's temporary folder, where it makes its job's TMPDIR: in the test's folder,
    # for a test to look at (and for nothing a killed job leaves to outlive the tests)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(path),
            "TMPDIR": str(tmp_path / "tmp")}


def run(args, tmp_path, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([*PDESURROGATE, *args], capture_output=True, text=True,
                          timeout=timeout, env=env_with(tmp_path), cwd=tmp_path)


def run_together(cmds: list[list[str]], tmp_path: Path, timeout: float,
                 at_once: int = 3) -> list[subprocess.CompletedProcess]:
    """Independent commands, each run as :func:`run` runs its command (:func:`env_with`'s
    environment, killed and TimeoutExpired after ``timeout`` s), ``at_once`` of them at a
    time, started in the order given: a launcher that refuses is one process importing torch
    and Lightning, so on 2 cores two of them take the time of one. Their results in the order
    given."""
    env = env_with(tmp_path)
    with ThreadPoolExecutor(at_once) as pool:
        runs = [pool.submit(subprocess.run, cmd, capture_output=True, text=True,
                            timeout=timeout, env=env, cwd=tmp_path) for cmd in cmds]
        return [r.result() for r in runs]


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def folder_state(folder: Path) -> dict[str, bytes | str | None]:
    """What ``folder`` holds: each file's bytes, each symlink's target, None for a folder,
    by path relative to it; not the lock file, which a refused run takes (and writes its PID
    in) before it looks at the rest."""
    from pdesurrogate.online import LOCK_FILE

    return {str(p.relative_to(folder)): (str(p.readlink()) if p.is_symlink()
                                         else None if p.is_dir() else p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.name != LOCK_FILE}


def wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, f"the run ended before {path} appeared"
        assert time.monotonic() - t0 < timeout, f"{path} did not appear in {timeout} s"
        time.sleep(0.2)


# what a clone of the repository (or an unpacked sdist) has in its root: a pdesurrogate/ folder
# that is not the package the command runs
DECOY = 'raise ImportError("imported the pdesurrogate/ folder of the current directory")\n'

MY_SOLVER = """
import pdesurrogate
from pdesurrogate.solvers import Advection1D

print("pdesurrogate from", pdesurrogate.__file__)


class MyAdvection(Advection1D):
    \"\"\"A solver of the user's own.\"\"\"
"""


def clone_root(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    (root / "pdesurrogate").mkdir(parents=True)
    (root / "pdesurrogate" / "__init__.py").write_text(DECOY)
    return root


@pytest.fixture(scope="module")
def online_runs(request, tmp_path_factory):
    """This module's four online runs, started together when the first test asks for them (a
    run spends most of its wall time in its processes' imports of torch and Lightning and
    leaves one of 2 cores idle much of it, so four side by side take far less than one after
    the other), only those whose tests were collected: name -> (the run's test folder, a
    future: for the two runs that go to their end untouched, their
    subprocess.CompletedProcess; for the signal and dead-rank scenarios, which assert as they
    go, what they return or the first assertion that failed)."""
    wanted = {item.originalname for item in request.session.items
              if item.module is request.module}
    folders = {name: tmp_path_factory.mktemp(name) for name in ("export", "flaky", "signal",
                                                               "dead_rank")}
    export, flaky = folders["export"], folders["flaky"]
    # as a user runs it, with the console script, from the root of a clone; the solver by its
    # registry name, in the config file as on the command line
    cfg = write_config(export, solver="advection1d")
    (flaky / "flaky_solver.py").write_text(FLAKY)
    flaky_cfg = write_config(flaky, solver="flaky_solver.FlakyAdvection", simulations=24)
    starts = {
        "export": (subprocess.run, [str(BIN / "pdesurrogate"), "online", "--config", str(cfg),
                                    "--out", str(export / "run")],
                   {"capture_output": True, "text": True, "timeout": 300,
                    "env": env_with(export), "cwd": clone_root(export)}),
        # a run without validation (trainer.limit_val_batches 0)
        "flaky": (subprocess.run, [*PDESURROGATE, "--config", str(flaky_cfg), "--out",
                                   str(flaky / "run"), "--trainer.limit_val_batches", "0"],
                  {"capture_output": True, "text": True, "timeout": 300,
                   "env": env_with(flaky), "cwd": flaky}),
        "signal": (signal_checkpoints_and_resume, folders["signal"], {}),
        "dead_rank": (dead_solver_rank_ends_the_job, folders["dead_rank"], {})}
    tests = {"export": "test_online_run_exports_a_model_and_accounts_for_every_simulation",
             "flaky": "test_failing_simulations_are_resubmitted_with_a_new_seed",
             "signal": "test_signal_checkpoints_and_resume_trains_each_simulation_once",
             "dead_rank": "test_a_dead_solver_rank_ends_the_job_with_a_resumable_checkpoint"}
    # the scenarios, each with its own waits, first: they take longest
    order = [name for name in ("signal", "dead_rank", "export", "flaky")
             if tests[name] in wanted]
    with ThreadPoolExecutor(max(1, len(order))) as pool:
        yield {name: (folders[name], pool.submit(starts[name][0], starts[name][1],
                                                 **starts[name][2]))
               for name in order}


def test_online_run_exports_a_model_and_accounts_for_every_simulation(online_runs):
    """Run as a user runs it, with the console script, from the root of a clone: the ranks
    must import the package the command runs, not the clone's pdesurrogate/ folder."""
    tmp_path, started = online_runs["export"]
    proc, out = started.result(), tmp_path / "run"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the summary in a log (stderr is a pipe here) gives the paths whole, not cut at 80 columns
    assert f" {out / 'model'} " in proc.stderr and f" {out / 'summary.json'} " in proc.stderr, (
        proc.stderr)
    assert "class_path: pdesurrogate.solvers.advection.Advection1D" in (
        out / "config.yaml").read_text()
    s = summary(out)
    assert s["status"] == "finished"
    assert s["committed_sim_ids"] == list(range(24))
    assert s["samples_received"] == 24 * 7 and s["sims_duplicate"] == 0
    assert s["sims_dropped"] == 0
    assert s["global_step"] > 0 and 0 <= s["idle_fraction"] < 1
    assert (out / "model" / "model.safetensors").exists() and (out / "rollout.png").exists()
    import torch

    import pdesurrogate

    sur = pdesurrogate.load(out / "model")
    u0 = torch.zeros(2, 1, 32)
    assert sur.rollout(u0, torch.full((2, 1), 0.5), steps=3).shape == (2, 4, 1, 32)
    # the export names the stream it was trained on, and the run's seed
    prov = sur.config["provenance"]
    src = prov["data_source"]
    assert src["kind"] == "online" and src["simulations"] == 24 and src["seed"] == 0
    assert src["solver"]["class_path"] == "pdesurrogate.solvers.advection.Advection1D"
    assert src["parameters"] == {"beta": [0.2, 1.0]} and src["validation"]["trajectories"] == 4
    assert prov["seed_everything"] == 0
    # and how it was trained: the config's module and settings, batch_size per trainer rank
    recipe = prov["recipe"]
    assert recipe["module"] == "pdesurrogate.training.NextStepModule"
    assert recipe["batch_size"] == 16 and recipe["hparams"]["scheduler"] == "none"
    assert recipe["hparams"]["residual"] is True


def test_rank_command_imports_this_process_package_and_the_users_modules(tmp_path,
                                                                         monkeypatch):
    """The command each rank runs imports the pdesurrogate this process runs (not a
    pdesurrogate/ folder in the current directory, which the ``pdesurrogate`` command does not
    have on its import path either), and a module of the user's on PYTHONPATH, named by
    class_path, imports."""
    import pdesurrogate
    from pdesurrogate.online import rank_command

    cwd = clone_root(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "my_solver.py").write_text(MY_SOLVER)
    monkeypatch.chdir(cwd)  # the launcher's folder, which the ranks run in
    env = {**os.environ, "PYTHONPATH": str(mine)}
    proc = subprocess.run(rank_command(["generate", "--solver.help", "my_solver.MyAdvection"]),
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"pdesurrogate from {pdesurrogate.__file__}\n" in proc.stdout, proc.stdout
    assert "A solver of the user's own" in proc.stdout and "--solver.n_points" in proc.stdout


# a module of the user's: where its spawn child (a DataLoader worker under forkserver, a
# ddp_spawn process) gets pdesurrogate and this module from
SPAWN_CHECK = """
import multiprocessing


def where():
    import pdesurrogate
    return pdesurrogate.__file__


def run():
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        print("child:", pool.apply(where))
"""


def rank_code(tail: str) -> list[str]:
    """rank_command's command with ``tail`` run in place of pdesurrogate's CLI."""
    from pdesurrogate.online import rank_command

    exe, flag, code = rank_command([])
    head, sep, _ = code.rpartition("from pdesurrogate.cli import main")
    assert flag == "-c" and sep, code
    return [exe, flag, head + tail]


def test_rank_command_spawn_children_import_the_same_package(tmp_path, monkeypatch):
    """A rank's spawn/forkserver children start from the rank's sys.path, not from its
    command line: they too must import this process's pdesurrogate, not the current
    directory's pdesurrogate/ folder, and the user's module (on PYTHONPATH); and no top-level
    ``solvers``/``datasets``/``streaming`` of the repository becomes importable."""
    import pdesurrogate

    cwd = clone_root(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "spawn_check.py").write_text(SPAWN_CHECK)
    monkeypatch.chdir(cwd)
    env = {**os.environ, "PYTHONPATH": str(mine)}
    code = ("import importlib.util as u, spawn_check; spawn_check.run(); "
            "print('top-level:', [n for n in ('solvers', 'datasets', 'streaming') "
            "if u.find_spec(n)])")
    proc = subprocess.run(rank_code(code), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == f"child: {pdesurrogate.__file__}\ntop-level: []\n", \
        proc.stdout + proc.stderr


def test_rank_command_from_the_checkout_this_process_runs_keeps_running_it(tmp_path,
                                                                            monkeypatch):
    """Started with ``python -m`` in the root of the checkout whose pdesurrogate it runs (its
    current folder first on its import path), the launcher's ranks keep the current folder
    first and run that checkout too, even when another pdesurrogate comes next on the path."""
    import pdesurrogate

    root = Path(pdesurrogate.__file__).resolve().parents[1]
    other = tmp_path / "site"
    (other / "pdesurrogate").mkdir(parents=True)
    (other / "pdesurrogate" / "__init__.py").write_text(DECOY)
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))  # as `python -m` started there has it
    proc = subprocess.run(rank_code("import pdesurrogate; print(pdesurrogate.__file__)"),
                          cwd=root, env={**os.environ, "PYTHONPATH": str(other)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == f"{pdesurrogate.__file__}\n", proc.stdout


def test_signal_checkpoints_and_resume_trains_each_simulation_once(online_runs, capsys):
    """Its two runs (a first leg stopped by SIGTERM, then --resume) run beside this module's
    other online runs (:func:`online_runs`: :func:`signal_checkpoints_and_resume`, which also
    asserts on the first leg); the refusals, which stop before any MPI job, run here in this
    process (:func:`refusal`), each a launcher's import of torch and Lightning less."""
    r = online_runs["signal"][1].result()
    cfg, out, fresh, changed, swapped = r["cfg"], r["out"], r["fresh"], r["changed"], r["swapped"]
    # the three refusals below each ran in a copy of the folder as it was at their turn (in one
    # folder they would find it locked by the resume); each must leave its copy as it found it
    # a fresh run into the same directory must not silently overwrite the checkpoint
    again = refusal(["--config", str(cfg), "--out", str(fresh)], capsys)
    # nor may a resume change what the run trains on
    changes = refusal(["--config", str(cfg), "--out", str(changed), "--resume",
                       "--simulations", "61"], capsys)
    # after the kill in the swap, a fresh run must not take (and delete) them
    takes = refusal(["--config", str(cfg), "--out", str(swapped)], capsys)
    assert again.returncode == 2 and "--resume" in again.stderr
    assert changes.returncode == 2 and "simulations (60 -> 61)" in changes.stderr, (
        changes.stderr)
    assert takes.returncode == 2 and "checkpoint.partial' and " in takes.stderr, takes.stderr
    for copy, state in r["copies"].items():
        assert folder_state(copy) == state, f"a refused run changed {copy}"
    # --resume continued from the staged one, saying so
    proc, first, before = r["resume"], r["first"], r["before"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"resuming from {out / 'checkpoint.partial'}/" in proc.stderr, proc.stderr
    assert not (out / "checkpoint.partial").exists() and not (out / "checkpoint.old").exists()
    second = summary(out)
    assert second["status"] == "finished"
    assert not (out / "checkpoint").exists()  # nothing resumes a finished run
    assert second["committed_sim_ids"] == list(range(60))  # none lost
    assert second["sims_duplicate"] == 0  # none trained on twice
    assert second["global_step"] > first["global_step"]  # optimiser state and step restored
    new = set(second["committed_sim_ids"]) - before
    # only the missing ones ran again; the run's count adds what the first leg had received
    # by its checkpoint (which may include samples of simulations it then dropped)
    leg = second["trainers"][0]["receiver"]["samples"]
    assert leg == 7 * len(new)
    assert 7 * 60 <= second["samples_received"] <= leg + first["samples_received"]
    # a finished run is never resumed into (that would replace its model)
    again = refusal(["--config", str(cfg), "--out", str(out), "--resume"], capsys)
    assert again.returncode == 2 and "holds a finished run" in again.stderr, again.stderr


def refusal(args: list[str], capsys) -> subprocess.CompletedProcess:
    """``pdesurrogate online ARGS`` run in this process, as the command's entry point runs it
    (its exit status is what :func:`pdesurrogate.cli.main` returns), for a run that must be
    refused before it starts an MPI job: its status and what it printed."""
    from pdesurrogate.cli import main

    capsys.readouterr()
    code = main(["online", *args])
    printed = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, printed.out, printed.err)


def signal_checkpoints_and_resume(tmp_path: Path) -> dict:
    """A run stopped by SIGTERM after its first checkpoint, checked here (stopped resumably,
    not through a symlink planted at summary.json's temporary name), then copies of its folder
    for the refusals of :func:`test_signal_checkpoints_and_resume_trains_each_simulation_once`
    (``fresh``, ``changed``; ``swapped`` after a kill inside the checkpoint swap) and the folder
    resumed (``resume``: its subprocess.CompletedProcess). The config, the folders, each copy's
    :func:`folder_state`, the first leg's summary (``first``) and committed ids (``before``)."""
    cfg, out = write_config(tmp_path, simulations=60, ckpt=5), tmp_path / "run"
    # summary.json was written through this fixed name, following a symlink planted there
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (out / ".summary.json.tmp").symlink_to(victim)
    proc = subprocess.Popen([*PDESURROGATE, "--config", str(cfg), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env_with(tmp_path), cwd=tmp_path)
    try:
        wait_for(out / "checkpoint" / "manifest.json", proc, 240)
        proc.send_signal(signal.SIGTERM)  # the launcher turns it into SIGUSR1 for the job
        log, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, log  # stopped, not finished: resumable
    assert "continue with" in log and "--resume" in log, log
    # the checkpoint says what it holds: no "defaulting to weights_only=False" log per checkpoint
    assert "was not set, defaulting" not in log, log
    first = summary(out)
    assert first["status"] == "stopped", log
    assert victim.read_text() == "precious\n" and not (out / "summary.json").is_symlink()
    manifest = json.loads((out / "checkpoint" / "manifest.json").read_text())
    assert manifest["stop"] and manifest["global_step"] == first["global_step"]
    before = set(first["committed_sim_ids"])
    assert manifest["committed"] == len(before)

    fresh, changed, swapped = (tmp_path / name for name in ("fresh", "changed", "swapped"))
    for copy in (fresh, changed):
        shutil.copytree(out, copy, symlinks=True)
    # killed inside the checkpoint swap, after the old checkpoint was moved aside and before
    # the staged one took its place
    os.replace(out / "checkpoint", out / "checkpoint.partial")
    shutil.copytree(out / "checkpoint.partial", out / "checkpoint.old")
    shutil.copytree(out, swapped, symlinks=True)
    copies = {copy: folder_state(copy) for copy in (fresh, changed, swapped)}
    # --resume continues from the staged one
    resume = run(["--config", str(cfg), "--out", str(out), "--resume"], tmp_path)
    return {"cfg": cfg, "out": out, "fresh": fresh, "changed": changed, "swapped": swapped,
            "copies": copies, "first": first, "before": before, "resume": resume}


def test_failing_simulations_are_resubmitted_with_a_new_seed(online_runs):
    """Also a run without validation (trainer.limit_val_batches 0): it failed after all its
    training, with no model exported; now it exports, and says there is no validation."""
    tmp_path, started = online_runs["flaky"]
    proc, out = started.result(), tmp_path / "run"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s = summary(out)
    assert s["status"] == "finished" and "validation" not in s
    assert s["validation_skipped"] == "trainer.limit_val_batches is 0"
    assert (out / "model" / "model.safetensors").exists()
    assert s["sims_failed"] > 0  # some first attempts diverged ...
    # ... and were rerun, each at most max_retries (2) times: a third failure abandons the
    # simulation instead (with seed 0, three simulations fail on all three seeds)
    abandoned = s["abandoned_sim_ids"]
    assert s["scheduler"]["attempts"] == 24 + s["sims_failed"] - len(abandoned)
    assert s["sims_failed"] > 3 * len(abandoned)  # some reruns succeeded
    committed = set(s["committed_sim_ids"]) | set(s["abandoned_sim_ids"])
    assert committed == set(range(24)) and s["sims_duplicate"] == 0
    # samples of failed attempts never reached the buffer: each committed sim sent 7
    assert s["trainers"][0]["receiver"]["items_committed"] == 6 * len(s["committed_sim_ids"])


def test_a_dead_solver_rank_ends_the_job_with_a_resumable_checkpoint(online_runs):
    """Run beside this module's other online runs (:func:`online_runs`); its assertions are
    in the scenario, which re-raises here the first that fails."""
    online_runs["dead_rank"][1].result()


def dead_solver_rank_ends_the_job(tmp_path: Path) -> None:
    """A solver rank killed after the first checkpoint ends the job (exit 1, naming the last
    checkpoint and --resume) and leaves nothing behind: not the MPICH shared memory it mapped
    (MPICH unlinks it only in MPI_Finalize), nor what the ranks wrote in TMPDIR (wandb's
    folders, ...); the resume trains every simulation once."""
    cfg, out = write_config(tmp_path, simulations=150, ckpt=3), tmp_path / "run"
    proc = subprocess.Popen([*PDESURROGATE, "--config", str(cfg), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env_with(tmp_path), cwd=tmp_path)
    try:
        wait_for(out / "checkpoint" / "manifest.json", proc, 240)
        pid = int((out / "ranks" / "solver0.pid").read_text())
        maps = Path(f"/proc/{pid}/maps")
        shm = {Path(p) for line in (maps.read_text().splitlines() if maps.exists() else [])
               for p in line.split()[5:6] if p.startswith("/dev/shm/mpich_shm_")}
        os.kill(pid, signal.SIGKILL)
        log, _ = proc.communicate(timeout=120)  # never a silent hang
    finally:
        proc.kill()
    assert proc.returncode == 1, log
    assert "failed" in log and "--resume" in log and "last checkpoint" in log
    assert shm and not [p for p in shm if p.exists()], shm
    # torch's compile cache, made by the launcher's own imports, is meant to stay
    left = [p.name for p in (tmp_path / "tmp").iterdir() if not p.name.startswith("torchind")]
    assert left == [], left
    proc = run(["--config", str(cfg), "--out", str(out), "--resume",
                ], tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s = summary(out)
    assert s["committed_sim_ids"] == list(range(150)) and s["sims_duplicate"] == 0


@pytest.mark.slow  # 18-27 s: make test stays under 10 min on a slow 2-core machine
def test_config_errors_name_the_key(tmp_path):
    cfg = write_config(tmp_path)
    r = [*PDESURROGATE, "--config", str(cfg), "--out", str(tmp_path / "r")]
    # none of these runs may write anything, so they cannot meet: they run together
    own, capasity, resume, pack_kb, chain_ms, watermark, n_params = run_together([
        # under the user's own mpiexec (as under srun) the trainer rank checks the model
        # before training (the case below); first, as the longest
        [str(BIN / "mpiexec"), "-launcher", "fork", "-n", "3", *PDESURROGATE, "--config",
         str(cfg), "--out", str(tmp_path / "m"), "--model.init_args.model.init_args.n_params",
         "2"],
        [*r, "--buffer.capasity", "3"],
        [*r, "--resume"],
        [*r, "--pack_kb", "-1"],
        [*r, "--chain_ms", "-1"],
        # values only the ranks' constructors check fail before any MPI job starts
        [*r, "--buffer.watermark", "61"],
        # a model that cannot take the solver's states (two parameters for one) fails there too
        [*r, "--model.init_args.model.init_args.n_params", "2"]], tmp_path, timeout=120)
    assert capasity.returncode == 2 and "capasity" in capasity.stderr
    assert resume.returncode == 2 and "no checkpoint" in resume.stderr
    assert pack_kb.returncode != 0 and "pack_kb must be an integer >= 0" in pack_kb.stderr
    assert chain_ms.returncode != 0 and "chain_ms must be >= 0, got -1" in chain_ms.stderr
    assert watermark.returncode == 2 and "buffer: watermark must be <= capacity (60), got 61" in (
        watermark.stderr), watermark.stderr
    assert "Traceback" not in watermark.stderr and not (tmp_path / "r").exists()
    assert n_params.returncode == 2 and "the model (FNO) cannot take the solver's states: 1 " \
        "channel(s) on a 1-D grid (32,) with 1 parameter(s) ['beta']" in n_params.stderr, (
            n_params.stderr)
    assert "Traceback" not in n_params.stderr and not (tmp_path / "r").exists()
    assert own.returncode != 0 and "the model (FNO) cannot take the solver's states" in (
        own.stdout + own.stderr), own.stdout + own.stderr
    # no launcher removes the shared memory of an aborted job under the user's own mpiexec;
    # its ranks recorded it, and the test removes it as a launcher would
    from pdesurrogate.online import RANKS, SHM_DIR, _clean_up_after_job

    shm = [SHM_DIR / line.split()[1] for f in (tmp_path / "m" / RANKS).glob("*.shm")
           for line in f.read_text().splitlines()]
    _clean_up_after_job(tmp_path / "m")
    assert shm and not [p for p in shm if p.exists()], shm


def test_summary_names_the_rollout_error_of_an_all2all_model(capsys):
    """scOT (all2all) logs val/rel_l2 for its direct predictions and val/rel_l2_ar for the
    rollout: the summary's rollout row shows the latter and names the former."""
    from pdesurrogate.online import _print_summary

    s = {"status": "finished", "global_step": 7, "ended_by": "the stream",
         "committed_simulations": 3, "simulations": 3, "abandoned_sim_ids": [],
         "sims_failed": 0, "sims_dropped": 0, "malformed_messages": 0, "samples_received": 21,
         "mb_received": 0.01, "idle_fraction": 0.1,
         "validation": {"val/rel_l2": 0.25, "val/rel_l2_ar": 0.75}}
    _print_summary(s, Path("out"))
    lines = capsys.readouterr().err.splitlines()
    assert any("rel L2 (rollout)" in ln and "0.75" in ln for ln in lines), lines
    assert any("direct, mean over lead times" in ln and "0.25" in ln for ln in lines), lines
    s["validation"] = {"val/rel_l2": 0.5}
    _print_summary(s, Path("out"))
    lines = capsys.readouterr().err.splitlines()
    assert any("rel L2 (rollout)" in ln and "0.5" in ln for ln in lines), lines


def test_summary_in_a_log_prints_every_path_whole(capsys, monkeypatch):
    """Not on a terminal (a Slurm log, a pipe), rich would draw the table 80 columns wide and
    cut the paths with an ellipsis: the table is as wide as its rows instead."""
    from pdesurrogate.online import _print_summary

    monkeypatch.delenv("COLUMNS", raising=False)
    out = Path("/scratch/project/a_rather_long_folder_name/another_long_folder/runs/online_7")
    plots = [str(out / "online.png"), str(out / "rollout.png")]
    s = {"status": "finished", "global_step": 7, "ended_by": "the stream",
         "committed_simulations": 3, "simulations": 3, "abandoned_sim_ids": [],
         "sims_failed": 0, "sims_dropped": 0, "malformed_messages": 0, "samples_received": 21,
         "mb_received": 0.01, "idle_fraction": 0.1, "model": str(out / "model"),
         "plots": plots}
    _print_summary(s, out)
    err = capsys.readouterr().err
    assert "…" not in err, err
    for path in (out / "model", *plots, out / "summary.json"):
        assert f" {path} " in err, err


@pytest.mark.slow
def test_two_trainer_ranks_train_with_ddp_on_disjoint_streams(tmp_path):
    cfg, out = write_config(tmp_path, simulations=24), tmp_path / "run"
    proc = run(["--config", str(cfg), "--out", str(out), "--trainers", "2", "--solvers", "2"],
               tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s = summary(out)
    a, b = (set(t["committed_sims"]) for t in s["trainers"])
    assert not a & b and a | b == set(range(24))
    assert s["trainers"][0]["monitor"]["batches"] == s["trainers"][1]["monitor"]["batches"]


@pytest.mark.slow
def test_simulations_longer_than_the_receivers_default_bound_are_trained_on(tmp_path):
    # 4,101 states per simulation: more than the receiver's default max_pending_samples
    # (4096), which used to drop every simulation and leave a finished run of 0 training steps
    cfg, out = write_config(tmp_path, simulations=2), tmp_path / "run"
    text = cfg.read_text().replace("n_steps: 6", "n_steps: 4100")
    cfg.write_text(text.replace("capacity: 60,", "capacity: 9000,"))
    proc = run(["--config", str(cfg), "--out", str(out), "--validation.trajectories", "1",
                "--stats_trajectories", "1"], tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s = summary(out)
    assert s["committed_sim_ids"] == [0, 1]
    assert s["samples_received"] == 2 * 4101 and s["global_step"] > 0
    assert s["sims_dropped"] == 0


@pytest.mark.slow
def test_a_slow_solver_is_not_taken_for_a_dead_one(tmp_path):
    # a 5 s simulation of small fields fits one pack: unless packs also go when they are
    # a few seconds old, the trainer hears nothing for longer than stall_timeout (4 s)
    (tmp_path / "slow_solver.py").write_text(SLOW)
    cfg = write_config(tmp_path, solver="slow_solver.SlowAdvection", simulations=4)
    text = cfg.read_text().replace("n_steps: 6", "n_steps: 100")
    cfg.write_text(text.replace("stall_timeout: 60", "stall_timeout: 4"))
    out = tmp_path / "run"
    proc = run(["--config", str(cfg), "--out", str(out)], tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s = summary(out)
    assert s["committed_sim_ids"] == [0, 1, 2, 3] and s["sims_dropped"] == 0


def test_bad_values_fail_before_anything_is_written(tmp_path):
    """Values that failed inside the MPI job (stall_timeout as the derived max_pack_age_s,
    parameter boxes in the scheduler or the solver's check of the held-out trajectories'
    values), or left config.yaml behind (a missing --mpiexec), are usage errors naming the
    key, before the run directory exists."""
    import argparse

    from pdesurrogate.online import cmd_online

    cfg = write_config(tmp_path)
    burgers = tmp_path / "burgers.yaml"
    burgers.write_text(CONFIG.format(solver="pdesurrogate.solvers.Burgers1D", simulations=4,
                                     ckpt=0).replace("beta_range: [0.2, 1.0]",
                                                     "nu_range: [0.01, 0.1]"))
    # solvers without check_params: their advance checks the values (the model does not
    # fit them, but the parameter box is checked first)
    heat, ns, darcy = tmp_path / "heat.yaml", tmp_path / "ns.yaml", tmp_path / "darcy.yaml"
    for path, solver, args in ((heat, "Heat2D", "{n: 16}"), (ns, "NavierStokes2D", "{n: 16}"),
                               (darcy, "Darcy2D", "{n: 16}")):
        path.write_text(CONFIG.format(solver=f"pdesurrogate.solvers.{solver}", simulations=4,
                                      ckpt=0).replace("{n_points: 32, beta_range: [0.2, 1.0]}",
                                                      args))
    out = tmp_path / "r"
    for config, args, message in (
            (cfg, ["--stall_timeout", "-5"], "online config: stall_timeout must be a number "
                                             "of seconds > 0 (or null: wait forever), got -5"),
            (cfg, ["--threads", "-1"], "online config: threads must be an integer >= 0 (0 or "
                                       "null: torch's default), got -1"),
            # 0 is torch's default (as before the check): the next check speaks
            (cfg, ["--threads", "0", "--mpiexec", str(tmp_path / "no-mpiexec")],
             "no such executable"),
            (cfg, ["--trainers", "2", "--validation.trajectories", "1"],
             "online config: validation.trajectories (1) must be at least trainers (2)"),
            (cfg, ["--mpiexec", str(tmp_path / "no-mpiexec")], "no such executable"),
            (cfg, ["--parameters", "{beta: [1.0, 0.2]}"],
             "online config: parameters.beta must be [low, high] with low <= high, got "
             "[1.0, 0.2]"),
            (burgers, ["--parameters", "{nu: [-0.1, 0.01]}"],
             "online config: parameters.nu = [-0.1, 0.01] is out of the solver's range: "
             "burgers1d: parameter 'nu' must be positive, got [-0.1, 0.01]"),
            (heat, ["--parameters", "{kappa: [-1, 1], kappa_var: [0, 0.5]}"],
             "online config: parameters.kappa = [-1, 1] is out of the solver's range: heat2d: "
             "kappa must be positive"),
            (heat, ["--parameters", "{kappa: [0.01, 0.1], kappa_var: [0, 1]}"],
             "online config: parameters.kappa_var = [0, 1] is out of the solver's range: "
             "heat2d: kappa_var must lie in [0, 1)"),
            (ns, ["--parameters", "{nu: [-0.001, 0.001]}"],
             "online config: parameters.nu = [-0.001, 0.001] is out of the solver's range: "
             "navier_stokes2d: nu must be positive"),
            # the bad key is named, not the good one probed beside it
            (heat, ["--parameters", "{kappa: [0.01, 0.1], kappa_var: [0.5, 1.5]}"],
             "online config: parameters.kappa_var = [0.5, 1.5] is out of the solver's range"),
            (darcy, [], "online config: solver darcy2d is steady")):
        with pytest.raises(argparse.ArgumentError) as err:
            cmd_online(["--config", str(config), "--out", str(out), *args])
        assert message in str(err.value) and "ValueError" not in str(err.value)
        assert not out.exists(), args


def test_summary_gives_rates_wall_time_and_rollout_length_and_resume_command(tmp_path,
                                                                             capsys):
    from pdesurrogate.online import CHECKPOINT, _print_summary, _where_to_resume

    s = {"status": "finished", "global_step": 7, "ended_by": "the stream",
         "committed_simulations": 3, "simulations": 3, "abandoned_sim_ids": [],
         "sims_failed": 0, "sims_dropped": 0, "malformed_messages": 0, "samples_received": 21,
         "mb_received": 0.01, "idle_fraction": 0.1, "train_seconds": 12.34,
         "samples_per_s": 1234.5, "mb_per_s": 5.25, "validation_rollout_steps": 6,
         "validation": {"val/rel_l2": 0.5}}
    _print_summary(s, Path("out"))
    err = " ".join(capsys.readouterr().err.split())
    assert "training wall time │ 12.3 s" in err, err
    assert "1234 samples, 5.25 MB" in err, err
    assert "rollout of 6 steps" in err, err
    (tmp_path / CHECKPOINT).mkdir()
    (tmp_path / CHECKPOINT / "manifest.json").write_text(
        json.dumps({"trainers": 1, "global_step": 5, "committed": 2, "simulations": 9}))
    assert _where_to_resume(tmp_path).endswith(
        f"continue with pdesurrogate online --config {tmp_path / 'config.yaml'} --resume")


@pytest.mark.parametrize("solver", ["{class_path: burgers1d, init_args: {n_points: 32}}",
                                    "burgers1d"])
def test_a_config_file_may_name_the_solver_by_its_registry_name(tmp_path, solver):
    """`solver: burgers1d` or `solver: {class_path: burgers1d}` in the config file, as
    `--solver burgers1d` on the command line (it was 'Expected a dot import path string'); the
    config's path is passed on to the ranks as given, and --resume with the same file finds the
    settings that the run recorded."""
    import re

    from pdesurrogate.online import _check_config_file, _parse, _write_config_file

    text = CONFIG.format(solver="x", simulations=4, ckpt=0)
    text = re.sub(r"solver:\n  class_path: x\n  init_args: .*\n", f"solver: {solver}\n", text)
    cfg = tmp_path / "online.yaml"
    cfg.write_text(text)
    out = tmp_path / "run"
    parser, ns, argv = _parse(["--config", str(cfg), "--out", str(out)])
    assert ns.solver.class_path == "pdesurrogate.solvers.burgers.Burgers1D"
    assert argv == ["--config", str(cfg), "--out", str(out)]
    _write_config_file(parser, ns, out)
    assert "class_path: pdesurrogate.solvers.burgers.Burgers1D" in (
        out / "config.yaml").read_text()
    parser, ns, _ = _parse(["--config", str(cfg), "--out", str(out), "--resume"])
    _check_config_file(parser, ns, out)  # the same settings: no error


def test_only_this_modules_usage_errors_print_as_usage_errors(tmp_path, capsys, monkeypatch):
    """A usage error exits 2 with its message alone (as a parse error does); any other
    ValueError keeps its type name, also one raised by C code that pdesurrogate.online calls
    (here int(), standing in for numpy or torch): it was taken for a usage error because
    pdesurrogate/online.py (now pdesurrogate/online/) was the innermost Python frame of its
    traceback."""
    import functools

    from pdesurrogate.cli import main
    from pdesurrogate.online import command

    cfg = write_config(tmp_path)
    out = tmp_path / "r"
    assert main(["online", "--config", str(cfg), "--out", str(out), "--stall_timeout", "-5"]) == 2
    assert capsys.readouterr().err == (
        "pdesurrogate online: error: online config: stall_timeout must be a number of seconds "
        "> 0 (or null: wait forever), got -5.0\n(pdesurrogate online --help lists the options)\n")
    monkeypatch.setattr(command, "_under_mpi", functools.partial(int, "not a number"))
    assert main(["online", "--config", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pdesurrogate online: error: ValueError: invalid literal for int()" in err, err
    assert "--help lists the options" not in err, err


def test_export_records_what_the_stream_was_and_load_checks_it(tmp_path):
    """An online run's export names its data: solver class and arguments, parameter box,
    scheduler settings and seed, simulations, saved steps, and the held-out sets' generation
    (it had no data_source at all); load accepts that record and refuses a mistyped one."""
    import pdesurrogate
    from pdesurrogate.export import export_surrogate
    from pdesurrogate.online import _parameter_box, _parse, stream_source

    parser, cfg, _ = _parse(["--config", str(write_config(tmp_path))])
    init = parser.instantiate(cfg)
    record = stream_source(cfg, _parameter_box(cfg, init.solver))
    assert record == {
        "kind": "online",
        "solver": {"class_path": "pdesurrogate.solvers.Advection1D",
                   "init_args": {**_solver_defaults(), "n_points": 32,
                                 "beta_range": [0.2, 1.0]}},
        "parameters": {"beta": [0.2, 1.0]}, "sampling": "halton", "seed": 0,
        "simulations": 24, "max_retries": 2, "n_steps": 6, "dt": 0.05,
        "validation": {"trajectories": 4, "seed": 1_000_003},
        "statistics": {"trajectories": 4, "seed": 2_000_003}}
    module = init.model
    module.data_info = {"pde": init.solver.name, "grid_shape": [32], "channel_names": ["u"],
                        "param_names": ["beta"], "k": 1, "dt": 0.05, "source": record}
    out = export_surrogate(module, tmp_path / "model")
    assert pdesurrogate.load(out).config["provenance"]["data_source"] == record
    cfg_path = out / "config.json"
    good = json.loads(cfg_path.read_text())
    for key, value, match in (
            ("simulations", "24", r"data_source\.simulations must be an int >= 1, got '24'"),
            ("validation", {"trajectories": 4}, r"data_source\.validation must be an object"),
            ("kind", "stream", r"data_source\.kind must be 'online'"),
            ("sedd", 0,
             r"data_source \(an online stream's\) has unknown key\(s\) \['sedd'\]")):
        src = {**record, key: value}
        cfg_path.write_text(json.dumps({**good, "provenance": {**good["provenance"],
                                                               "data_source": src}}))
        with pytest.raises(ValueError, match=r"config\.json'?: provenance\." + match):
            pdesurrogate.load(out)


def _solver_defaults() -> dict:
    import inspect

    from pdesurrogate.solvers import Advection1D

    return {k: (list(p.default) if isinstance(p.default, tuple) else p.default)
            for k, p in inspect.signature(Advection1D.__init__).parameters.items()
            if k != "self" and p.default is not inspect.Parameter.empty}


def test_a_refiners_rollout_plot_repeats_and_leaves_the_global_generator_alone(tmp_path):
    """rollout.png of a PDE-Refiner: its noise from the model's evaluation generators (as
    validation draws it), not from torch's global generator: the same picture whatever that
    generator's state, and the state as it was."""
    from types import SimpleNamespace

    import torch

    from pdesurrogate.models import ModernUNet, PDERefiner
    from pdesurrogate.online import _plots
    from pdesurrogate.training import RefinerModule

    torch.manual_seed(0)
    backbone = ModernUNet(1, 2, 1, hidden_channels=8, channel_mults=[1, 2], n_blocks=1,
                          n_params=1, cond=True)
    module = RefinerModule(PDERefiner(backbone, n_refine_steps=2, sigma_min=0.5))
    val_u, val_p = torch.randn(3, 4, 1, 16), torch.rand(3, 1)
    monitor, cfg = SimpleNamespace(history=[]), SimpleNamespace(dt=0.1)
    pngs = []
    for seed in (1, 2):
        out = tmp_path / str(seed)
        out.mkdir()
        torch.manual_seed(seed)
        before = torch.get_rng_state()
        _plots(out, module, monitor, val_u, val_p, cfg)
        assert torch.equal(torch.get_rng_state(), before), "the plot drew from the global RNG"
        pngs.append((out / "rollout.png").read_bytes())
    assert pngs[0] == pngs[1]
