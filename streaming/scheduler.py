"""Which simulation runs where: parameter sets drawn in a box, handed to free solver ranks.

:class:`Scheduler` is the MPI-free bookkeeping: the budget is ``n_simulations`` parameter sets,
drawn up front in the box ``{name: (low, high)}`` by ``"random"`` (uniform), ``"halton"``
(scrambled Halton) or ``"lhs"`` (Latin hypercube) from ``seed``, so simulation ``i`` always has
the same parameters. Each hand-out is a :class:`Task` ``(sim_id, params, seed, attempt,
trainer)``; the seed (for initial conditions) is derived from ``(seed, sim_id, attempt)``, so a
failed simulation is resubmitted with a new seed, at most ``max_retries`` times. ``state_dict``
records done / abandoned simulations, attempt and failure counts and which trainer each done
simulation went to: a resumed run never reruns a done simulation (simulations in flight at
checkpoint time run again, with a fresh seed and their retries intact).

Which trainer: the scheduler picks it per hand-out, the trainer with the fewest simulations
done or in flight on it (failed attempts do not count), ties broken by a fixed hash of the
sim_id. Not ``sim_id % n_trainers``: Halton, the default sampling, puts the first parameter's
lower half on odd ids and its upper half on even ones, so each trainer would see one slice of
the range, and failures that depend on the parameters would all land on one trainer, which
then starves while the others fill up. Counting only what did not fail keeps the trainers'
shares equal around failures; the hash (instead of the lowest index) keeps the ties from
reproducing ``sim_id % n_trainers`` when nothing fails.

:class:`SchedulerServer` (world rank 0, polled from its receiver thread) and :class:`TaskClient`
(solver ranks) exchange control messages on :attr:`~.roles.Roles.control`: one fixed record
of :data:`CONTROL_DTYPE` each way, sent as raw bytes with the buffer-based mpi4py calls (no
pickle here either). A solver sends ``REQUEST`` (carrying the outcome of its previous task) and
waits for ``TASK`` or ``STOP``; the server answers a request when it has a task, or ``STOP`` once
every simulation is done or abandoned (a request may wait while in-flight simulations could
still fail and need a rerun).
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from .polling import poll_until
from .protocol import MAX_PARAMS

METHODS = ("random", "halton", "lhs")

TAG_REQUEST = 201
TAG_REPLY = 202

CONTROL_DTYPE = np.dtype([
    ("kind", "<i8"), ("sim_id", "<i8"), ("seed", "<i8"), ("attempt", "<i8"),
    ("status", "<i8"), ("n_params", "<i8"), ("params", "<f8", (MAX_PARAMS,)),
    ("trainer", "<i8"),  # TASK: index of the trainer rank that receives it
])


class Control(enum.IntEnum):
    REQUEST = 1  # solver -> scheduler; status: outcome of the previous task
    TASK = 2  # scheduler -> solver
    STOP = 3  # scheduler -> solver: no more work


class Outcome(enum.IntEnum):
    NONE = 0
    DONE = 1
    FAILED = 2


@dataclass(frozen=True)
class Task:
    """One simulation to run: id, PDE parameters (name -> float), seed for the initial
    condition, attempt number (0 for the first run, +1 per resubmission), and ``trainer``,
    the index in ``Roles.trainer_ranks`` of the trainer that receives its samples (None: the
    client's :func:`~.client.route` picks one)."""

    sim_id: int
    params: dict[str, float]
    seed: int
    attempt: int = 0
    trainer: int | None = None


def draw_parameters(box: dict[str, tuple[float, float]], n: int, method: str = "random",
                    seed: int = 0) -> np.ndarray:
    """``n`` points ``(n, len(box))`` in the box ``{name: (low, high)}``, columns in the box's
    key order."""
    from scipy.stats import qmc

    d = len(box)
    lows = np.array([float(lo) for lo, _ in box.values()])
    highs = np.array([float(hi) for _, hi in box.values()])
    if method == "random":
        unit = np.random.default_rng(seed).random((n, d))
    else:
        cls = qmc.Halton if method == "halton" else qmc.LatinHypercube
        try:
            engine = cls(d, rng=np.random.default_rng(seed))
        except TypeError:  # scipy < 1.15 names it seed
            engine = cls(d, seed=np.random.default_rng(seed))
        unit = engine.random(n)
    return lows + unit * (highs - lows)


SEED_LIMIT = 2**63  # seeds travel as int64, and Solver.sample takes [0, 2**63)


def task_seed(seed: int, sim_id: int, attempt: int) -> int:
    """Seed in ``[0, 2**63)`` of a simulation attempt, from ``(run seed, sim_id, attempt)``.

    63 bits, not the 32 of one ``generate_state`` word: among a run's simulations 32-bit seeds
    repeat (seed 0: sims 50699 and 55170 shared one, so both started from the same initial
    condition; about one pair per 2**16 simulations), 63-bit ones practically never do."""
    state = np.random.SeedSequence([seed, sim_id, attempt]).generate_state(1, dtype=np.uint64)
    return int(state[0]) >> 1


_MASK64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """A fixed 64-bit integer hash (the splitmix64 finaliser): neighbouring inputs give
    unrelated outputs, so ``mix64(i) % n`` has no pattern in ``i``'s parity or residues."""
    z = (int(x) + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class Scheduler:
    """Bookkeeping of an online run's simulations (see module docstring).

    Args:
        param_box: ``{name: (low, high)}``, at most 16 parameters; the key order is the order
            parameter values travel in.
        n_simulations: total budget of simulations (>= 1).
        method: "random", "halton" or "lhs".
        seed: seed of the parameter draws and of the per-attempt seeds, an integer in
            ``[0, 2**63)``.
        max_retries: reruns of a failed simulation before it is abandoned (>= 0): it is
            abandoned at its ``max_retries + 1``-th failure. Attempts discarded by a stop
            (in flight at a checkpoint) are not failures.
    """

    def __init__(self, param_box: dict[str, tuple[float, float]], n_simulations: int,
                 method: str = "random", seed: int = 0, max_retries: int = 2):
        if not isinstance(param_box, dict) or len(param_box) > MAX_PARAMS:
            raise ValueError(f"param_box must be a dict name -> (low, high) with at most "
                             f"{MAX_PARAMS} entries, got {param_box!r}")
        box = {}
        for name, rng in param_box.items():
            try:
                lo, hi = (float(v) for v in rng)
            except (TypeError, ValueError):
                raise ValueError(f"param_box[{name!r}] must be (low, high), got {rng!r}") from None
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ValueError(f"param_box[{name!r}] must satisfy low <= high, got {rng!r}")
            box[str(name)] = (lo, hi)
        if isinstance(n_simulations, bool) or not isinstance(n_simulations, int) \
                or n_simulations < 1:
            raise ValueError(f"n_simulations must be an integer >= 1, got {n_simulations!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        # int() would turn 1.5 and True into seed 1, silently the run of another seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
                or not 0 <= seed < SEED_LIMIT:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")
        self.param_box, self.n_simulations = box, n_simulations
        self.method, self.seed, self.max_retries = method, int(seed), max_retries
        self.param_names = tuple(box)
        self._points = draw_parameters(box, n_simulations, method, self.seed)
        self._queue: deque[int] = deque(range(n_simulations))
        self._attempts: dict[int, int] = {}  # hand-outs, stop-discarded ones included: seeds
        self._failures: dict[int, int] = {}  # reported failures: the retry budget
        self._in_flight: dict[int, int] = {}
        self._done: set[int] = set()
        self._abandoned: set[int] = set()
        # trainer index of every simulation done or in flight, and how many each trainer has
        self._trainer_of: dict[int, int] = {}
        self._load: dict[int, int] = {}
        # done simulations of a state from before trainers were recorded: placed where that
        # run sent them (sim_id % n_trainers) once the number of trainers is known
        self._unplaced: set[int] = set()

    def params_of(self, sim_id: int) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.param_names, self._points[sim_id], strict=True)}

    def next_task(self, rank: int = -1, n_trainers: int = 1) -> Task | None:
        """The next simulation to run (recorded as in flight on solver ``rank``, bound for one
        of ``n_trainers`` trainers: see the module docstring), or None if none is waiting
        now."""
        if isinstance(n_trainers, bool) or not isinstance(n_trainers, int) or n_trainers < 1:
            raise ValueError(f"n_trainers must be an integer >= 1, got {n_trainers!r}")
        if not self._queue:
            return None
        sim = self._queue.popleft()
        attempt = self._attempts.get(sim, 0)
        self._attempts[sim] = attempt + 1
        self._in_flight[sim] = rank
        trainer = self._pick_trainer(sim, n_trainers)
        self._trainer_of[sim] = trainer
        self._load[trainer] = self._load.get(trainer, 0) + 1
        return Task(sim, self.params_of(sim), task_seed(self.seed, sim, attempt), attempt,
                    trainer)

    def report_done(self, sim_id: int) -> None:
        self._check_in_flight(sim_id)
        del self._in_flight[sim_id]
        self._done.add(sim_id)

    def report_failed(self, sim_id: int) -> None:
        """Resubmit ``sim_id`` (first in the queue, new seed) or abandon it at its
        ``max_retries + 1``-th failure."""
        self._check_in_flight(sim_id)
        del self._in_flight[sim_id]
        self._load[self._trainer_of.pop(sim_id)] -= 1
        failures = self._failures[sim_id] = self._failures.get(sim_id, 0) + 1
        if failures <= self.max_retries:
            self._queue.appendleft(sim_id)
        else:
            self._abandoned.add(sim_id)

    def _pick_trainer(self, sim_id: int, n_trainers: int) -> int:
        """The trainer with the fewest simulations done or in flight; among equals, the one
        a hash of ``sim_id`` picks (see the module docstring)."""
        for sim in self._unplaced:
            self._trainer_of[sim] = t = sim % n_trainers
            self._load[t] = self._load.get(t, 0) + 1
        self._unplaced.clear()
        loads = [self._load.get(t, 0) for t in range(n_trainers)]
        least = min(loads)
        ties = [t for t, n in enumerate(loads) if n == least]
        return ties[mix64(sim_id) % len(ties)]

    @property
    def assigned(self) -> dict[int, int]:
        """Trainer index of each simulation done or in flight (``sim_id -> trainer``)."""
        return dict(self._trainer_of)

    @property
    def finished(self) -> bool:
        """Every simulation is done or abandoned."""
        return not self._queue and not self._in_flight

    def counts(self) -> dict[str, int]:
        return {"done": len(self._done), "abandoned": len(self._abandoned),
                "in_flight": len(self._in_flight), "queued": len(self._queue),
                "attempts": sum(self._attempts.values())}

    @property
    def done(self) -> frozenset[int]:
        return frozenset(self._done)

    @property
    def abandoned(self) -> frozenset[int]:
        return frozenset(self._abandoned)

    def state_dict(self) -> dict[str, Any]:
        return {"param_box": {k: list(v) for k, v in self.param_box.items()},
                "n_simulations": self.n_simulations, "method": self.method, "seed": self.seed,
                "done": sorted(self._done), "abandoned": sorted(self._abandoned),
                "attempts": {int(k): int(v) for k, v in self._attempts.items()},
                "failures": {int(k): int(v) for k, v in self._failures.items()},
                # in flight too: a trainer may commit one after this state was taken, and a
                # resume counts what any trainer committed as done
                "trainers": {int(k): int(v) for k, v in self._trainer_of.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: done/abandoned simulations are never handed out again; the rest (including
        those in flight when the state was taken) are queued in id order, with the failures
        they had (a stop is not a failure), and each done simulation still counts for the
        trainer it went to. A state saved before failures and trainers were recorded counts
        every attempt of an unfinished simulation as a failure (as the run that saved it did)
        and places done simulations at ``sim_id % n_trainers`` (where that run sent them)."""
        for key in ("n_simulations", "method", "seed"):
            if state[key] != getattr(self, key):
                raise ValueError(f"scheduler state: {key} is {state[key]!r}, this run has "
                                 f"{getattr(self, key)!r}")
        box = {k: tuple(v) for k, v in state["param_box"].items()}
        if box != self.param_box:
            raise ValueError(f"scheduler state: param_box {box} differs from {self.param_box}")
        self._done = {int(s) for s in state["done"]}
        self._abandoned = {int(s) for s in state["abandoned"]}
        self._attempts = {int(k): int(v) for k, v in state["attempts"].items()}
        failures = state.get("failures")
        if failures is None:
            failures = {k: v for k, v in self._attempts.items() if k not in self._done}
        self._failures = {int(k): int(v) for k, v in failures.items()}
        trainers = {int(k): int(v) for k, v in state.get("trainers", {}).items()}
        self._trainer_of = {s: trainers[s] for s in self._done if s in trainers}
        self._load = {}
        for t in self._trainer_of.values():
            self._load[t] = self._load.get(t, 0) + 1
        self._unplaced = self._done - set(self._trainer_of)
        self._in_flight = {}
        self._queue = deque(s for s in range(self.n_simulations)
                            if s not in self._done and s not in self._abandoned)

    def _check_in_flight(self, sim_id: int) -> None:
        if sim_id not in self._in_flight:
            raise ValueError(f"simulation {sim_id} is not in flight")


def _record() -> np.ndarray:
    return np.zeros(1, dtype=CONTROL_DTYPE)


class SchedulerServer:
    """Serves :class:`Scheduler` tasks to solver ranks over ``comm`` (``Roles.control``).

    Call :meth:`poll` often (the receiver thread of world rank 0 does); it never blocks on a
    solver. ``finished`` is True once every solver rank has been told STOP. Each task names
    its trainer by index in ``trainer_ranks`` (default: the ranks of ``comm`` that are not
    solver ranks, in order, as :func:`~.roles.split_roles` lays them out).
    """

    def __init__(self, scheduler: Scheduler, comm, solver_ranks: tuple[int, ...],
                 trainer_ranks: tuple[int, ...] | None = None):
        self.scheduler, self.comm = scheduler, comm
        self.solver_ranks = tuple(solver_ranks)
        if trainer_ranks is None:
            trainer_ranks = tuple(r for r in range(comm.Get_size()) if r not in solver_ranks)
        self.trainer_ranks = tuple(int(r) for r in trainer_ranks)
        if not self.trainer_ranks:
            raise ValueError(f"trainer_ranks must not be empty (solver ranks "
                             f"{list(self.solver_ranks)} of {comm.Get_size()})")
        self._waiting: list[int] = []
        self._stopped: set[int] = set()
        self._stopping = False
        self._inbox = _record()
        self._out = _record()

    @property
    def finished(self) -> bool:
        return len(self._stopped) == len(self.solver_ranks)

    def stop(self) -> None:
        """Hand out no more tasks: every request from now on is answered STOP (the run is
        being checkpointed; simulations in flight finish and are not counted)."""
        self._stopping = True

    def poll(self) -> None:
        from .roles import mpi

        MPI = mpi()
        status = MPI.Status()
        while self.comm.Iprobe(MPI.ANY_SOURCE, TAG_REQUEST, status):
            src = status.Get_source()
            self.comm.Recv(self._inbox.view(np.uint8), source=src, tag=TAG_REQUEST)
            rec = self._inbox[0]
            outcome, sim = int(rec["status"]), int(rec["sim_id"])
            if outcome == Outcome.DONE:
                self.scheduler.report_done(sim)
            elif outcome == Outcome.FAILED:
                self.scheduler.report_failed(sim)
            self._waiting.append(src)
        self._dispatch()

    def _dispatch(self) -> None:
        still = []
        for rank in self._waiting:
            task = None if self._stopping else self.scheduler.next_task(
                rank, len(self.trainer_ranks))
            self._out[:] = 0
            out = self._out[0]
            if task is not None:
                out["kind"], out["sim_id"], out["seed"] = Control.TASK, task.sim_id, task.seed
                out["attempt"], out["n_params"] = task.attempt, len(task.params)
                out["trainer"] = task.trainer
                out["params"][: len(task.params)] = list(task.params.values())
            elif self._stopping or self.scheduler.finished:
                out["kind"] = Control.STOP
                self._stopped.add(rank)
            else:
                still.append(rank)
                continue
            self.comm.Send(self._out.view(np.uint8), dest=rank, tag=TAG_REPLY)
        self._waiting = still


class TaskClient:
    """Solver side of the scheduler: ``request(...)`` reports the previous task's outcome and
    returns the next :class:`Task`, or None when the run is over (blocking)."""

    def __init__(self, comm, param_names: tuple[str, ...], root: int = 0):
        self.comm, self.param_names, self.root = comm, tuple(param_names), root
        self._buf = _record()

    def request(self, sim_id: int = -1, outcome: Outcome = Outcome.NONE) -> Task | None:
        self._buf[:] = 0
        rec = self._buf[0]
        rec["kind"], rec["sim_id"], rec["status"] = Control.REQUEST, sim_id, int(outcome)
        self.comm.Send(self._buf.view(np.uint8), dest=self.root, tag=TAG_REQUEST)
        # the scheduler answers from the trainer's receiver thread, which does not while its
        # buffer is full: wait without busy-polling this core all that time
        req = self.comm.Irecv(self._buf.view(np.uint8), source=self.root, tag=TAG_REPLY)
        poll_until(req.Test)
        rec = self._buf[0]
        if int(rec["kind"]) == Control.STOP:
            return None
        n = int(rec["n_params"])
        if n != len(self.param_names):
            raise RuntimeError(f"scheduler sent {n} parameters, expected "
                               f"{len(self.param_names)} ({list(self.param_names)})")
        values = rec["params"][:n]
        params = {name: float(v) for name, v in zip(self.param_names, values, strict=True)}
        return Task(int(rec["sim_id"]), params, int(rec["seed"]), int(rec["attempt"]),
                    int(rec["trainer"]))
