"""``pdesurrogate online``: solver ranks stream samples over MPI straight into Lightning training.

One MPI job, its ``COMM_WORLD`` split by role. World ranks ``0 .. trainers-1`` train (DDP among
themselves: gloo on CPU, NCCL on GPU), the others run the solver; world rank 0 also runs the
scheduler, which draws ``simulations`` parameter sets and hands them to free solver ranks.
Samples go rank to rank into each trainer's buffer and are never written to disk.

Launching. Outside any MPI launcher the command starts the job itself: ``mpiexec -n
trainers+solvers`` (the MPICH wheel's, next to this Python) re-running this command on every
rank. Under ``mpiexec`` or ``srun`` it uses the ranks it was given (``trainers`` from the
config, the rest solve).

Per trainer rank: a held-out validation set and a small set for the normalisation statistics
are generated once by the same solver (never streamed; the same on every trainer rank, and each
validates on its own share of the held-out trajectories); :class:`StreamDataModule` feeds the
same LightningModule that ``pdesurrogate fit`` trains; :class:`StreamMonitor` logs samples/s,
MB/s, buffer fill, seen counts and the idle fraction (CSV + TensorBoard under ``out``).

One run at a time in a folder: the launcher (or, under mpiexec/srun, world rank 0) holds an
exclusive lock on ``out/online.lock`` for the job's life; a second run or ``--resume`` there is
refused, naming the holder's PID. The launcher's mpiexec inherits the lock, and writes the job's
output to ``out/online.stdout.log`` / ``online.stderr.log``, which the launcher echoes: a killed
launcher or a closed terminal leaves a job that can still write, checkpoint and end.

Checkpoints (``out/checkpoint/``): every ``checkpoint_every_n_steps`` training steps, and on
SIGTERM / SIGUSR1 (the launcher turns Ctrl-C, SIGTERM and SIGHUP into SIGUSR1 for the whole
job, since mpiexec forwards USR1 but kills on TERM), and when the job's launcher is gone (world
rank 0 watches its PID): the Lightning checkpoint (model, optimiser, step), each trainer's
stream state (buffer contents and seen counts, committed simulations) and the scheduler's
attempts. On a signal the trainers agree to stop, write the checkpoint, let the
solvers finish the simulation they are in (its samples are dropped), and the ranks exit 0 (the
launcher then returns 128 + the signal's number: the run is not finished). ``--resume``
continues to the same budget of simulations: a simulation counts as done exactly when its
samples were committed to a trainer's buffer before the checkpoint, so none runs into training
twice and none is lost. It loads the Lightning checkpoint weights-only (never code), and where
a kill in the middle of a checkpoint's swap left no ``checkpoint/``, it continues from the
complete one of ``checkpoint.partial/`` (newer) and ``checkpoint.old/``, saying which; a fresh
run refuses a folder holding any of them. A dead solver rank ends the job (mpiexec kills the
others; a trainer waiting on a silent stream gives up after ``stall_timeout``) with a message
pointing at the last periodic checkpoint.

``out/config.yaml`` holds the run's resolved settings; ``--resume`` checks them (keys in
``RESUME_MAY_CHANGE`` may differ). A finished run is never resumed or overwritten. Trainer
settings a stream cannot honour (:data:`TRAINER_REFUSED`: min_steps, overfit_batches, ...) are
refused, naming the key; ``trainer.limit_val_batches: 0`` runs no validation and still exports.

What a job leaves on the machine: a job the launcher starts with the wheel's mpiexec (its
ranks on this machine) gets its own TMPDIR, a new folder in the launcher's, removed when the
job ends, however it ends; and after a job whose rank died, the launcher unlinks the MPICH
shared-memory segments (``/dev/shm/mpich_shm_*``) that its ranks recorded mapping
(``out/ranks/*.shm``). A launcher killed with SIGKILL cannot: the next run in ``out`` does,
before its job starts.

At the end: ``out/model/`` (the exported surrogate), ``out/summary.json``, ``out/online.png``
(metrics) and ``out/rollout.png`` (a validation trajectory; a PDE-Refiner's noise from its own
evaluation generators, as in validation, so the plot repeats). The export's
``provenance.data_source`` (and every checkpoint's ``data_info["source"]``) records what the run
trained on (:func:`stream_source`): solver class and arguments, parameter box, scheduler
settings and seed, simulations, saved steps, and the validation and statistics sets' sizes and
seeds. Trainer ranks call ``seed_everything(seed)`` before they build the model, so the seed
the fit records also made the initial weights.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import math
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import torch

from pdesurrogate.temp_files import clean_leftovers, is_running, open_temp_file

WORKER_ENV = "PDESURROGATE_ONLINE_WORKER"
# the launcher's PID, for the job to notice that the launcher is gone (killed)
LAUNCHER_ENV = "PDESURROGATE_ONLINE_LAUNCHER"
MPI_ENV = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")
CHECKPOINT = "checkpoint"
# a checkpoint is staged in STAGE, then swapped in: CHECKPOINT -> OLD, STAGE -> CHECKPOINT
STAGE, OLD = f"{CHECKPOINT}.partial", f"{CHECKPOINT}.old"
# held (flock) by whoever runs in the folder: the launcher (and its mpiexec, which inherits it)
# or, under the user's own mpiexec/srun, world rank 0
LOCK_FILE = "online.lock"
# the MPI job's stdout and stderr: the launcher shows them as they grow; a job whose launcher
# is gone, or whose terminal was closed, goes on writing them
JOB_LOGS = ("online.stdout.log", "online.stderr.log")
CONFIG_FILE = "config.yaml"
RANKS = "ranks"
# a job the launcher starts on this machine gets its own TMPDIR, a new folder of this prefix in
# the launcher's; its path is kept in out/JOB_TMP_FILE until the launcher removes it, so that a
# launcher that was killed leaves it for the next run in out to remove
JOB_TMP_PREFIX, JOB_TMP_FILE = "pdesurrogate-online-", "online.tmpdir"
# MPICH's shared-memory segments (shm_open names "mpich_shm_<world id>_<node>", the world id a
# hash of the job's PMI name): MPICH unlinks them in MPI_Finalize, so a job whose rank died
# leaves them behind; each rank records those it maps in out/ranks/<role><n>.shm
SHM_DIR = Path("/dev/shm")
MPICH_SHM = re.compile(r"mpich_(shm|vci)_[0-9a-f]+_[0-9]+")
# the seeds of the held-out validation and statistics sets: the run's seed plus these
VALIDATION_SEED_OFFSET = 1_000_003
STATS_SEED_OFFSET = 2_000_003
# trainer arguments the online run decides itself
TRAINER_SKIP = {"strategy", "devices", "num_nodes", "plugins", "callbacks", "logger",
                "max_epochs", "val_check_interval", "check_val_every_n_epoch",
                "use_distributed_sampler", "default_root_dir", "enable_checkpointing",
                "reload_dataloaders_every_n_epochs", "limit_train_batches"}
# trainer arguments that make no sense for a stream: parsed (a config copied from a fit may
# hold them), left out of --help, and refused with the reason unless at Lightning's default
_STREAM_LENGTH = ("the run's length is set by the stream (training ends when every simulation "
                  "was delivered and the buffer drawn down) and by trainer.max_steps or "
                  "trainer.max_time")
TRAINER_REFUSED = {
    "min_steps": f"an online run cannot promise a minimum: {_STREAM_LENGTH}; past the stream's "
                 f"end Lightning would wait for data that never comes (and ignore a stop "
                 f"signal). For more steps raise simulations",
    "min_epochs": f"an online run has one endless epoch: {_STREAM_LENGTH}. For more steps "
                  f"raise simulations",
    "overfit_batches": "Lightning repeats that many batches of a dataset of known length; "
                       "a stream has neither (the run would end after that many steps, on the "
                       "first few simulations). For a smaller run lower simulations",
    "limit_test_batches": "an online run never tests (it validates on held-out trajectories: "
                          "trainer.limit_val_batches)",
    "limit_predict_batches": "an online run never predicts (it validates on held-out "
                             "trajectories: trainer.limit_val_batches)",
}


# -- configuration ----------------------------------------------------------------------------
class UsageError(ValueError):
    """A bad option or config value, found by this module's own checks (which name the key)
    before the MPI job starts: ``pdesurrogate online`` prints the message alone, as it does a
    parse error, and exits 2. Other errors keep their type name in the message."""


# jsonargparse loads this parser's configs (and values) with _load_yaml
PARSER_MODE = "pdesurrogate-online-yaml"


def _load_yaml(text: str) -> Any:
    """jsonargparse's YAML loader, and a config's solver may be a registry name, as on the
    command line (`--solver burgers1d`). Done here, where the file is read, so that the
    config's path stays what the user gave (the ranks re-read it)."""
    from jsonargparse import get_loader

    value = get_loader("yaml")(text)
    if isinstance(value, dict) and "solver" in value:
        from pdesurrogate.solvers import solver_class_path

        value = {**value, "solver": solver_class_path(value["solver"])}
    return value


def build_parser():
    """The jsonargparse parser of ``pdesurrogate online`` (keys = the YAML's keys)."""
    import yaml
    from jsonargparse import ActionConfigFile, ArgumentParser, set_loader
    from lightning.pytorch import LightningModule, Trainer

    from pdesurrogate.solvers import Solver

    set_loader(PARSER_MODE, _load_yaml, (yaml.YAMLError,))
    p = ArgumentParser(
        prog="pdesurrogate online",
        description=(
            "Online training: solver ranks stream samples over MPI into Lightning training "
            "(nothing is written to disk but the logs, checkpoints and the exported model). "
            "Example: pdesurrogate online --config configs/online/burgers_fno.yaml (a checkout "
            "of the repository has configs/; after a pip install, `pdesurrogate configs --copy "
            ".` writes the shipped configs there)"),
        epilog=(
            "Stopping and resuming: Ctrl-C, SIGTERM, SIGHUP or SIGUSR1 (under your own "
            "mpiexec: SIGUSR1) write OUT/checkpoint/ and stop, and so does a job whose "
            "launcher was killed; continue with `pdesurrogate online "
            "--config OUT/config.yaml --resume` (same budget). A checkpoint is also written "
            "every checkpoint_every_n_steps, so a run whose rank died resumes the same way. "
            "Exit status: 0 finished; 128 + the signal's number when stopped by a signal "
            "(130 for Ctrl-C; resumable); 1 the MPI job failed; 2 a bad option or config "
            "value (nothing started)."),
        exit_on_error=False,  # the command prints the error without the usage
        # `--sim 7` is an error, not --simulations: a prefix that later names two options
        # would silently change meaning, and one that names a refused key would slip past
        allow_abbrev=False,
        parser_mode=PARSER_MODE,
    )
    p.add_argument("--config", action=ActionConfigFile, help="YAML file with the keys below.")
    p.add_argument("--out", type=str, default="runs/online",
                   help="Run directory: logs, checkpoint/, model/, summary.json, plots.")
    p.add_argument("--resume", type=bool, default=False,
                   help="Continue the run in --out from its checkpoint (same budget).")
    p.add_argument("--seed", type=int, default=0, help="Seed of parameters and initial states.")
    p.add_argument("--trainers", type=int, default=1, help="Trainer ranks (the first ranks).")
    p.add_argument("--solvers", type=int, default=2,
                   help="Solver ranks when this command starts the MPI job itself (under "
                        "mpiexec/srun: all ranks that are not trainers).")
    p.add_argument("--mpiexec", type=str | None, default=None,
                   help="mpiexec used to start the job (default: the one next to this Python).")
    p.add_subclass_arguments(Solver, "solver", required=True,
                             help="The solver: class_path (or a registry name: burgers1d, "
                                  "ks1d, ...) and init_args.")
    p.add_argument("--parameters", type=dict[str, list[float]] | None, default=None,
                   help="Box {name: [low, high]} the scheduler draws PDE parameters from "
                        "(default: the solver's <name>_range).")
    p.add_argument("--simulations", type=int, default=100, help="Budget: simulations to run.")
    p.add_argument("--sampling", type=Literal["random", "halton", "lhs"], default="halton",
                   help="How parameter sets are drawn.")
    p.add_argument("--max_retries", type=int, default=2,
                   help="Reruns (new seed) of a simulation that raised or diverged.")
    p.add_argument("--n_steps", type=int, default=20, help="Saved steps per simulation.")
    p.add_argument("--dt", type=float, default=0.05, help="Time between saved steps.")
    p.add_argument("--buffer.kind", type=Literal["fifo", "firo", "reservoir"],
                   default="reservoir", help="Training buffer policy (Melissa's).")
    p.add_argument("--buffer.capacity", type=int, default=2000, help="Items per trainer.")
    p.add_argument("--buffer.watermark", type=int, default=200,
                   help="Training waits until the buffer holds this many items.")
    p.add_argument("--buffer.max_mb", type=float | None, default=None,
                   help="Optional bound on the buffer's memory (MB).")
    p.add_argument("--batch_size", type=int, default=32, help="Training items per batch.")
    p.add_argument("--validation.trajectories", type=int, default=32,
                   help="Held-out trajectories (generated once by the same solver).")
    p.add_argument("--validation.every_n_steps", type=int, default=200,
                   help="Validate every this many training steps.")
    p.add_argument("--stats_trajectories", type=int, default=16,
                   help="Trajectories generated for the normalisation statistics.")
    p.add_argument("--checkpoint_every_n_steps", type=int, default=200,
                   help="Periodic checkpoint (0: only on a signal).")
    p.add_argument("--stall_timeout", type=float | None, default=300.0,
                   help="Seconds without data after which a waiting trainer gives up.")
    p.add_argument("--credits", type=int, default=8,
                   help="Messages a solver may have ahead of its trainer. Few keeps solvers from "
                        "racing ahead of training: where solver and trainer ranks share cores, a "
                        "solver streaming flat out takes CPU from training (benchmarks/"
                        "streaming.py, in a checkout of the repository, part b: idle 6.0 % with "
                        "1024, 3.7 % with 8). Raise it when "
                        "solvers have their own cores and fields are small.")
    p.add_argument("--window_mb", type=float, default=40.0,
                   help="MB (2**20 bytes) a solver may have ahead of its trainer (room for two "
                        "split packs of 4 x pack_kb of fields).")
    p.add_argument("--pack_kb", type=int, default=4096,
                   help="Fields of up to half this size (KiB) travel in packs of up to this "
                        "size, one message per pack (consecutive steps of one simulation); "
                        "the built-in solvers' fields from 64 KiB up travel uncopied in split "
                        "packs of up to 4x this size, one message per field after one header; "
                        "0: one message (and header) per field.")
    p.add_argument("--chain_ms", type=float, default=50.0,
                   help="A pack whose simulation ended takes the next simulations' samples "
                        "(same trainer, shape and dtype; up to 64) for this many milliseconds "
                        "after the first ended: short simulations share messages (chain "
                        "packs). 0: each simulation's last pack goes when it ends.")
    p.add_argument("--threads", type=int | None, default=None,
                   help="torch threads per trainer rank (0 or null: torch's default; solver "
                        "ranks use 1).")
    p.add_subclass_arguments(LightningModule, "model", required=True,
                             help="The LightningModule trained (as in `pdesurrogate fit`).")
    p.add_class_arguments(Trainer, "trainer", instantiate=False, skip=TRAINER_SKIP,
                          help="Lightning Trainer arguments (max_steps, accelerator, ...).")
    for action in p._actions:
        if action.dest.removeprefix("trainer.") in TRAINER_REFUSED:
            action.help = argparse.SUPPRESS
    # jsonargparse titles these groups with the base classes' docstrings or reprs
    p.groups["solver"].title = "Solver (solver: class_path and init_args; --solver.help NAME)"
    p.groups["model"].title = "Model (model: a LightningModule's class_path and init_args)"
    return p


def _parse(argv: list[str]):
    # a bare `--resume` reads as `--resume true`
    argv = [a for a in argv]
    for i, a in enumerate(argv):
        if a == "--resume" and (i + 1 == len(argv) or argv[i + 1].startswith("--")):
            argv[i:i + 1] = ["--resume", "true"]
            break
    parser = build_parser()
    return parser, parser.parse_args(argv), argv


def _check(cfg) -> None:
    for key, low in (("trainers", 1), ("solvers", 1), ("simulations", 1), ("n_steps", 1),
                     ("batch_size", 1), ("validation.trajectories", 1),
                     ("validation.every_n_steps", 1), ("stats_trajectories", 1),
                     ("checkpoint_every_n_steps", 0), ("max_retries", 0), ("credits", 1),
                     ("pack_kb", 0)):
        v = cfg[key]
        if not isinstance(v, int) or v < low:
            raise UsageError(f"online config: {key} must be an integer >= {low}, got {v!r}")
    if not cfg.dt > 0:
        raise UsageError(f"online config: dt must be > 0, got {cfg.dt!r}")
    if not cfg.window_mb > 0:
        raise UsageError(f"online config: window_mb must be > 0, got {cfg.window_mb!r}")
    if not (isinstance(cfg.chain_ms, (int, float)) and cfg.chain_ms >= 0):
        raise UsageError(f"online config: chain_ms must be >= 0, got {cfg.chain_ms!r}")
    # the solver ranks derive their packs' max age from it (a quarter): a bad value would
    # first show up inside the MPI job, as that derived value
    if cfg.stall_timeout is not None and not cfg.stall_timeout > 0:
        raise UsageError(f"online config: stall_timeout must be a number of seconds > 0 (or "
                         f"null: wait forever), got {cfg.stall_timeout!r}")
    if cfg.threads is not None and not (isinstance(cfg.threads, int) and cfg.threads >= 0):
        raise UsageError(f"online config: threads must be an integer >= 0 (0 or null: torch's "
                         f"default), got {cfg.threads!r}")
    # each trainer rank validates on its own share of the held-out trajectories
    if cfg.validation.trajectories < cfg.trainers:
        raise UsageError(f"online config: validation.trajectories ({cfg.validation.trajectories})"
                         f" must be at least trainers ({cfg.trainers}): each trainer rank "
                         f"validates on its own share")
    _check_trainer(cfg.trainer)


def _check_trainer(trainer) -> None:
    """Refuse a :data:`TRAINER_REFUSED` key set to anything but Lightning's default, naming it
    and saying why (``trainer``: the config's ``trainer`` group)."""
    import inspect

    from lightning.pytorch import Trainer

    defaults = inspect.signature(Trainer.__init__).parameters
    for key, why in TRAINER_REFUSED.items():
        value = trainer.get(key, defaults[key].default)
        if value != defaults[key].default:
            raise UsageError(f"online config: trainer.{key} ({value!r}): {why}; remove it")


def _under_mpi() -> bool:
    return os.environ.get(WORKER_ENV) == "1" or any(k in os.environ for k in MPI_ENV)


# -- the command ----------------------------------------------------------------------------
def cmd_online(argv) -> int:
    parser, cfg, argv = _parse(list(argv))
    try:
        _check(cfg)
        if _under_mpi():
            return run_rank(parser, cfg)
        return launch(parser, cfg, argv)
    except UsageError as e:
        # printed without the type name, as a parse error is (any other error, e.g. a
        # constructor's ValueError, keeps it: cli prints its root cause)
        raise argparse.ArgumentError(None, str(e)) from None


def launch(parser, cfg, argv: list[str]) -> int:
    """Start the MPI job (mpiexec) that runs this command on every rank; forward signals.

    Holds the run folder's lock for the job's life (mpiexec inherits it: a job whose launcher
    was killed keeps it until it ends). Ctrl-C, SIGTERM, SIGUSR1 and SIGHUP (a closed
    terminal) ask the job to checkpoint and stop; the job's output goes to its log files in
    ``out`` (:data:`JOB_LOGS`), which this process echoes, so a closed terminal does not end
    the job; a job whose launcher is gone stops with a checkpoint by itself.

    Returns 0 when the run finished, 128 + the signal's number when a signal stopped it (its
    checkpoint is resumable), 1 when the job failed."""
    from rich.console import Console

    console = Console(stderr=True)
    out = Path(cfg.out)
    with contextlib.ExitStack() as held:
        lock = None
        if out.is_dir():
            # a run in progress in this folder is the first thing to say (its checkpoint may
            # be mid-swap, which the checks below would misread)
            lock = _lock_run(out)
            held.callback(os.close, lock)
        _check_out(out, cfg.resume)
        _check_config_file(parser, cfg, out)
        n = cfg.trainers + cfg.solvers
        here = Path(sys.executable).parent / "mpiexec"
        if cfg.mpiexec:
            # before anything is written: a launcher that cannot start leaves no run behind
            mpiexec = shutil.which(cfg.mpiexec)
            if mpiexec is None:
                raise UsageError(f"--mpiexec {cfg.mpiexec!r}: no such executable")
        else:
            mpiexec = str(here) if here.exists() else shutil.which("mpiexec")
        if not mpiexec:
            raise RuntimeError("no mpiexec found next to this Python or on PATH; install the "
                               "mpich wheel (pip install mpich) or pass --mpiexec")
        for warning in _preflight(parser, cfg):
            _say(console, f"[yellow]online[/yellow]: warning: {warning}")
        if lock is None:
            # a new folder: made now (the checks above leave nothing behind), and checked
            # again under the lock, since another run may have started in it meanwhile
            out.mkdir(parents=True, exist_ok=True)
            lock = _lock_run(out)
            held.callback(os.close, lock)
            _check_out(out, cfg.resume)
            _check_config_file(parser, cfg, out)
        return _run_job(parser, cfg, argv, out, console, lock, mpiexec, here, n)


def _run_job(parser, cfg, argv, out: Path, console, lock: int, mpiexec: str, here: Path,
             n: int) -> int:
    if cfg.resume:
        note = _recover_checkpoint(out)
        if note:
            _say(console, f"[yellow]online[/yellow]: {note}")
    cmd = [mpiexec, "-n", str(n)]
    # the wheel's Hydra, on this machine only (another mpiexec may place ranks elsewhere)
    local = Path(mpiexec).resolve() == here.resolve()
    if local:
        cmd += ["-launcher", "fork"]
    cmd += rank_command(["online", *argv])
    me = os.getpid()
    env = {**os.environ, WORKER_ENV: "1",
           LAUNCHER_ENV: f"{socket.gethostname()} {me} {_start_time(me) or '-'}"}
    _write_config_file(parser, cfg, out)
    # what an earlier job in out left when its launcher was killed (that job has ended: it held
    # the lock we hold)
    _clean_up_after_job(out)
    # each rank writes its pid file once its stop handler is in place (stale ones would make a
    # stop look deliverable before it is)
    shutil.rmtree(out / RANKS, ignore_errors=True)
    console.print(f"[bold]online[/bold]: {cfg.trainers} trainer + {cfg.solvers} solver ranks, "
                  f"{cfg.simulations} simulations -> {out}/  (Ctrl-C or SIGTERM: checkpoint "
                  f"and stop)")
    stop: dict[str, Any] = {"signum": None, "count": 0, "sent": False, "proc": None}

    def forward_stop() -> None:
        # mpiexec forwards SIGUSR1 to every rank, and a rank still starting up (before its
        # handler exists) would die of it: hold the request until every rank is ready
        proc = stop["proc"]
        if (proc is not None and stop["signum"] is not None and not stop["sent"]
                and _ranks_ready(out, n)):
            proc.send_signal(signal.SIGUSR1)
            stop["sent"] = True

    def on_signal(signum, frame):
        stop["count"] += 1
        if signum == signal.SIGHUP:
            _leave_dead_terminal()
        if stop["count"] == 1:
            stop["signum"] = signum
            forward_stop()
            _say(console, f"[yellow]online[/yellow]: got {signal.Signals(signum).name}; asking "
                          "the job to checkpoint and stop (again to kill it)")
        elif stop["proc"] is not None:
            os.killpg(stop["proc"].pid, signal.SIGKILL)

    # in place before the job starts: a Ctrl-C between the two would end this process and
    # leave the job running in its own session
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM,
                                                   signal.SIGUSR1, signal.SIGHUP)}
    echo = _Echo(out)
    proc = None
    try:
        if local:
            # what the ranks (and the libraries they load: wandb, Open MPI, ...) write in TMPDIR
            # and would leave there when the job fails: removed with the folder
            env["TMPDIR"] = str(_make_job_tmp(out))
        # own session: a terminal's Ctrl-C reaches only us, and we turn it into a clean stop;
        # no terminal either (stdin, stdout, stderr): mpiexec ends the job when a write to a
        # closed terminal fails; the lock goes with it, held as long as the job runs
        stop["proc"] = proc = subprocess.Popen(
            cmd, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
            stdout=echo.job_files[0], stderr=echo.job_files[1], pass_fds=(lock,))
        echo.start()
        while True:
            try:
                rc = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                forward_stop()
    finally:
        echo.close()
        for s, h in old.items():
            signal.signal(s, h)
        if proc is None or proc.poll() is not None:  # no job runs on: its leftovers go
            _clean_up_after_job(out)
    shutil.rmtree(out / RANKS, ignore_errors=True)
    if stop["count"] > 1:
        _say(console, "[red]online[/red]: killed on request (a second signal); "
                      + _where_to_resume(out))
        return 128 + signal.SIGKILL
    if rc != 0:
        _say(console, f"[red]online[/red]: the MPI job failed with exit code {rc} (a rank died "
                      f"or raised; see its output above, also in {out / JOB_LOGS[1]}); "
                      f"{_where_to_resume(out)}")
        return 1
    if (_read_summary(out) or {}).get("status") == "stopped":
        # not finished: a script or `make` running this must not go on as if it were
        return 128 + int(stop["signum"] or signal.SIGUSR1)
    return 0


def _make_job_tmp(out: Path) -> Path:
    """A new folder for the job's TMPDIR in this process's temporary folder (a node's local
    disk under Slurm, as the user set it), its path written to ``out``'s :data:`JOB_TMP_FILE`
    first, for :func:`_clean_up_after_job`."""
    parent = Path(tempfile.gettempdir())
    name = f"{JOB_TMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
    _atomic_write(out / JOB_TMP_FILE, lambda f: f.write(f"{parent / name}\n".encode()))
    (parent / name).mkdir(mode=0o700)
    return parent / name


def _clean_up_after_job(out: Path) -> None:
    """After the job in ``out`` ended (however it ended), or before the next one starts there
    (its launcher was killed): unlink the MPICH shared-memory segments its ranks on this host
    recorded (``ranks/*.shm``; a normal end already did), and remove its TMPDIR folder (the
    one ``out``'s :data:`JOB_TMP_FILE` names, if it is one of ours). Only names of MPICH's
    form in :data:`SHM_DIR`, and only a folder of :data:`JOB_TMP_PREFIX` owned by this user
    that is no symlink: the files in ``out`` are not trusted to name anything else."""
    host = socket.gethostname()
    for record in sorted((out / RANKS).glob("*.shm")):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for line in record.read_text().splitlines():
                where, _, name = line.partition(" ")
                if where == host and MPICH_SHM.fullmatch(name):
                    with contextlib.suppress(OSError):
                        (SHM_DIR / name).unlink()
    with contextlib.suppress(OSError, UnicodeDecodeError):
        tmp = Path((out / JOB_TMP_FILE).read_text().strip())
        st = tmp.lstat()
        if (tmp.is_absolute() and tmp.name.startswith(JOB_TMP_PREFIX)
                and stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()):
            shutil.rmtree(tmp, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (out / JOB_TMP_FILE).unlink()


def _record_shm(path: Path) -> None:
    """Write to ``path`` the MPICH shared-memory segments this process maps (Linux:
    ``/proc/self/maps``), as ``HOST NAME`` lines, for :func:`_clean_up_after_job`; nothing
    where there are none (another MPI, no /proc)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return
    names = set()
    for line in maps.splitlines():
        where = line.split(maxsplit=5)[5:]  # address perms offset dev inode [path]
        seg = Path(where[0]) if where else None
        if seg is not None and seg.parent == SHM_DIR and MPICH_SHM.fullmatch(seg.name):
            names.add(seg.name)
    if names:
        host = socket.gethostname()
        text = "".join(f"{host} {n}\n" for n in sorted(names))
        _atomic_write(path, lambda f: f.write(text.encode()))


def _say(console, text: str) -> None:
    """Print, paths whole (not folded at the width of a log), but a closed terminal (or a
    reader that went away) is no reason to fail: the job must still be waited for and the
    lock held until it ends."""
    with contextlib.suppress(OSError):
        console.print(text, soft_wrap=True)


def _gone(fd: int) -> bool:
    """True when writing to ``fd`` can only fail: a terminal that hung up, a pipe whose reader
    closed (poll reports POLLHUP or POLLERR there; a file never)."""
    p = select.poll()
    p.register(fd, select.POLLOUT)
    return any(ev & (select.POLLHUP | select.POLLERR) for _, ev in p.poll(0))


def _leave_dead_terminal() -> None:
    """Point this process's stdout/stderr at /dev/null if its terminal is gone: every later
    write (and Python's flush at exit, which would turn the exit status into 120) fails
    otherwise."""
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            if _gone(fd):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)


class _Echo:
    """The job's stdout and stderr, written by mpiexec to ``out``'s :data:`JOB_LOGS`
    (appended: a resumed run's legs follow each other), copied as they grow to this process's
    stdout and stderr. The files, not a pipe or the terminal, so that nothing the launcher
    does or suffers (killed, its terminal closed) makes a write of the job fail."""

    def __init__(self, out: Path):
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        self.job_files, self._sources = [], []
        for name in JOB_LOGS:
            path = out / name
            try:
                fd = os.open(path, flags, 0o666)
                self.job_files.append(fd)
                src = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError as e:
                self.close()
                raise UsageError(f"{str(path)!r}: cannot open the job's log: "
                                 f"{e.strerror or e}") from None
            os.lseek(src, 0, os.SEEK_END)
            self._sources.append(src)
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="online-echo", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        for src, dst in zip(self._sources, (1, 2), strict=True):
            while chunk := os.read(src, 1 << 16):
                with contextlib.suppress(OSError):  # the terminal is gone: the file has it
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(dst, view):]

    def _run(self) -> None:
        while not self._done.wait(0.1):
            self._copy()

    def close(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self._copy()  # what the job wrote last
        for fd in (*self.job_files, *self._sources):
            os.close(fd)
        self.job_files, self._sources = [], []


# What a process that runs pdesurrogate does before it imports pdesurrogate.cli: the entry
# that `python -c` puts first ('', the current folder) goes, for good; an entry the user put on
# PYTHONPATH stays, the current folder too (PYTHONPATH=.). Started in a clone's root
# it would make the process import the clone's pdesurrogate/, not the package the interpreter
# has installed (the one its parent runs); changed in sys.path itself, not undone after the
# import, because spawn/forkserver children (DataLoader workers, ddp_spawn) start from the
# parent's sys.path. Nothing is added: an editable install's repository root on sys.path would
# make its solvers/, datasets/ and streaming/ importable as top-level names, and a site-packages
# folder ahead of the standard library would shadow it. A module of the user's (a solver named
# by class_path) imports from PYTHONPATH, as in the `pdesurrogate` command itself, whose
# sys.path holds no current folder either. The slurm/*.sbatch scripts run the same text
# (tests/slurm/test_sbatch_python.py checks it), so it is one line, with no single quote.
PATH_FIX = ('import os, sys; c = os.getcwd(); '
            'sys.path[:1] = [q for q in sys.path[:1] if q not in ("", c)]; ')
RUN_CLI = "from pdesurrogate.cli import main; sys.exit(main())"
BOOTSTRAP = PATH_FIX + RUN_CLI


def rank_command(args: list[str]) -> list[str]:
    """The command line that runs ``pdesurrogate ARGS`` in a rank, with the import path this
    process has as far as the current folder goes: the ranks, and their spawned children,
    import the pdesurrogate this process runs and the user's modules it can import.

    Started as the ``pdesurrogate`` command, this process has no current folder on its path,
    and the ranks run :data:`BOOTSTRAP`, which drops it (``python -m pdesurrogate.cli`` would put
    it first, and from a clone's root the ranks would run the clone's ``pdesurrogate/``, not the
    installed package). Started with ``python -m`` (its current folder first on its path, as in
    a checkout run without an install), the ranks keep it first too."""
    cwd = os.path.realpath(os.getcwd())
    keep = any(os.path.realpath(q or ".") == cwd for q in sys.path)
    return [sys.executable, "-c", ("import sys; " + RUN_CLI) if keep else BOOTSTRAP, *args]


def _where_to_resume(out: Path) -> str:
    try:
        ck = _resume_point(out)
        manifest = _read_manifest(ck)
    except UsageError as e:
        if not any((out / d).exists() for d in (CHECKPOINT, STAGE, OLD)):
            return "no checkpoint was written"
        return f"no checkpoint to resume ({e})"
    where = "" if ck.name == CHECKPOINT else f" (to be renamed {CHECKPOINT}/ by --resume)"
    return (f"last checkpoint: {ck}{where} (step {manifest['global_step']}, "
            f"{manifest['committed']} of {manifest['simulations']} simulations committed); "
            f"continue with pdesurrogate online --config {out / CONFIG_FILE} --resume")


def _ranks_ready(out: Path, n: int) -> bool:
    return len(list((out / RANKS).glob("*.pid"))) >= n


def _read_summary(out: Path) -> dict | None:
    try:
        return json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def _check_out(out: Path, resume: bool) -> None:
    """Refuse a run directory that would lose or mix up an earlier run's results."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file, not a directory")
    if (_read_summary(out) or {}).get("status") == "finished":
        raise UsageError(f"{str(out)!r} holds a finished run (summary.json, model/): nothing to "
                         f"resume; choose another --out, or remove it to run again")
    if resume:
        _resume_point(out)
        return
    # a checkpoint swap killed half-way leaves only the staged or the previous checkpoint: a
    # fresh run would delete them at its first checkpoint
    left = [str(out / d) for d in (CHECKPOINT, STAGE, OLD) if (out / d).exists()]
    if left:
        raise UsageError(f"{' and '.join(repr(p) for p in left)} exist{'s' * (len(left) == 1)}: "
                         f"pass --resume to continue that run, or choose another --out")
    if (out / "model").exists():
        raise UsageError(f"{str(out / 'model')!r} exists (an earlier run's model): choose "
                         f"another --out, or remove it to run again")


def _read_manifest(ck: Path) -> dict:
    """``ck/manifest.json``, checked: a UsageError naming the file if it is missing, not JSON,
    or lacks what a resume reads."""
    path = ck / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"--resume: no checkpoint in {str(ck)!r} (no manifest.json)") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{str(path)!r}: cannot read the checkpoint's manifest "
                         f"({type(e).__name__}: {e}); the checkpoint cannot be resumed") from None
    keys = ("trainers", "global_step", "simulations", "committed")
    bad = [k for k in keys if not isinstance(manifest, dict) or isinstance(manifest.get(k), bool)
           or not isinstance(manifest.get(k), int) or manifest[k] < (1 if k == "trainers" else 0)]
    if bad:
        raise UsageError(f"{str(path)!r}: not a checkpoint manifest (expected an object with "
                         f"the integers trainers >= 1 and global_step, simulations, committed "
                         f">= 0; wrong or missing: {', '.join(bad)}); the checkpoint cannot be "
                         f"resumed")
    return manifest


def _complete(ck: Path) -> bool:
    """``ck`` holds a whole checkpoint: a manifest that reads, and every file it implies (the
    manifest is written last, after every rank's file)."""
    try:
        manifest = _read_manifest(ck)
    except UsageError:
        return False
    files = ["model.ckpt", *(f"stream-trainer{r}.pt" for r in range(manifest["trainers"]))]
    return all((ck / f).is_file() for f in files)


def _resume_point(out: Path) -> Path:
    """The checkpoint folder a --resume continues from: ``checkpoint/``, or, where a kill in
    the middle of its swap left none, the staged ``checkpoint.partial/`` (newer) or the
    previous ``checkpoint.old/``, whichever is complete first. A UsageError naming the folder
    or file when there is none to resume."""
    final, stage, old = out / CHECKPOINT, out / STAGE, out / OLD
    if final.exists():
        _read_manifest(final)
        return final
    for ck in (stage, old):
        if _complete(ck):
            return ck
    found = [f"{d}/" for d in (STAGE, OLD) if (out / d).exists()]
    extra = f"; {' and '.join(found)} incomplete" if found else ""
    raise UsageError(f"--resume: no checkpoint in {str(final)!r} (no manifest.json){extra}")


def _recover_checkpoint(out: Path) -> str | None:
    """Before a resume, by the holder of the run's lock: finish a checkpoint swap that a kill
    interrupted (the folder :func:`_resume_point` picks becomes ``checkpoint/``; the other is
    removed) and check the Lightning checkpoint with a weights-only load. Returns what it did,
    to be said, or None."""
    ck = _resume_point(out)
    note = None
    if ck.name != CHECKPOINT:
        other = out / (OLD if ck.name == STAGE else STAGE)
        what = ("the newer, staged checkpoint" if ck.name == STAGE else
                "the previous checkpoint (the staged one is incomplete)")
        note = (f"resuming from {ck}/, {what}: a run was stopped in the middle of a checkpoint "
                f"swap; renamed to {out / CHECKPOINT}/")
        os.replace(ck, out / CHECKPOINT)
        shutil.rmtree(other, ignore_errors=True)
    _check_lightning_checkpoint(out / CHECKPOINT / "model.ckpt")
    return note


def _check_lightning_checkpoint(path: Path) -> None:
    """A weights-only read of the Lightning checkpoint a resume loads: a file holding other
    objects (a pickle that runs code) is refused here, whatever torch's default for
    ``torch.load`` and the TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD variable."""
    from pdesurrogate.export_files import read_checkpoint

    try:
        read_checkpoint(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"--resume: {e}") from None


def _fit_loads_weights_only(fit) -> dict[str, bool]:
    """The keyword of ``fit`` (``Trainer.fit``) for a weights-only load of its ``ckpt_path``
    (Lightning >= 2.5 has it); older Lightning loads with torch's default, and
    :func:`_restore` reads the file weights-only first."""
    import inspect

    return {"weights_only": True} if "weights_only" in inspect.signature(fit).parameters \
        else {}


def _lock_run(out: Path) -> int:
    """An exclusive ``flock`` on ``out/online.lock`` (its file descriptor, to be kept open
    while the run lasts; a child given it holds it too), with this process's PID in the file.
    A UsageError naming the folder and the holder's PID when another run holds it."""
    path = out / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as e:
        raise UsageError(f"{str(path)!r}: cannot open the run's lock file: "
                         f"{e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            # a filesystem without flock (Lustre mounted without -o flock, some NFS): no guard
            # rather than no run
            warnings.warn(f"{str(path)!r}: this filesystem cannot lock files "
                          f"({e.strerror or e}); nothing stops a second online run in "
                          f"{str(out)!r} while this one lasts", stacklevel=2)
        else:
            holder = os.pread(fd, 256, 0).decode(errors="replace").split()
            os.close(fd)
            host, pid = (holder + [None, None])[:2] if len(holder) != 1 else (None, holder[0])
            pid = int(pid) if pid and pid.isdigit() else None
            who = f"PID {pid}" if pid else "PID unknown"
            if host and host != socket.gethostname():
                who += f" on {host}"
            elif pid and not _alive(pid):
                who += (", a launcher that is gone: its MPI job is still running and stops "
                        "with a checkpoint; wait for it to end")
            raise UsageError(f"{str(out)!r} is in use by another pdesurrogate online run ({who}; "
                             f"lock file {str(path)!r}): one run at a time in a folder; wait "
                             f"for it, stop it (kill -TERM), or choose another --out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{socket.gethostname()} {os.getpid()}\n".encode(), 0)
    return fd


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first, start time at
    19); None where there is none (no /proc, or no such process)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    """The process's start time (Linux: /proc/PID/stat), to tell it from a later process that
    got the same PID; None where there is no /proc."""
    fields = _proc_stat(pid)
    return None if fields is None else fields[19]


def _alive(pid: int, started: str | None = None) -> bool:
    """Is process ``pid`` running (:func:`~pdesurrogate.temp_files.is_running`), and neither a
    zombie nor, with ``started``, a later process that got the same PID?"""
    if not is_running(pid):
        return False
    fields = _proc_stat(pid)
    if fields is None:
        return not Path("/proc/self").exists()  # no /proc: os.kill had to do
    return fields[0] not in ("Z", "X") and (started is None or fields[19] == started)


def _watch_launcher(flag: _StopFlag, launcher: str, poll: float = 0.5) -> None:
    """In world rank 0 of a job the launcher started: when the launcher is gone (killed: it
    can no longer stop the job, and its user was told the run ended), stop as on SIGTERM, with
    a checkpoint, instead of training on unseen. ``launcher``: ``"HOST PID START"`` (start
    time, or ``-`` without /proc) from :data:`LAUNCHER_ENV`; a rank on another host (a
    ``--mpiexec`` that places ranks elsewhere) cannot see the launcher and does not watch."""
    host, _, rest = launcher.partition(" ")
    pid, _, started = rest.partition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return
    watched, since = int(pid), None if started in ("", "-") else started

    def watch() -> None:
        while _alive(watched, since):
            time.sleep(poll)
        print(f"[online] the launcher (PID {watched}) is gone: checkpointing and stopping",
              file=sys.stderr, flush=True)
        flag(signal.SIGHUP, None)

    threading.Thread(target=watch, name="online-launcher-watch", daemon=True).start()


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` whole or not at all: ``write(f)`` into a temporary of the project's one
    scheme (:mod:`pdesurrogate.temp_files`: created exclusively, so a link planted at its name
    is never followed, with the mode the umask gives), then renamed over ``path``; the
    temporaries a killed writer of ``path`` left are removed first."""
    clean_leftovers(path)
    tmp, f = open_temp_file(path)
    try:
        with f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# keys a resumed run may change: where and how it runs, not what it trains on or trains
RESUME_MAY_CHANGE = {"out", "resume", "mpiexec", "solvers", "threads", "stall_timeout",
                     "credits", "window_mb", "pack_kb", "chain_ms", "checkpoint_every_n_steps",
                     "validation.every_n_steps"}  # and every trainer.* key


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix[:-1]: d}
    return {k: v for key, val in d.items() for k, v in _flat(val, f"{prefix}{key}.").items()}


def _config_dict(parser, cfg) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(parser.dump(cfg, skip_none=False))


def _check_config_file(parser, cfg, out: Path) -> None:
    """On --resume: the settings must be those the run started with (``out/config.yaml``)."""
    saved = out / CONFIG_FILE
    if not cfg.resume or not saved.exists():
        return
    import yaml

    try:
        before = _flat(yaml.safe_load(saved.read_text()))
    except (OSError, yaml.YAMLError) as e:
        raise UsageError(f"{str(saved)!r}: cannot read the run's config: {e}") from None
    now = _flat(_config_dict(parser, cfg))
    changed = [f"{k} ({before.get(k)!r} -> {now.get(k)!r})" for k in sorted(set(before) | set(now))
               if before.get(k) != now.get(k) and k not in RESUME_MAY_CHANGE
               and not k.startswith("trainer.")]
    if changed:
        raise UsageError(f"--resume: settings differ from the run's {str(saved)!r}: "
                         f"{'; '.join(changed)}. Resume with the same settings, e.g. "
                         f"pdesurrogate online --config {saved} --resume")


def _write_config_file(parser, cfg, out: Path) -> None:
    """The resolved settings of a fresh run, for --resume to check and to reuse."""
    if cfg.resume and (out / CONFIG_FILE).exists():
        return
    import yaml

    d = _config_dict(parser, cfg)
    d.pop("resume", None)
    out.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(d, sort_keys=False)
    _atomic_write(out / CONFIG_FILE, lambda f: f.write(text.encode()))


def _preflight(parser, cfg) -> list[str]:
    """Build, once, what every rank builds from the config (solver, model, parameter box,
    buffer): a bad value then fails here in one line, before an MPI job starts. Returns
    warnings to be shown (settings that work, but not as the user may expect)."""
    from pdesurrogate.streaming import Scheduler, make_buffer

    init = parser.instantiate_classes(cfg)
    if getattr(init.solver, "steady", False):
        raise UsageError(f"online config: solver {init.solver.name} is steady (one solution per "
                         "parameter set, no time steps to stream): online next-step training "
                         "needs a time-dependent solver; for a steady problem write a dataset "
                         "with pdesurrogate generate")
    box = _parameter_box(cfg, init.solver)
    try:
        Scheduler(box, cfg.simulations, cfg.sampling, cfg.seed, cfg.max_retries)
    except ValueError as e:
        raise UsageError(f"online config: parameters: {e}") from None
    _check_model_takes_solver(init.model, init.solver)
    max_bytes = None if cfg.buffer.max_mb is None else int(cfg.buffer.max_mb * 1e6)
    try:
        make_buffer(cfg.buffer.kind, capacity=cfg.buffer.capacity,
                    watermark=cfg.buffer.watermark, max_bytes=max_bytes, seed=cfg.seed)
    except ValueError as e:
        raise UsageError(f"online config: buffer: {e}") from None
    return [w for w in (check_buffer_size(cfg, init.solver),) if w]


# bytes per value of the states the solver ranks send (solver_simulation's float32)
STATE_ITEMSIZE = 4


def check_buffer_size(cfg, solver) -> str | None:
    """``buffer.capacity`` and ``buffer.max_mb`` against the training items they must hold: a
    UsageError when the capacity is below ``batch_size`` in a buffer whose draws remove items
    (fifo, firo), when not even
    one fits (the buffer would refuse the first simulation inside the MPI job), or when fewer
    than ``batch_size`` fit in a buffer whose draws remove items (fifo, firo: full below a
    batch, it can never serve one, and its ``wait_ready`` fails in the middle of the run); a
    warning (the text) when fewer than ``buffer.watermark`` fit (training then starts below
    the watermark: the buffer lowers it while a producer waits for room); None otherwise. An
    item is a :class:`~pdesurrogate.streaming.Pair` of consecutive states ``(C, *grid)``, each
    counted whole: ``2 * C * prod(grid) * 4`` bytes."""
    if cfg.buffer.capacity < cfg.batch_size and _draws_remove(cfg.buffer.kind):
        raise UsageError(
            f"online config: buffer.capacity ({cfg.buffer.capacity}) is below batch_size "
            f"({cfg.batch_size}): a {cfg.buffer.kind} buffer draws each item once, so full "
            f"below a batch it can never serve one; raise buffer.capacity or lower batch_size")
    if cfg.buffer.max_mb is None:
        return None
    max_bytes = int(cfg.buffer.max_mb * 1e6)  # as the trainer ranks build the buffer
    state = (solver.channels, *solver.shape)
    item = 2 * math.prod(state) * STATE_ITEMSIZE
    what = (f"training items of {item:,} bytes (pairs of float32 states of shape "
            f"{state})")
    fits = max_bytes // item
    if fits < 1:
        raise UsageError(f"online config: buffer.max_mb ({cfg.buffer.max_mb:g} MB) holds no "
                         f"{what}; raise it to at least {_mb_holding(item):g}")
    if fits < cfg.batch_size and _draws_remove(cfg.buffer.kind):
        raise UsageError(
            f"online config: buffer.max_mb ({cfg.buffer.max_mb:g} MB) holds {fits} {what}, "
            f"fewer than batch_size ({cfg.batch_size}): a {cfg.buffer.kind} buffer draws each "
            f"item once, so full below a batch it can never serve one; raise buffer.max_mb to "
            f"at least {_mb_holding(cfg.batch_size * item):g} or lower batch_size")
    if fits >= cfg.buffer.watermark:
        return None
    return (f"buffer.max_mb ({cfg.buffer.max_mb:g} MB) holds {fits} {what}, fewer than "
            f"buffer.watermark ({cfg.buffer.watermark}): training will start with {fits} "
            f"item(s), not {cfg.buffer.watermark} (the buffer lowers its watermark while the "
            f"solvers wait for room); raise buffer.max_mb to "
            f"{_mb_holding(cfg.buffer.watermark * item):g} or lower buffer.watermark")


def _draws_remove(kind: str) -> bool:
    """Whether a buffer of ``kind`` removes the items it serves (fifo, firo), so that it must
    hold a whole batch at once; a reservoir serves a batch from fewer, with repetition."""
    from pdesurrogate.streaming import make_buffer

    try:
        return make_buffer(kind, capacity=1).removes_on_get
    except ValueError as e:
        raise UsageError(f"online config: buffer: {e}") from None


def _mb_holding(nbytes: int) -> float:
    """The least ``buffer.max_mb`` of at most 3 significant digits that the trainer ranks turn
    into at least ``nbytes`` bytes (``int(max_mb * 1e6)``: a value printed rounded down, or
    one a float makes a byte short, would still be refused)."""
    mb = float(f"{nbytes / 1e6:.3g}")
    while int(mb * 1e6) < nbytes:  # one unit up in the third digit (its place may move up)
        mb = float(f"{mb + 10.0 ** (math.floor(math.log10(mb)) - 2):.3g}")
    return mb


def _check_model_takes_solver(module, solver) -> None:
    """One forward pass of ``module`` on a zero state of the solver's shape ``(1, C, *grid)``
    with its parameters: a model built for other channels, grid dimension, parameters or
    window sizes fails here, in one line, instead of in the trainer rank after the job has
    started."""
    import inspect

    import torch

    grid = tuple(len(g) for g in solver.grid)
    names = list(solver.param_names)
    u = torch.zeros(1, solver.channels, *grid)
    params = torch.zeros(1, len(names)) if names else None
    extra = {"lead_time": 1.0} if "lead_time" in inspect.signature(module.forward).parameters \
        else {}
    try:
        with torch.no_grad():
            out = module(u, params, **extra)
        if tuple(out.shape) != tuple(u.shape):
            raise ValueError(f"it returns shape {tuple(out.shape)} for {tuple(u.shape)}")
    except (RuntimeError, ValueError, TypeError) as e:
        raise UsageError(
            f"online config: the model ({type(getattr(module, 'model', module)).__name__}) "
            f"cannot take the solver's states: {solver.channels} channel(s) on a {len(grid)}-D "
            f"grid {grid} with {len(names)} parameter(s) {names}: {e}") from None


# -- every rank -------------------------------------------------------------------------------
class _StopFlag:
    """Signal handler target: before the receiver exists it remembers the request."""

    def __init__(self):
        self.receiver = None
        self.requested = False

    def __call__(self, signum, frame) -> None:
        self.requested = True
        if self.receiver is not None:
            self.receiver.request_stop()


def run_rank(parser, cfg) -> int:
    """The body of one MPI rank."""
    from pdesurrogate.streaming import Scheduler, split_roles

    flag = _StopFlag()
    for s in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(s, flag)
    roles = split_roles(n_trainers=cfg.trainers)
    out = Path(cfg.out)
    # under srun or the user's own mpiexec no launcher has locked or checked the run folder,
    # finished an interrupted checkpoint swap or written the settings: world rank 0 does, while
    # the others wait (a failure aborts the job with its message)
    external = os.environ.get(WORKER_ENV) != "1"
    try:
        if external:
            if roles.world.rank == 0:
                out.mkdir(parents=True, exist_ok=True)
                # held until this process ends (the job's life: rank 0 ends last)
                _lock_run(out)
                _check_out(out, cfg.resume)
                _check_config_file(parser, cfg, out)
                if cfg.resume:
                    note = _recover_checkpoint(out)
                    if note:
                        print(f"[online] {note}", file=sys.stderr, flush=True)
                _write_config_file(parser, cfg, out)
            roles.world.Barrier()
        elif roles.world.rank == 0:
            _watch_launcher(flag, os.environ.get(LAUNCHER_ENV, ""))
        # the launcher forwards a stop once every rank has its pid file: write it right after
        # the handler is in place
        pid_file = out / RANKS / f"{roles.role}{roles.rank_in_role}.pid"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        # MPI is up (split_roles): its shared memory is mapped, and is recorded before the
        # launcher counts this rank as started
        _record_shm(pid_file.with_suffix(".shm"))
        _atomic_write(pid_file, lambda f: f.write(f"{os.getpid()}\n".encode()))
        if roles.is_trainer:
            import lightning.pytorch as pl

            # before the model is built, as LightningCLI seeds: the initial weights follow
            # the seed the fit records (NextStepModule takes it as the fit starts)
            pl.seed_everything(cfg.seed, verbose=False)
            init = parser.instantiate_classes(cfg)
            solver = init.solver
        else:
            init, solver = None, build_solver(cfg)
        if roles.is_trainer and external:
            # under srun/mpiexec the launcher's preflight did not run: one line, not a failure
            # deep in the first training step
            _check_model_takes_solver(init.model, solver)
            warning = check_buffer_size(cfg, solver)
            if warning and roles.rank_in_role == 0:
                print(f"[online] warning: {warning}", file=sys.stderr, flush=True)
        names = tuple(solver.param_names)
        box = _parameter_box(cfg, solver)
        scheduler = Scheduler(box, cfg.simulations, cfg.sampling, cfg.seed, cfg.max_retries)
        if roles.is_trainer:
            rc = run_trainer(cfg, init, roles, solver, scheduler, names, flag)
        else:
            torch.set_num_threads(1)
            rc = run_solver(cfg, roles, solver, names)
        # a stop signal that arrives while this rank waits in MPI_Finalize for the others must
        # not kill it: Python restores the default action (terminate) for its own handlers
        # when it shuts down, but keeps "ignore"
        for s in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(s, signal.SIG_IGN)
        return rc
    except BaseException as err:  # noqa: B036 - any rank failing must end the whole job
        import traceback

        if isinstance(err, UsageError):  # a message of this module's, which names the file
            what = f"error: {err}"
        else:
            traceback.print_exc()
            what = f"fatal: {type(err).__name__}: {err}"
        print(f"[online rank {roles.world.rank} ({roles.role})] {what}; aborting the MPI job",
              file=sys.stderr, flush=True)
        sys.stderr.flush()
        roles.world.Abort(1)
        return 1


def build_solver(cfg):
    """The config's solver alone, built as the full parser builds it (the same class and
    arguments): what a solver rank needs, without the model, whose build imports its
    libraries (neuraloperator, wandb, ...) and holds its weights in every solver rank."""
    from jsonargparse import ArgumentParser, Namespace

    from pdesurrogate.solvers import Solver

    p = ArgumentParser()
    p.add_subclass_arguments(Solver, "solver", required=True)
    return p.instantiate_classes(Namespace(solver=cfg.solver)).solver


def _parameter_box(cfg, solver) -> dict[str, tuple[float, float]]:
    names = tuple(solver.param_names)
    if cfg.parameters is not None:
        box = {k: tuple(float(x) for x in v) for k, v in cfg.parameters.items()}
        if set(box) != set(names) or any(len(v) != 2 for v in box.values()):
            raise UsageError(f"online config: parameters must give [low, high] for exactly "
                             f"{list(names)}, got {cfg.parameters}")
        for k, (lo, hi) in box.items():
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise UsageError(f"online config: parameters.{k} must be [low, high] with "
                                 f"low <= high, got {list(cfg.parameters[k])}")
        box = {k: box[k] for k in names}
        _check_box_with_solver(box, solver)
        return box
    box = {}
    for n in names:
        rng = getattr(solver, f"{n}_range", None)
        if rng is None:
            raise UsageError(f"online config: {solver.name} has no {n}_range; give "
                             f"parameters: {{{n}: [low, high]}}")
        box[n] = (float(rng[0]), float(rng[1]))
    return box


def _check_box_with_solver(box: dict[str, tuple[float, float]], solver) -> None:
    """Each parameter's low and high through the solver's own parameter checks, the others at
    the midpoints of the solver's own ranges (else of the box): else a value out of the
    solver's range fails inside the MPI job, in the held-out trajectories, listing all of
    their values. The checks: ``check_params`` (if the solver has one), and ``advance`` by 0
    time units from a state of ``sample``, which validates the parameters before it returns
    (heat2d's kappa, navier_stokes2d's nu, ...); the latter only where ``advance`` by 0 takes
    the midpoints of the solver's own ``<name>_range`` (a solver whose ``advance`` refuses a
    zero duration is not probed)."""
    check = getattr(solver, "check_params", None)
    probe = _zero_advance(solver)
    # the others at a point the solver admits (its own range's midpoint where it has one):
    # the user's midpoint may be out of range itself, and the error would name the wrong key
    mid = {}
    for k, (lo, hi) in box.items():
        own = getattr(solver, f"{k}_range", None)
        mid[k] = (float(own[0]) + float(own[1])) / 2 if own is not None else (lo + hi) / 2
    for k, (lo, hi) in box.items():
        rows = {n: [lo, hi] if n == k else [mid[n]] * 2 for n in box}
        try:
            if check is not None:
                check({n: torch.tensor(v, dtype=torch.float64) for n, v in rows.items()})
            if probe is not None:
                probe(rows)
        except ValueError as e:
            raise UsageError(f"online config: parameters.{k} = [{lo:g}, {hi:g}] is out of the "
                             f"solver's range: {e}") from None


def _zero_advance(solver):
    """``probe(rows)``: ``solver.advance`` by 0 of two states of ``solver.sample`` with the
    parameter values ``rows`` ({name: [a, b]}); None where that does not work with the
    solver's own ranges' midpoints (a steady solver, one without ``<name>_range``, one whose
    ``advance`` refuses a zero duration), so that only the values are checked."""
    if getattr(solver, "steady", False):
        return None
    names = tuple(solver.param_names)
    ranges = {n: getattr(solver, f"{n}_range", None) for n in names}
    if any(r is None for r in ranges.values()):
        return None
    try:
        u0, _ = solver.sample(1, 0)
        u0 = u0.expand(2, *u0.shape[1:]).clone()

        def probe(rows: dict[str, list[float]]) -> None:
            params = {n: torch.tensor(rows[n], dtype=u0.dtype, device=u0.device)
                      for n in names}
            solver.advance(u0, params, 0.0)

        probe({n: [(float(r[0]) + float(r[1])) / 2] * 2 for n, r in ranges.items()})
    except Exception:  # not this solver's way: its values go unchecked here
        return None
    return probe


def run_solver(cfg, roles, solver, names) -> int:
    from pdesurrogate.streaming import run_solver_rank, solver_simulation
    from pdesurrogate.streaming.client import DEFAULT_MAX_PACK_AGE_S

    simulate = solver_simulation(solver, cfg.n_steps, cfg.dt)
    # any exception of a simulation (divergence or a solver error) fails that simulation: the
    # scheduler reruns it with a new seed, at most max_retries times
    # a slow solver's packs go at least every few seconds, well within the trainer's
    # stall_timeout: otherwise a simulation of small fields longer than it is one silent pack
    age = DEFAULT_MAX_PACK_AGE_S
    if cfg.stall_timeout is not None:
        age = min(age, cfg.stall_timeout / 4)
    run_solver_rank(roles, simulate, names, credits=cfg.credits,
                    window_bytes=max(1, int(cfg.window_mb * 2**20)),
                    pack_bytes=cfg.pack_kb * 1024, retry_on=(Exception,),
                    max_pack_age_s=age, chain_s=cfg.chain_ms / 1000)
    return 0


def stream_source(cfg, box: dict[str, tuple[float, float]]) -> dict:
    """What an online run trains on, as checkpoints and the export record it
    (``data_info["source"]``, exported as ``provenance.data_source``; the form:
    :mod:`pdesurrogate.datasets.source`): the solver's class and arguments, the parameter
    ``box`` the scheduler draws from, its sampling, seed, simulations and retries, the saved
    steps, and the held-out validation and statistics sets' sizes and seeds. A solver argument
    JSON cannot hold is recorded as its ``str``."""
    from pdesurrogate.datasets.source import online_source

    spec = cfg.solver.as_dict() if hasattr(cfg.solver, "as_dict") else dict(cfg.solver)
    init_args = json.loads(json.dumps(spec.get("init_args") or {}, default=str))
    return online_source(
        {"class_path": spec["class_path"], "init_args": init_args}, box, cfg.sampling,
        cfg.seed, cfg.simulations, cfg.max_retries, cfg.n_steps, cfg.dt,
        validation=(cfg.validation.trajectories, cfg.seed + VALIDATION_SEED_OFFSET),
        statistics=(cfg.stats_trajectories, cfg.seed + STATS_SEED_OFFSET))


def trajectories(solver, box: dict, n: int, seed: int, n_steps: int, dt: float):
    """``n`` trajectories ``(n, n_steps + 1, C, *grid)`` with parameters drawn in ``box``
    (``(n, P)``), as the solver ranks make them (initial states from ``solver.sample``)."""
    from pdesurrogate.streaming import draw_parameters

    u0, _ = solver.sample(n, seed)
    pts = draw_parameters(box, n, "random", seed)
    params = {k: torch.tensor(pts[:, j], dtype=u0.dtype) for j, k in enumerate(box)}
    u = solver.solve(u0, params, [k * dt for k in range(n_steps + 1)])
    return u, torch.stack([params[k] for k in box], dim=1)


def _ddp(roles, accelerator_is_gpu: bool):
    """Strategy, devices and num_nodes for the trainer ranks (DDP among them)."""
    from lightning.pytorch.strategies import DDPStrategy

    from pdesurrogate.streaming.roles import mpi
    from pdesurrogate.training.trainer_ranks import TrainerRanksEnvironment

    MPI = mpi()
    comm = roles.comm
    local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.rank)
    leader = local.rank == 0
    nodes = comm.Split(0 if leader else MPI.UNDEFINED, key=comm.rank)
    node_rank = nodes.rank if leader else 0
    node_rank = local.bcast(node_rank, root=0)
    n_nodes = comm.allreduce(1 if leader else 0)
    if comm.rank == 0:
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        addr = socket.gethostname()
    else:
        port, addr = None, None
    port, addr = comm.bcast((port, addr), root=0)
    env = TrainerRanksEnvironment(comm.size, comm.rank, local.rank, node_rank, addr, port)
    strategy = DDPStrategy(cluster_environment=env,
                           process_group_backend="nccl" if accelerator_is_gpu else "gloo")
    return strategy, local.size, n_nodes


def trainer_plugins(single: bool) -> list:
    """The online trainer's Lightning plugins: :class:`AtomicCheckpointIO` (a checkpoint written
    whole or not at all, beside itself and fsync'd, not through ``$TMPDIR``) and, for a
    ``single`` trainer rank, :class:`LightningEnvironment`, so that Lightning never reads srun's
    SLURM variables (they count every rank, solvers too)."""
    from lightning.fabric.plugins.environments import LightningEnvironment

    from pdesurrogate.training.checkpoint_io import AtomicCheckpointIO

    return [AtomicCheckpointIO(), *([LightningEnvironment()] if single else [])]


def ended_by_what(trainer, stream_ended: bool) -> str:
    """What ended the training of a run that was not stopped by a signal, for the summary: the
    stream, or the trainer setting (named with its value) that stopped it first."""
    if stream_ended:
        return ("the stream: every simulation was delivered and the buffer drawn down (for "
                "more steps, raise simulations in a new run)")
    if trainer.fast_dev_run:
        return (f"trainer.fast_dev_run ({trainer.fast_dev_run!r}): a quick check of "
                f"{trainer.global_step} step(s), not a training run")
    if trainer.max_steps is not None and 0 <= trainer.max_steps <= trainer.global_step:
        return f"trainer.max_steps ({trainer.max_steps})"
    from lightning.pytorch.callbacks import Timer

    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    remaining = None if timer is None else timer.time_remaining()
    if remaining is not None and remaining <= 0:
        return f"trainer.max_time ({timer.time_elapsed():.0f} s of training)"
    return ("the trainer stopped before the stream ended (trainer.should_stop, set by the model "
            "or a callback)")


def run_trainer(cfg, init, roles, solver, scheduler, names, flag) -> int:
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from pdesurrogate.datasets import ChannelStats
    from pdesurrogate.streaming import Receiver, make_buffer
    from pdesurrogate.training.stream_data import StreamDataModule
    from pdesurrogate.training.stream_monitor import StreamMonitor

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out, rank = Path(cfg.out), roles.rank_in_role
    box = dict(scheduler.param_box)
    val_u, val_p = trajectories(solver, box, cfg.validation.trajectories,
                                cfg.seed + VALIDATION_SEED_OFFSET, cfg.n_steps, cfg.dt)
    st_u, st_p = trajectories(solver, box, cfg.stats_trajectories, cfg.seed + STATS_SEED_OFFSET,
                              cfg.n_steps, cfg.dt)
    axes = (0, 1, *range(3, st_u.ndim))
    stats = ChannelStats(mean=st_u.mean(dim=axes).tolist(), std=st_u.std(dim=axes).tolist(),
                         spatial_dims=st_u.ndim - 3, param_names=list(names),
                         param_mean=st_p.mean(0).tolist(), param_std=st_p.std(0).tolist())
    data_info = {"pde": solver.name, "grid_shape": list(solver.shape),
                 "channel_names": list(solver.channel_names), "param_names": list(names),
                 "k": 1, "dt": float(cfg.dt), "source": stream_source(cfg, box)}

    max_bytes = None if cfg.buffer.max_mb is None else int(cfg.buffer.max_mb * 1e6)
    buffer = make_buffer(cfg.buffer.kind, capacity=cfg.buffer.capacity,
                         watermark=cfg.buffer.watermark, max_bytes=max_bytes,
                         seed=cfg.seed + rank)
    # a simulation sends exactly n_steps + 1 states: the receiver's default bound (4096) would
    # drop every simulation of a longer run, and the run would train on nothing
    receiver = Receiver.from_roles(roles, buffer, names, scheduler=scheduler,
                                   stall_timeout=cfg.stall_timeout,
                                   max_pending_samples=cfg.n_steps + 1)
    ckpt_path, prior = None, {"samples": 0, "bytes": 0}
    if cfg.resume:
        ckpt_path, prior = _restore(out, roles, receiver, scheduler, pl.Trainer.fit)
    flag.receiver = receiver
    if flag.requested:
        receiver.request_stop()
    receiver.start()

    module = init.model
    dm = StreamDataModule(buffer, receiver, names, cfg.batch_size, val_u, val_p, stats,
                          data_info)

    def checkpoint(trainer, freeze: bool = False) -> None:
        _write_checkpoint(out, trainer, receiver, roles, cfg, freeze, prior)

    monitor = StreamMonitor(receiver, buffer, log_every_n_steps=cfg.trainer.log_every_n_steps
                            or 20, checkpoint=checkpoint,
                            checkpoint_every_n_steps=cfg.checkpoint_every_n_steps)
    callbacks: list = [monitor]
    # the refused keys are at Lightning's defaults here (_check_trainer)
    targs = {k: v for k, v in dict(cfg.trainer).items()
             if k not in TRAINER_SKIP and k not in TRAINER_REFUSED}
    if targs.get("enable_progress_bar") is not False:
        from pdesurrogate.training.progress import rich_progress_bar

        callbacks.append(rich_progress_bar("Online training steps"))
    gpu = targs.get("accelerator") in ("gpu", "cuda") or (
        targs.get("accelerator") in (None, "auto") and torch.cuda.is_available())
    if roles.comm.size > 1:
        strategy, devices, num_nodes = _ddp(roles, gpu)
    else:
        strategy, devices, num_nodes = "auto", 1, 1
    targs["plugins"] = trainer_plugins(single=roles.comm.size == 1)
    # this command places the ranks itself (or runs under the srun that placed them), so
    # Lightning's advice to prepend srun does not apply
    warnings.filterwarnings("ignore", message="The `srun` command is available")
    trainer = pl.Trainer(
        **targs, strategy=strategy, devices=devices, num_nodes=num_nodes, callbacks=callbacks,
        logger=[CSVLogger(out, name="csv"), TensorBoardLogger(out, name="tensorboard")],
        max_epochs=-1, val_check_interval=cfg.validation.every_n_steps,
        check_val_every_n_epoch=None, default_root_dir=out, enable_checkpointing=False,
    )
    t0 = time.perf_counter()
    # weights-only, whatever torch's default (torch < 2.6: False) or TORCH_FORCE_NO_WEIGHTS_ONLY_
    # LOAD say: the checkpoint is a file in the run folder, not code
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path,
                **_fit_loads_weights_only(pl.Trainer.fit))
    train_s = time.perf_counter() - t0

    if receiver.stopped:
        checkpoint(trainer, freeze=True)
        receiver.join()
        _finish(out, cfg, trainer, receiver, monitor, roles, scheduler, train_s, "stopped",
                "a stop signal (checkpoint written)", None, prior)
        return 0
    ended_by = ended_by_what(trainer, receiver.ended)
    if not receiver.ended:
        # the trainer's own limit (max_steps, max_time) came first: take no more simulations,
        # let the solvers finish the ones they are in (dropped) and end the stream
        receiver.snapshot(freeze=True)
    receiver.join()
    # the trainer ranks split the held-out trajectories among themselves (rank r of W takes
    # r, r + W, ...; none repeated, none padded) and add their error sums before dividing, so
    # each trajectory counts once (training/evaluation.py); trainer.limit_val_batches 0: none
    # (Lightning returns no results), and the model is exported all the same
    results = trainer.validate(module, datamodule=dm, verbose=False)
    val = results[0] if results else None
    _finish(out, cfg, trainer, receiver, monitor, roles, scheduler, train_s, "finished",
            ended_by, val, prior, module=module, val_u=val_u, val_p=val_p)
    return 0


# -- checkpoints ------------------------------------------------------------------------------
def _atomic_save(obj, path: Path) -> None:
    _atomic_write(path, lambda f: torch.save(obj, f))


def _write_checkpoint(out: Path, trainer, receiver, roles, cfg, freeze: bool,
                      prior: dict) -> None:
    """Collective over the trainer ranks: stage every file, then rank 0 swaps the directory.
    ``prior``: samples and bytes received by the legs before a resume.

    A kill at any point leaves ``checkpoint/``, or (inside the swap) a complete
    ``checkpoint.partial/`` or ``checkpoint.old/``: the manifest is written last, and
    --resume takes the first complete one of the three (:func:`_resume_point`)."""
    comm, rank = roles.comm, roles.rank_in_role
    snap = receiver.snapshot(freeze=freeze)
    got = receiver.stats()
    snap["received"] = {"samples": prior["samples"] + got["samples"],
                        "bytes": prior["bytes"] + got["bytes"]}
    final, stage, old = out / CHECKPOINT, out / STAGE, out / OLD
    tmp = None
    if rank == 0:
        if stage.is_symlink():
            stage.unlink()
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        # Lightning writes to the path it is given: a new file of a random name, renamed below
        tmp, f = open_temp_file(stage / "model.ckpt")
        f.close()
    tmp = comm.bcast(tmp, root=0)
    _atomic_save(snap, stage / f"stream-trainer{rank}.pt")
    # with the optimizer and loop state (resume needs them); saying so also keeps Lightning
    # from logging that it chose this by default at every checkpoint
    trainer.save_checkpoint(tmp, weights_only=False)
    committed = comm.allreduce(len(snap["committed_sims"]))
    comm.Barrier()
    if rank == 0:
        os.replace(tmp, stage / "model.ckpt")
        manifest = {"trainers": comm.size, "global_step": int(trainer.global_step),
                    "simulations": cfg.simulations, "committed": int(committed),
                    "stop": bool(freeze), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        text = json.dumps(manifest, indent=2) + "\n"
        _atomic_write(stage / "manifest.json", lambda f: f.write(text.encode()))
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    comm.Barrier()


def _restore(out: Path, roles, receiver, scheduler, fit) -> tuple[str, dict]:
    """Load this rank's stream state and the scheduler's; return the Lightning checkpoint and
    what this rank had received up to the checkpoint. ``fit``: the ``Trainer.fit`` that will
    load the checkpoint (without a weights-only option, the file is read weights-only here
    first)."""
    ck = out / CHECKPOINT
    manifest = _read_manifest(ck)
    if manifest["trainers"] != roles.comm.size:
        raise UsageError(f"{str(ck)!r} was written by {manifest['trainers']} trainer ranks; this "
                         f"run has {roles.comm.size} (resume with the same trainers)")
    states = []
    for r in range(roles.comm.size):
        path = ck / f"stream-trainer{r}.pt"
        try:
            states.append(torch.load(path, weights_only=True, map_location="cpu"))
        except Exception as e:
            raise UsageError(f"{str(path)!r}: cannot read the stream state: {e}") from None
    done = sorted(set().union(*(set(s["committed_sims"]) for s in states)))
    sched = dict(states[0]["scheduler"])
    sched["done"] = done
    scheduler.load_state_dict(sched)
    mine = states[roles.rank_in_role]
    receiver.restore(mine)
    prior = {"samples": 0, "bytes": 0, **mine.get("received", {})}
    if not _fit_loads_weights_only(fit):
        _check_lightning_checkpoint(ck / "model.ckpt")
    return str(ck / "model.ckpt"), prior


# -- end of run -------------------------------------------------------------------------------
def _finish(out, cfg, trainer, receiver, monitor, roles, scheduler, train_s, status, ended_by,
            val, prior, module=None, val_u=None, val_p=None) -> None:
    comm = roles.comm
    mine = {"rank": roles.rank_in_role, "receiver": receiver.stats(), "prior": prior,
            "buffer": receiver.buffer.stats(), "monitor": monitor.summary,
            "committed_sims": sorted(receiver.committed_sims)}
    everyone = comm.gather(mine, root=0)
    if roles.rank_in_role != 0:
        return
    sched = scheduler.counts()
    committed = sorted(s for r in everyone for s in r["committed_sims"])
    summary: dict[str, Any] = {
        "status": status, "ended_by": ended_by, "resumed": bool(cfg.resume),
        "global_step": int(trainer.global_step), "train_seconds": train_s,
        "simulations": cfg.simulations, "committed_simulations": len(committed),
        "committed_sim_ids": committed, "scheduler": sched,
        "abandoned_sim_ids": sorted(scheduler.abandoned),
        # over the whole run: what earlier legs had received when they wrote their checkpoint
        # (simulations then in flight included: the resumed run receives those again) plus
        # this leg; samples an earlier leg received after its checkpoint are not counted
        "samples_received": sum(r["prior"]["samples"] + r["receiver"]["samples"]
                                for r in everyone),
        "mb_received": sum(r["prior"]["bytes"] + r["receiver"]["bytes"] for r in everyone) / 1e6,
        "malformed_messages": sum(r["receiver"]["malformed"] for r in everyone),
        "sims_failed": sum(r["receiver"]["sims_failed"] for r in everyone),
        # received but not trained on: incomplete, malformed or over max_pending_samples
        "sims_dropped": sum(r["receiver"]["sims_dropped"] for r in everyone),
        "sims_duplicate": sum(r["receiver"]["sims_duplicate"] for r in everyone),
        "idle_fraction": float(np.mean([r["monitor"]["idle_fraction"] for r in everyone])),
        # this leg's, added over the trainer ranks (each receives its own simulations)
        "samples_per_s": sum(r["receiver"]["samples_per_s"] for r in everyone),
        "mb_per_s": sum(r["receiver"]["mb_per_s"] for r in everyone),
        "validation_rollout_steps": cfg.n_steps,
        "trainers": everyone,
    }
    if val is not None:
        summary["validation"] = {k: float(v) for k, v in val.items()}
    elif status == "finished":
        limit = trainer.limit_val_batches
        summary["validation_skipped"] = (f"trainer.limit_val_batches is {limit!r}" if limit == 0
                                         else "Lightning ran no validation batch")
    if module is not None:
        from pdesurrogate.export import export_surrogate

        summary["model"] = str(export_surrogate(module, out / "model", overwrite=True))
        summary["plots"] = _plots(out, module, monitor, val_u, val_p, cfg)
    text = json.dumps(summary, indent=2, default=float) + "\n"
    _atomic_write(out / "summary.json", lambda f: f.write(text.encode()))
    if status == "finished":
        # nothing resumes a finished run (summary.json says so), and the checkpoint holds a
        # buffer's worth of samples
        for d in (CHECKPOINT, STAGE, OLD):
            shutil.rmtree(out / d, ignore_errors=True)
    _print_summary(summary, out)


def _plots(out: Path, module, monitor, val_u, val_p, cfg) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdesurrogate.plots import rollout_figure
    from pdesurrogate.training.losses import relative_l2

    paths = []
    hist = monitor.history
    if hist:
        steps = [h["step"] for h in hist]
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
        axes[0].plot(steps, [h["stream/samples_per_s"] for h in hist])
        axes[0].set(title="samples/s received", xlabel="training step")
        axes[1].plot(steps, [h["stream/buffer_fill"] for h in hist], label="buffer fill")
        axes[1].plot(steps, [h["trainer/idle_fraction"] for h in hist], label="idle fraction")
        axes[1].set(title="buffer fill, trainer idle", xlabel="training step", ylim=(0, 1.05))
        axes[1].legend()
        axes[2].plot(steps, [h["stream/seen_mean"] for h in hist], label="mean")
        axes[2].plot(steps, [h["stream/seen_max"] for h in hist], label="max")
        axes[2].set(title="times each stored item was seen", xlabel="training step")
        axes[2].legend()
        fig.tight_layout()
        fig.savefig(out / "online.png", dpi=110)
        plt.close(fig)
        paths.append(str(out / "online.png"))
    module.train(False)
    n = min(8, val_u.shape[0])
    pred = _evaluation_rollout(module, val_u[:n, 0].to(module.device),
                               val_p[:n].to(module.device), val_u.shape[1] - 1).cpu()
    err = torch.stack([relative_l2(pred[:, s], val_u[:n, s], reduction="none").mean()
                       for s in range(val_u.shape[1])]).numpy()
    times = np.arange(val_u.shape[1]) * cfg.dt
    paths.append(rollout_figure(pred.numpy(), val_u[:n].numpy(), times, err,
                                out / "rollout.png",
                                title=f"online surrogate, validation (error: mean of the first "
                                      f"{n} of {val_u.shape[0]} trajectories)"))
    return paths


def _evaluation_rollout(module, u0: torch.Tensor, params: torch.Tensor, steps: int
                        ) -> torch.Tensor:
    """``module.rollout`` as validation rolls out: a PDE-Refiner draws its noise from its own
    evaluation generators (:meth:`~pdesurrogate.models.PDERefiner.evaluation_noise`, seeded
    per trajectory from ``u0`` and ``params``), so the plot repeats and torch's global
    generator is left alone; other models have no noise."""
    noise = getattr(getattr(module, "model", None), "evaluation_noise", None)
    gens = noise(u0, params) if noise is not None else None
    if gens is None:
        return module.rollout(u0, params, steps)
    return module.rollout(u0, params, steps, generator=gens)


def _print_summary(s: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"online run: {s['status']}", show_header=False)
    t.add_column()
    t.add_column(overflow="fold")  # a path that does not fit goes on the next line, never cut
    t.add_row("training steps", str(s["global_step"]))
    t.add_row("training ended by", s["ended_by"])
    t.add_row("simulations committed", f"{s['committed_simulations']} of {s['simulations']}")
    t.add_row("simulations abandoned", str(len(s["abandoned_sim_ids"])))
    t.add_row("failed attempts (resubmitted)", str(s["sims_failed"]))
    t.add_row("simulations dropped (incomplete)", str(s["sims_dropped"]))
    t.add_row("malformed messages", str(s["malformed_messages"]))
    if "train_seconds" in s:
        t.add_row("training wall time", f"{s['train_seconds']:.1f} s")
    t.add_row("samples / MB received", f"{s['samples_received']} / {s['mb_received']:.3g}")
    if "samples_per_s" in s:
        t.add_row("received per second", f"{s['samples_per_s']:.4g} samples, "
                                          f"{s['mb_per_s']:.3g} MB")
    t.add_row("trainer idle fraction", f"{s['idle_fraction']:.3f}")
    if "validation_skipped" in s:
        t.add_row("validation", f"none: {s['validation_skipped']}")
    if "validation" in s:
        val = s["validation"]
        roll = f"rollout of {s['validation_rollout_steps']} steps" \
            if "validation_rollout_steps" in s else "rollout"
        if "val/rel_l2_ar" in val:  # all2all (scOT): val/rel_l2 is the direct predictions'
            t.add_row(f"validation rel L2 ({roll})", f"{val['val/rel_l2_ar']:.4g}")
            t.add_row("validation rel L2 (direct, mean over lead times)",
                      f"{val.get('val/rel_l2', float('nan')):.4g}")
        else:
            t.add_row(f"validation rel L2 ({roll})",
                      f"{val.get('val/rel_l2', float('nan')):.4g}")
    if "model" in s:
        t.add_row("exported model", s["model"])
        t.add_row("plots", "\n".join(s["plots"]))
        if not any(p.endswith("online.png") for p in s["plots"]):
            t.add_row("", "no online.png: fewer training steps than trainer.log_every_n_steps")
    t.add_row("summary", str(out / "summary.json"))
    if s["status"] == "stopped":
        t.add_row("continue with", f"pdesurrogate online --config {out / CONFIG_FILE} --resume")
    console = Console(stderr=True)
    if not console.is_terminal:
        # a log file (Slurm's, a pipe): rich would draw it 80 columns wide; as wide as its
        # rows instead, so each path stays on one line, whole, for copying from the log
        wide = console.options.update_width(100_000)
        console = Console(stderr=True, width=max(80, console.measure(t, options=wide).maximum))
    console.print(t)
