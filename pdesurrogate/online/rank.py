"""The body of every MPI rank (:func:`run_rank`): stop signals, the run folder where no launcher
prepared it (under the user's own mpiexec or srun), then the rank's role: trainer or solver;
there, at the end, the ranks' PID files too (:func:`_remove_pid_files`)."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import torch

from pdesurrogate.online.checkpoint import _recover_checkpoint
from pdesurrogate.online.errors import UsageError
from pdesurrogate.online.job_cleanup import _clear_previous_job, _record_shm
from pdesurrogate.online.launcher import INCOMPLETE, LAUNCHER_ENV, WORKER_ENV
from pdesurrogate.online.parameter_box import _parameter_box
from pdesurrogate.online.preflight import (
    _check_model_takes_solver,
    check_buffer_size,
    check_lockstep_room,
    check_trainer_precision,
)
from pdesurrogate.online.processes import _alive
from pdesurrogate.online.run_folder import (
    RANKS,
    _check_config_file,
    _check_out,
    _lock_run,
    _write_config_file,
)
from pdesurrogate.online.solver_rank import build_solver, run_solver
from pdesurrogate.online.trainer_rank import run_trainer
from pdesurrogate.temp_files import atomic_write

# a write that failed for want of room or rights (a full disk or quota, a file size limit, a
# read-only folder): the user's to fix, said in one line when the error names its file
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


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
                # what an aborted earlier job in out left on this host, as a launcher clears
                # it before its job (its records would go with ranks/ at this run's end)
                _clear_previous_job(out)
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
        atomic_write(pid_file, lambda f: f.write(f"{os.getpid()}\n".encode()))
        if roles.is_trainer:
            import lightning.pytorch as pl

            # before the model is built, as LightningCLI seeds: the initial weights follow
            # the seed the fit records (NextStepModule takes it as the fit starts)
            pl.seed_everything(cfg.seed, verbose=False)
            init = parser.instantiate(cfg)
            solver = init.solver
        else:
            init, solver = None, build_solver(cfg)
        if roles.is_trainer and external:
            # under srun/mpiexec the launcher's preflight did not run: one line, not a failure
            # deep in the first training step
            _check_model_takes_solver(init.model, solver)
            check_trainer_precision(cfg.trainer, init.model)
            for warning in (check_buffer_size(cfg, solver), check_lockstep_room(cfg, solver)):
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
        if rc == INCOMPLETE and not external:
            # the launcher tells an incomplete run from a failed job by summary.json and
            # exits INCOMPLETE itself; a rank exiting with it would read as a failed job
            rc = 0
        # a stop signal that arrives while this rank waits in MPI_Finalize for the others must
        # not kill it: Python restores the default action (terminate) for its own handlers
        # when it shuts down, but keeps "ignore"
        for s in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(s, signal.SIG_IGN)
        if external:
            _remove_pid_files(roles.world, out)
        return rc
    except BaseException as err:  # noqa: B036 - any rank failing must end the whole job
        import traceback

        what = _failure(err)
        if what.startswith("fatal: "):
            traceback.print_exc()
        print(f"[online rank {roles.world.rank} ({roles.role})] {what}; aborting the MPI job",
              file=sys.stderr, flush=True)
        sys.stderr.flush()
        roles.world.Abort(1)
        return 1


def _failure(err: BaseException) -> str:
    """What a rank that failed with ``err`` says before it aborts the job: ``"error: ..."``
    for what the user can act on from the message alone (this package's UsageError, which
    names the file; a write that failed for want of room or rights, naming its file; weights
    gone non-finite), else ``"fatal: ..."``, which goes with a traceback."""
    # a solver rank never imports the training package (nor Lightning): look it up, do not
    # import it here
    finite = sys.modules.get("pdesurrogate.training.finite_weights")
    if isinstance(err, UsageError):
        return f"error: {err}"
    if isinstance(err, OSError) and err.errno in _STORAGE_ERRNOS and err.filename is not None:
        return f"error: {err}"  # "[Errno 28] No space left on device: '<file>'"
    if finite is not None and isinstance(err, finite.NonFiniteWeights):
        return f"error: {type(err).__name__}: {err}"  # says what went wrong and what to do
    return f"fatal: {type(err).__name__}: {err}"


def _remove_pid_files(world, out: Path, poll: float = 0.05) -> None:
    """At the end of a job without the launcher (which removes ``out/ranks/`` after its job):
    world rank 0 removes it once every rank has passed a barrier, so no rank still writes or
    maps what it recorded there. The barrier is polled with sleeps, not MPI's busy wait: a
    solver rank that ended early would otherwise spin on a core the trainer ranks train on.
    After a rank failed the job is aborted and ``ranks/`` stays, with the shared-memory
    segments it records for the next launcher in ``out`` to remove."""
    request = world.Ibarrier()
    while not request.Test():
        time.sleep(poll)
    if world.rank == 0:
        shutil.rmtree(out / RANKS, ignore_errors=True)


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
