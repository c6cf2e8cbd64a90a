"""The launcher: outside any MPI launcher, ``pdesurrogate online`` starts the MPI job itself
(:func:`launch`), turns stop signals into a checkpoint and stop, echoes the job's logs and
returns its exit status.

Launching. Outside any MPI launcher the command starts the job itself: ``mpiexec -n
trainers+solvers`` (the MPICH wheel's, next to this Python) re-running this command on every
rank. Under ``mpiexec`` or ``srun`` it uses the ranks it was given (``trainers`` from the
config, the rest solve). An ``srun`` of several tasks that are no MPI job (srun without an MPI
plugin: Slurm's default ``MpiDefault=none``) is refused (:func:`srun_without_mpi`): each task
would start an MPI job of its own.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from pdesurrogate.online.checkpoint import _recover_checkpoint
from pdesurrogate.online.errors import UsageError
from pdesurrogate.online.job_cleanup import (
    _clean_up_after_job,
    _clear_previous_job,
    _make_job_tmp,
)
from pdesurrogate.online.open_files import open_files_error
from pdesurrogate.online.preflight import _preflight
from pdesurrogate.online.processes import _start_time
from pdesurrogate.online.run_folder import (
    RANKS,
    _check_config_file,
    _check_out,
    _lock_run,
    _read_summary,
    _where_to_resume,
    _write_config_file,
)
from pdesurrogate.online.shm_room import shm_room_error

WORKER_ENV = "PDESURROGATE_ONLINE_WORKER"
# the launcher's PID, for the job to notice that the launcher is gone (killed)
LAUNCHER_ENV = "PDESURROGATE_ONLINE_LAUNCHER"

# the exit status of a run whose stream ended with simulations undelivered (summary.json,
# status incomplete): not 0, or a script would go on as if it had finished; resumable
INCOMPLETE = 3


# the MPI job's stdout and stderr: the launcher shows them as they grow; a job whose launcher
# is gone, or whose terminal was closed, goes on writing them
JOB_LOGS = ("online.stdout.log", "online.stderr.log")
# below this many bytes free, a failed job's file system is said to be full (_full_disk_note)
FULL_BELOW = 1 << 20


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

    refused = srun_without_mpi(os.environ)
    if refused:
        if os.environ.get("SLURM_PROCID", "0") != "0":
            return 2  # task 0 says why, once
        raise UsageError(refused)
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
        # the wheel's ranks, all on this machine, share its /dev/shm (a container's is small)
        if here.exists() and Path(mpiexec).resolve() == here.resolve():
            no_room = shm_room_error(n)
            if no_room:
                raise UsageError(no_room)
        # every process of the job inherits this one's open-files limit
        too_few = open_files_error(n)
        if too_few:
            raise UsageError(too_few)
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


def srun_without_mpi(environ) -> str | None:
    """Why this process, run as one of several tasks of an ``srun`` step but under no MPI
    launcher, must not start an MPI job of its own; ``None`` when it may. ``environ``: the
    process's environment. srun without an MPI plugin (``--mpi=none``, Slurm's default
    ``MpiDefault``) gives its tasks no PMI variables: each would start ``mpiexec`` for the
    whole run, in the same folder."""
    tasks = environ.get("SLURM_STEP_NUM_TASKS", "")
    if not (tasks.isdigit() and int(tasks) > 1):
        return None
    return (f"srun started {tasks} tasks of `pdesurrogate online`, but with no MPI between them "
            f"(no PMI_RANK/PMIX_RANK: srun ran without an MPI plugin, --mpi=none being Slurm's "
            f"default): each would start an MPI job of its own. Run the ranks with srun "
            f"--mpi=pmi2 (the mpich wheel; `srun --mpi=list` shows the site's plugins) or "
            f"slurm/online.sbatch, or run `pdesurrogate online` once, without srun, to start "
            f"its own mpiexec")


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
    _clear_previous_job(out)
    console.print(f"[bold]online[/bold]: {cfg.trainers} trainer + {cfg.solvers} solver ranks, "
                  f"{cfg.simulations} simulations -> {out}/  (Ctrl-C or SIGTERM: checkpoint "
                  f"and stop)", soft_wrap=True)
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
                      f"{_where_to_resume(out)}{_full_disk_note(out)}")
        return 1
    status = (_read_summary(out) or {}).get("status")
    if status == "stopped":
        # not finished: a script or `make` running this must not go on as if it were
        return 128 + int(stop["signum"] or signal.SIGUSR1)
    if status == "incomplete":
        return INCOMPLETE
    return 0


def _full_disk_note(out: Path) -> str:
    """A sentence for a failed job's message where ``out``'s file system is full: the ranks'
    error lines go to the job's logs in ``out``, so a job stopped by a full disk could have
    failed with nothing above its exit code (seen on a 20 KiB tmpfs: empty logs)."""
    try:
        free = shutil.disk_usage(out).free
    except OSError:
        return ""
    if free >= FULL_BELOW:
        return ""
    return (f". The file system of {out} is full ({free} bytes free): a write there failed, "
            f"and the job's logs may have lost its error lines; free space (or pick another "
            f"--out) first")


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


def _ranks_ready(out: Path, n: int) -> bool:
    return len(list((out / RANKS).glob("*.pid"))) >= n
