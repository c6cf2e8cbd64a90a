"""``pdesurrogate online``: solver ranks stream samples over MPI straight into Lightning training.

One MPI job, its ``COMM_WORLD`` split by role. World ranks ``0 .. trainers-1`` train (DDP among
themselves: gloo on CPU, NCCL on GPU), the others run the solver; world rank 0 also runs the
scheduler, which draws ``simulations`` parameter sets and hands them to free solver ranks.
Samples go rank to rank into each trainer's buffer and are never written to disk.

The order of a run, and the file that holds each step:

1. ``command.py``: :func:`cmd_online` parses and checks the settings (``parser.py``: the
   jsonargparse parser, the config checks, :data:`TRAINER_REFUSED`), then, outside any MPI
   launcher, launches the job, or, inside one (``launched.py``: the variables a launcher sets
   in its ranks), runs this rank. A rank parses what its role
   needs (``rank_settings.py``): a solver rank the config without the model and the trainer,
   so that it never imports Lightning; a trainer rank the whole config, and a config error
   found there alone ends every rank, reported once. A ``--solver`` of another class than
   the config's is checked against the config's solver settings it keeps
   (``solver_change.py``).
2. ``launcher.py``: :func:`launch` locks and checks the run folder (``run_folder.py``: the lock,
   ``config.yaml``, what a folder may be reused for), builds everything once to catch a bad
   value in one line (``preflight.py``), writes ``config.yaml``, starts ``mpiexec`` with one
   rank per trainer and solver, turns stop signals into a checkpoint and stop, echoes the
   job's logs and returns its exit status; it removes what the job leaves on the machine
   (``job_cleanup.py``: its TMPDIR, MPICH's shared memory). Before it starts the mpich
   wheel's own ``mpiexec``, it checks that ``/dev/shm`` has room for the ranks
   (``shm_room.py``: a container's 64 MiB holds about 12); before any ``mpiexec``, that the
   open-files limit (``ulimit -n``) is enough for the ranks (``open_files.py``).
3. ``rank.py``: :func:`run_rank`, on every rank: stop signals, its pid file, the parameter box
   (``parameter_box.py``), then its role.
4. ``solver_rank.py``: :func:`run_solver` runs the simulations the scheduler hands it and
   streams their samples. ``trainer_rank.py``: :func:`run_trainer` builds the held-out and
   statistics sets, the buffer and receiver, DDP, and trains with Lightning; it writes and
   restores ``out/checkpoint/`` (``checkpoint.py``: also the resume point, its manifest, and
   a checkpoint swap a kill interrupted).
5. ``summary.py``: trainer rank 0 exports the surrogate and writes ``summary.json``, the plots
   and the printed table.

Below them: ``errors.py`` (:class:`UsageError`) and ``processes.py`` (is a PID still the
process it was); files are written whole or not at all by
:func:`pdesurrogate.temp_files.atomic_write`. A module imports only from those before it in
this list (no cycles): errors, processes, launched, checkpoint,
run_folder, job_cleanup, shm_room, open_files, parser, parameter_box, preflight, launcher,
summary, trainer_rank, solver_rank, rank, rank_settings, solver_change, command.
"""

from __future__ import annotations

from pdesurrogate.online.checkpoint import (
    CHECKPOINT,
    OLD,
    STAGE,
    _atomic_save,
    _recover_checkpoint,
)
from pdesurrogate.online.command import cmd_online
from pdesurrogate.online.errors import UsageError
from pdesurrogate.online.job_cleanup import (
    JOB_TMP_FILE,
    JOB_TMP_PREFIX,
    MPICH_SHM,
    SHM_DIR,
    _clean_up_after_job,
    _make_job_tmp,
    _record_shm,
)
from pdesurrogate.online.launched import MPI_ENV
from pdesurrogate.online.launcher import (
    BOOTSTRAP,
    JOB_LOGS,
    LAUNCHER_ENV,
    PATH_FIX,
    RUN_CLI,
    WORKER_ENV,
    launch,
    rank_command,
)
from pdesurrogate.online.parameter_box import _parameter_box
from pdesurrogate.online.parser import (
    PARSER_MODE,
    TRAINER_REFUSED,
    TRAINER_SKIP,
    _check,
    _load_yaml,
    _parse,
    build_parser,
)
from pdesurrogate.online.preflight import (
    STATE_ITEMSIZE,
    _preflight,
    check_buffer_size,
    check_lockstep_room,
)
from pdesurrogate.online.rank import _StopFlag, run_rank
from pdesurrogate.online.run_folder import (
    CONFIG_FILE,
    LOCK_FILE,
    RANKS,
    RESUME_MAY_CHANGE,
    _check_config_file,
    _check_out,
    _lock_run,
    _where_to_resume,
    _write_config_file,
)
from pdesurrogate.online.solver_rank import build_solver, run_solver
from pdesurrogate.online.summary import _plots, _print_summary
from pdesurrogate.online.trainer_rank import (
    STATS_SEED_OFFSET,
    VALIDATION_SEED_OFFSET,
    ended_by_what,
    run_trainer,
    stream_source,
    trainer_plugins,
    trajectories,
)

# the names other code imports from pdesurrogate.online (the command, benchmarks, tests); a
# patch of a name must target the module that looks it up (e.g. command._under_mpi)
__all__ = [
    "BOOTSTRAP", "CHECKPOINT", "CONFIG_FILE", "JOB_LOGS", "JOB_TMP_FILE", "JOB_TMP_PREFIX",
    "LAUNCHER_ENV", "LOCK_FILE", "MPICH_SHM", "MPI_ENV", "OLD", "PARSER_MODE", "PATH_FIX",
    "RANKS", "RESUME_MAY_CHANGE", "RUN_CLI", "SHM_DIR", "STAGE", "STATE_ITEMSIZE",
    "STATS_SEED_OFFSET", "TRAINER_REFUSED", "TRAINER_SKIP", "UsageError",
    "VALIDATION_SEED_OFFSET", "WORKER_ENV", "_StopFlag", "_atomic_save", "_check",
    "_check_config_file", "_check_out", "_clean_up_after_job", "_load_yaml", "_lock_run",
    "_make_job_tmp", "_parameter_box", "_parse", "_plots", "_preflight", "_print_summary",
    "_record_shm", "_recover_checkpoint", "_where_to_resume", "_write_config_file",
    "build_parser", "build_solver", "check_buffer_size", "check_lockstep_room", "cmd_online",
    "ended_by_what",
    "launch", "rank_command", "run_rank", "run_solver", "run_trainer", "stream_source",
    "trainer_plugins", "trajectories",
]
