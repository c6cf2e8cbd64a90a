"""Generation driver: run a solver over batches of random samples and write one dataset file.

Sample ``i`` is drawn on its own, ``solver.sample(1, sample_seed(seed, i, attempt))``, with a
seed that depends only on ``(seed, i, attempt)`` (numpy ``SeedSequence`` with spawn key ``(i,
attempt)``; stored as the sample's ``seed``), and batches of ``batch_size`` such draws are
solved together, each with one torch thread. So the parameters and initial states depend on
neither ``batch_size`` nor ``workers``, and sample ``i`` is regenerated alone by
``solver.solve(*solver.sample(1, seed[i]), times)``. (Drawing a whole batch from one seed made
every sample depend on ``batch_size``: another batch size gave other parameters altogether.)
With ``workers > 1``, ``workers`` processes (:mod:`.lanes`, all started before the output file
is opened and before any other thread) solve batches concurrently and the parent writes them
in order (a bounded number in flight, so memory stays bounded). Batch ``b`` goes to process
``b % workers``, which solves its batches in order: a solver with a history (below) then sees
the same earlier solves in every run, instead of those of whichever process was free first.
So a process is never free to take another's batch: batches of uneven cost balance less well
than in a shared pool. A worker process that dies (out of memory) stops the run with
:class:`~.lanes.LaneDiedError` naming it and its batch.

The output path is checked before anything is solved: a folder there is an error, an existing
file is an error unless ``overwrite=True`` (and is checked again when the finished file is moved
into place, so a file another process wrote there meanwhile is not replaced either), a missing
parent folder is created. SIGTERM (when no handler is installed) and Ctrl-C stop a run cleanly:
the worker processes are terminated and the temporary file is removed; SIGTERM then exits
with status ``128 + 15``.

A batch raising :class:`~pdesurrogate.solvers.base.SolverDivergedError` is redrawn with the next
``attempt`` up to ``max_retries`` times; redraws are counted in the report and in the file attr
``diverged_batches``. When a batch still diverges, :class:`GenerationError` is raised and no
file appears under ``path``.

Progress: a rich bar when stderr is a terminal; otherwise (a Slurm log, a pipe) one plain line
on stderr with samples done, rate and time left, every 10 s at most (at the end of a batch) and
once at the end (:mod:`.progress`).

Caveats, where the states (never the parameters or initial states) can differ in the last
digits: a solver whose output depends on history (a bandit ``tuner`` choosing SOR factors from
past solves: heat2d, darcy2d) differs across ``workers`` and ``batch_size``, within the SOR
tolerance, never between two runs with the same settings; an automatic time step taken over
the whole batch (burgers1d, navier_stokes2d with ``dt=None``) differs across ``batch_size``,
within the time-stepping error; a batch that
diverges is redrawn whole (``attempt + 1`` for each of its samples), so which samples are
redrawn depends on ``batch_size``.
"""

from __future__ import annotations

import contextlib
import errno
import math
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..sigterm_unwinds import sigterm_unwinds
from ..solvers.base import Solver, SolverDivergedError
from .lanes import Lanes
from .ourformat import DatasetWriter, check_compression, default_grid_names
from .progress import progress_bar
from .temp_files import clean_leftovers

# seeds are stored as int64 (file attr and per-sample variable)
SEED_LIMIT = 2**63


def available_cpus(root: str = "/") -> int:
    """CPUs this process may run on: its affinity mask (a Slurm job's allocation, ``taskset``),
    not every core of the machine as ``os.cpu_count()`` says, and no more than a cgroup v2 CPU
    quota allows (:func:`cgroup_cpu_quota`; ``root`` is the filesystem's root, for tests)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        cpus = os.process_cpu_count() or 1
    elif hasattr(os, "sched_getaffinity"):
        cpus = len(os.sched_getaffinity(0)) or 1
    else:
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    return cpus if quota is None else min(cpus, quota)


def cgroup_cpu_quota(root: str = "/") -> int | None:
    """The CPUs a cgroup v2 quota gives this process, rounded up and at least 1: the smallest
    ``cpu.max`` (``"200000 100000"``: 2 CPUs) of its cgroup (``/proc/self/cgroup``'s ``0::``
    line) and of the cgroups above it, under ``root/sys/fs/cgroup``. None without a quota
    (``max``) or a cgroup v2 hierarchy. A container or a Slurm job limited to 2 CPUs of a
    64-core node has a quota while its affinity mask and ``os.cpu_count()`` say 64."""
    try:
        with open(os.path.join(root, "proc", "self", "cgroup"), encoding="utf-8") as f:
            own = next((line[3:].strip() for line in f if line.startswith("0::")), None)
    except OSError:
        return None
    if own is None:
        return None
    parts = [p for p in own.split("/") if p and p != ".."]
    quotas = []
    # the job's or container's quota is often set on an ancestor (slurm's job_N over step_N)
    for depth in range(len(parts), -1, -1):
        try:
            with open(os.path.join(root, "sys", "fs", "cgroup", *parts[:depth], "cpu.max"),
                      encoding="utf-8") as f:
                fields = f.read().split()
        except OSError:
            continue
        if len(fields) != 2 or fields[0] == "max":
            continue
        try:
            quota, period = int(fields[0]), int(fields[1])
        except ValueError:
            continue
        if quota > 0 and period > 0:
            quotas.append(max(1, -(-quota // period)))
    return min(quotas) if quotas else None


class GenerationError(RuntimeError):
    """A batch kept diverging after ``max_retries`` redraws."""


@dataclass
class GenerateReport:
    """What :func:`generate_dataset` did. ``seconds`` is wall time including writing."""

    path: Path
    samples: int
    seconds: float
    samples_per_second: float
    retries: int
    batches: int
    workers: int
    linear_stats: dict | None = None


def sample_seed(seed: int, index: int, attempt: int = 0) -> int:
    """A 63-bit seed for ``solver.sample(1, ...)`` of sample ``index`` from ``(seed, index,
    attempt)``."""
    state = np.random.SeedSequence(entropy=seed, spawn_key=(index, attempt)).generate_state(
        1, dtype=np.uint64)
    return int(state[0]) >> 1


def draw_samples(solver: Solver, first: int, size: int, seed: int, attempt: int = 0
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[int]]:
    """Samples ``first .. first + size - 1`` drawn one at a time (:func:`sample_seed`): the
    initial states ``(size, C, *grid)``, parameters ``{name: (size,)}`` and the seeds."""
    seeds = [sample_seed(seed, first + j, attempt) for j in range(size)]
    draws = [solver.sample(1, s) for s in seeds]
    u0 = torch.cat([u for u, _ in draws])
    params = {k: torch.cat([torch.as_tensor(p[k]).reshape(1) for _, p in draws])
              for k in draws[0][1]}
    return u0, params, seeds


def linear_columns(stats: Sequence[Mapping]) -> dict[str, np.ndarray]:
    """A solver's ``linear_stats`` entries (one dict per linear solve) as compact columns
    ``iterations``, ``omega`` (float64) and ``converged`` (bool): 17 bytes a solve instead of
    a dict's few hundred, for runs of millions of solves."""
    return {"iterations": np.array([float(s.get("iterations", np.nan)) for s in stats]),
            "omega": np.array([float(s.get("omega", np.nan)) for s in stats]),
            "converged": np.array([bool(s.get("converged", True)) for s in stats], dtype=bool)}


def summarize_linear_stats(columns: Sequence[Mapping[str, np.ndarray]]) -> dict:
    """JSON-friendly summary of the linear solves in ``columns`` (:func:`linear_columns` of
    each batch)."""
    it, om, conv = (np.concatenate([c[k] for c in columns]) if columns else np.zeros(0)
                    for k in ("iterations", "omega", "converged"))
    if not len(it):
        return {"count": 0}
    uniq = np.unique(np.round(om[np.isfinite(om)], 6))
    return {
        "count": len(it),
        "mean_iterations": float(np.nanmean(it)),
        "max_iterations": float(np.nanmax(it)),
        "converged_fraction": float(np.mean(conv)),
        "mean_omega": float(np.nanmean(om)),
        "omegas": uniq.tolist() if len(uniq) <= 32 else
        {"min": float(uniq.min()), "max": float(uniq.max()), "distinct": len(uniq)},
    }


def _solve_batch(solver: Solver, batch: int, first: int, size: int, seed: int,
                 times: list[float], max_retries: int) -> dict:
    """Draw and solve one batch (samples ``first .. first + size - 1``), redrawing on
    divergence; numpy results (picklable)."""
    stats = getattr(solver, "linear_stats", None)
    n_stats = len(stats) if isinstance(stats, list) else 0
    last: SolverDivergedError | None = None
    for attempt in range(max_retries + 1):
        try:
            u0, params, seeds = draw_samples(solver, first, size, seed, attempt)
            u = solver.solve(u0, params, times)
        except SolverDivergedError as e:
            last = e
            continue
        stats = getattr(solver, "linear_stats", None)
        linear = linear_columns(stats[n_stats:] if isinstance(stats, list) else [])
        if isinstance(stats, list):
            del stats[n_stats:]  # taken: a long run keeps no per-solve log in the solver
        return {
            "batch": batch,
            "u": u.detach().cpu().numpy().astype(np.float32, copy=False),
            "params": {k: torch.as_tensor(v).detach().cpu().numpy().astype(np.float64)
                       for k, v in params.items()},
            "seed": np.asarray(seeds, dtype=np.int64),
            "retries": attempt,
            "linear_stats": linear,
        }
    raise GenerationError(f"{solver.name}: batch {batch} diverged {max_retries + 1} times "
                          f"(seed {seed}, max_retries={max_retries}); last: {last}")


# a worker process's solver, seed, times and max_retries, given once: a batch's task is then
# three ints, which never fill its pipe while the worker sends a large result back
_WORKER_RUN: tuple | None = None


def _init_worker(solver: Solver, seed: int, times: list[float], max_retries: int) -> None:
    global _WORKER_RUN
    # one thread per process: the processes supply the parallelism, and results match workers=1
    torch.set_num_threads(1)
    _WORKER_RUN = (seed, times, max_retries, solver)


def _worker_task(batch: int, first: int, size: int) -> dict:
    assert _WORKER_RUN is not None, "worker not initialised"
    seed, times, max_retries, solver = _WORKER_RUN
    return _solve_batch(solver, batch, first, size, seed, times, max_retries)


def _output_path(path: str | os.PathLike, example: str, overwrite: bool = True) -> Path:
    """``path`` as a :class:`Path` whose folder exists (missing folders are created).

    Raises ``ValueError`` for an empty path, ``IsADirectoryError`` if ``path`` is a folder
    (suggesting the file name ``example`` in it), ``FileExistsError`` if a file is there and not
    ``overwrite`` (having removed, with a warning each, the temporaries of ``path`` that killed
    writers left, as a run that writes it does), else the ``OSError`` of creating its folder,
    naming the folder.
    """
    if not str(path).strip():
        raise ValueError(f"the output path is empty; expected a file name such as {example!r}")
    p = Path(path)
    if p.is_dir() or p.name in ("", ".", ".."):
        raise IsADirectoryError(f"output {str(path)!r} is a folder; expected a file name such as "
                                f"{str(p / example)!r}")
    if not overwrite and (p.exists() or p.is_symlink()):
        # a generate killed (kill -9) while replacing the file left its temporary, as large as
        # the dataset and hidden (.NAME.HOST.PID.HEX.tmp); a refused run was the one that kept it
        clean_leftovers(p)
        raise FileExistsError(f"{str(p)!r} exists; pass --overwrite (overwrite=True) to replace "
                              "it")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((q for q in (p.parent, *p.parent.parents) if q.exists() and not q.is_dir()),
                       p.parent)
        raise NotADirectoryError(f"cannot create the folder {str(p.parent)!r} for output "
                                 f"{str(path)!r}: {str(blocker)!r} is a file") from None
    except OSError as e:
        raise type(e)(e.errno, f"cannot create the folder {str(p.parent)!r} for output "
                      f"{str(path)!r}: {e.strerror}") from None
    return p


# the least open-files limit (ulimit -n) under which generate_dataset ran with N workers, 12,
# 18, 30, 54 for N = 2, 4, 8, 16 (2026-12-07): each lane holds 3 descriptors in the parent
# (its pipe, its process's sentinel pipe); and a margin for the output file and a calling
# program's own files
FILES_PER_LANE, FILES_SPARE = 3, 64


def _allow_open_files(workers: int) -> Callable[[], None]:
    """Raise this process's soft open-files limit (``RLIMIT_NOFILE``) towards its hard limit
    where ``workers`` lanes need more (128 workers need over 1024, a common soft limit);
    returns what puts the soft limit back. Raises ``OSError`` (EMFILE) naming the limit and
    the most workers that fit when even the hard limit is too low."""
    try:
        import resource
    except ImportError:  # not a POSIX system: no such limit to raise
        return lambda: None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = FILES_PER_LANE * workers + FILES_SPARE
    if soft == resource.RLIM_INFINITY or soft >= need:
        return lambda: None
    if hard != resource.RLIM_INFINITY and hard < need:
        fit = max(1, (hard - FILES_SPARE) // FILES_PER_LANE)
        raise OSError(errno.EMFILE, f"{workers} workers need about {need} open files "
                      f"({FILES_PER_LANE} a worker), and the open-files limit (ulimit -Hn) is "
                      f"{hard}: pass workers={fit} (--workers {fit}) or fewer, or raise the limit")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    except (OSError, ValueError):  # e.g. macOS above OPEN_MAX: the lanes say what failed
        return lambda: None
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high)`` (``high=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value >= high):
        bound = f">= {low}" if high is None else f"in [{low}, {_power_of_2(high)})"
        raise ValueError(f"{name} must be an int {bound}, got {value!r}")
    return int(value)


def _power_of_2(n: int) -> str:
    return f"2**{n.bit_length() - 1}" if n > 1024 and n & (n - 1) == 0 else str(n)


def _check_times(times: Sequence[float]) -> list[float]:
    """``times`` as floats: non-empty, finite, >= 0 and strictly increasing (a repeated time
    would store the same state twice and give a zero time step)."""
    ts = [float(t) for t in np.asarray(times, np.float64).ravel()]
    if not ts:
        raise ValueError("times must not be empty")
    for i, t in enumerate(ts):
        if not math.isfinite(t) or t < 0:
            raise ValueError(f"times must be finite and >= 0, got times[{i}] = {t}")
        if i and t <= ts[i - 1]:
            raise ValueError(f"times must be strictly increasing, got times[{i}] = {t} after "
                             f"times[{i - 1}] = {ts[i - 1]}")
    return ts


def solver_grid(solver: Solver) -> tuple[tuple[np.ndarray, ...], tuple[str, ...]]:
    """A solver's node coordinates, one numpy array per spatial axis in its states' order,
    and the axes' names (the solver's ``grid_names``, else ours: ``x``; ``y, x``; ...), as
    a generated file stores them."""
    grid = tuple(np.asarray(g.detach().cpu() if hasattr(g, "detach") else g) for g in solver.grid)
    return grid, tuple(getattr(solver, "grid_names", None) or default_grid_names(len(grid)))


def generate_dataset(
    solver: Solver,
    path: str | os.PathLike,
    samples: int,
    times: Sequence[float],
    seed: int = 0,
    batch_size: int = 32,
    workers: int | None = None,
    progress: bool = True,
    max_retries: int = 3,
    attrs: Mapping[str, object] | None = None,
    mp_context: str | None = None,
    overwrite: bool = False,
    compression: str | None = None,
    compression_level: int | None = None,
) -> GenerateReport:
    """Generate ``samples`` trajectories at ``times`` with ``solver`` into the file ``path``.

    Args:
        solver: a :class:`~pdesurrogate.solvers.base.Solver` (picklable for ``"spawn"``).
        samples: number of trajectories ``N``.
        times: ``(T,)`` strictly increasing saved times, ``>= 0`` (ignored by steady solvers,
            whose file has the single time 0).
        seed: generation seed in ``[0, 2**63)``; the file depends on ``seed``, not on
            ``batch_size`` nor ``workers`` (each sample is drawn with its own seed; see the
            module docstring for the caveats).
        batch_size: samples per ``solver.solve`` call.
        workers: processes (default :func:`available_cpus`: the CPUs this process may run on,
            e.g. its Slurm allocation or a container's cgroup CPU quota); ``1`` solves in this
            process.
        progress: show progress on stderr (a rich bar on a terminal, else a plain line at most
            every 10 s: :mod:`.progress`).
        max_retries: redraws allowed per diverging batch.
        attrs: extra global attributes for the file.
        mp_context: multiprocessing start method (default ``"fork"`` on Linux, which needs
            no pickling of the solver; ``"spawn"`` elsewhere: macOS lists fork too, but a
            forked child of a process that has loaded torch may crash there).
        overwrite: replace an existing file at ``path`` (else ``FileExistsError``, before
            anything is solved).
        compression, compression_level: ``None`` (default, uncompressed), ``"gzip"`` (level
            0 to 9, default 4) or ``"lzf"``: see :class:`~.ourformat.DatasetWriter`; a bad
            value is a ValueError before anything is solved.

    Returns:
        :class:`GenerateReport`. Raises :class:`GenerationError` when a batch keeps diverging,
        :class:`~.lanes.LaneDiedError` when a worker process dies (killed by the out-of-memory
        killer, say), what a worker's solver raised (its traceback as the cause),
        ``IsADirectoryError`` when ``path`` is a folder, ``FileExistsError`` when a file is
        there and not ``overwrite``, ``OSError`` (EMFILE) when even the hard open-files
        limit is too low for ``workers`` (the soft one is raised for the run where it is);
        on SIGTERM, ``SystemExit(143)`` after
        the cleanup (nothing under ``path``, no temporary file, no worker left).
    """
    samples = _check_int("samples", samples, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    seed = _check_int("seed", seed, 0, SEED_LIMIT)
    max_retries = _check_int("max_retries", max_retries, 0)
    compression, compression_level = check_compression(compression, compression_level)
    workers = available_cpus() if workers is None else _check_int("workers", workers, 1)
    if not isinstance(solver, Solver):
        raise TypeError(f"solver must be a pdesurrogate Solver, got {type(solver).__name__}")
    ts = [0.0] if solver.steady else _check_times(times)
    n_batches = math.ceil(samples / batch_size)
    workers = min(workers, n_batches)
    path = _output_path(path, f"{solver.name}.nc", overwrite=overwrite)

    grid, grid_names = solver_grid(solver)
    channels = getattr(solver, "channel_names", None) or (
        ("u",) if solver.channels == 1 else tuple(f"u{i}" for i in range(solver.channels)))
    has_stats = isinstance(getattr(solver, "linear_stats", None), list)
    all_stats: list[dict[str, np.ndarray]] = []  # linear_columns of each batch
    retries = 0
    start_time = time.perf_counter()

    with contextlib.ExitStack() as stack:
        written = False

        def stop_message() -> str:
            # the workers stop after the file is renamed: a late SIGTERM must not deny it
            if written:
                return f"generate: stopped by SIGTERM after {str(path)!r} was written in full"
            return f"generate: stopped by SIGTERM; nothing is written to {str(path)!r}"

        def note_written(exc_type, exc, tb) -> bool:
            nonlocal written
            written = exc_type is None
            return False

        stack.enter_context(sigterm_unwinds(stop_message))
        lanes: Lanes | None = None
        if workers > 1:
            if mp_context is None:
                # macOS's system libraries may have started threads, which fork does not
                # copy (Python's own default there is spawn)
                mp_context = "fork" if sys.platform.startswith("linux") else "spawn"
            context = mp.get_context(mp_context)
            stack.callback(_allow_open_files(workers))  # put back once the lanes have ended
            # lanes, not one shared pool: a shared pool hands a batch to whichever worker is
            # free, so a solver's history (the SOR bandit) would depend on timing. All started
            # here, before the output file is open (a forked child must not inherit an HDF5
            # file open for writing) and before the progress bar's thread
            lanes = stack.enter_context(Lanes(
                workers, context, _worker_task, setup=_init_worker,
                setup_args=(solver, seed, ts, max_retries), unit="batch"))
        stack.push(note_written)  # runs once the writer has closed (renamed) or discarded
        writer = stack.enter_context(DatasetWriter(
            path, solver.name, grid, grid_names, ts, channels, solver.param_names, samples,
            attrs={"batch_size": batch_size, "n_batches": n_batches, **dict(attrs or {})},
            solver_settings=solver.settings(), seed=seed, param_units="1", overwrite=overwrite,
            compression=compression, compression_level=compression_level,
        ))
        bar = stack.enter_context(progress_bar(progress, f"generating {solver.name}", samples))

        def store(res: dict) -> None:
            nonlocal retries
            b = res["batch"]
            writer.write(b * batch_size, res["u"], res["params"], seed=res["seed"])
            retries += res["retries"]
            all_stats.append(res["linear_stats"])
            bar(len(res["u"]))

        # made one at a time: a list of millions of batches would cost gigabytes up front
        tasks = ((b, b * batch_size, min(batch_size, samples - b * batch_size))
                 for b in range(n_batches))
        if lanes is None:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                for task in tasks:
                    store(_solve_batch(solver, *task, seed, ts, max_retries))
            finally:
                torch.set_num_threads(threads)
        else:
            for res in lanes.results(tasks):  # batch b in lane b % workers
                store(res)
        extra = {"diverged_batches": retries}
        if has_stats:
            extra["linear_stats"] = summarize_linear_stats(all_stats)
        writer.set_attrs(**extra)
    seconds = time.perf_counter() - start_time
    return GenerateReport(
        path=path, samples=samples, seconds=seconds,
        samples_per_second=samples / seconds if seconds > 0 else float("inf"),
        retries=retries, batches=n_batches, workers=workers,
        linear_stats=summarize_linear_stats(all_stats) if has_stats else None,
    )
