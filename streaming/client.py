"""Solver side of the stream: send the states of a running simulation to a trainer rank,
waiting for the trainer's credits (back-pressure).

Instrumenting any Python time loop (here a user's own solver) takes ``open``, ``send`` for
each saved state, ``close``, and ``shutdown`` once at the end (a ``with`` block calls it). A
complete script, without a scheduler (``mpiexec -n 2 python script.py``: rank 0 trains, rank 1
simulates)::

    import numpy as np

    from pdesurrogate.streaming import (FIFOBuffer, Receiver, StreamClient, collate_items,
                                        split_roles)

    roles = split_roles(n_trainers=1)  # on every rank: the first rank trains, the rest solve
    names = ("nu",)
    if roles.is_trainer:
        # no scheduler on this run: the Receiver itself (from_roles wants the scheduler)
        buffer = FIFOBuffer(capacity=1024)
        receiver = Receiver(roles.data, buffer, roles.solver_ranks, names,
                            trainer_comm=roles.comm).start()
        n_batches = 0
        while receiver.should_continue(4):  # False once every solver rank shut down
            batch = collate_items(buffer.get_many(4), names)  # input, target: (4, 1, 64)
            n_batches += 1  # ... a training step on batch ...
        receiver.join()
        print(f"trainer: {receiver.stats()['sims_committed']} simulation(s), "
              f"{n_batches} batches")
    else:
        nu, dt, n_steps, save_every = 0.01, 1e-3, 100, 10
        x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        u, t = np.sin(x)[None], 0.0  # fields (C, *grid): numpy array or torch tensor
        # leaving the block calls shutdown(), which tells the trainer this rank is done, also
        # when the loop raises (the open simulation is failed first)
        with StreamClient(roles.data, roles.trainer_ranks, param_names=names) as client:
            client.open(sim_id=roles.world.rank, params={"nu": nu})  # ids unique in the run
            for n in range(n_steps + 1):
                if n % save_every == 0:
                    client.send(u, t=t, step=n // save_every)
                u = u + nu * dt / (x[1] - x[0]) ** 2 * (np.roll(u, 1) - 2 * u + np.roll(u, -1))
                t += dt
            client.close()  # or client.fail("why"); NaN/inf sent raises NonFiniteFieldsError

A rank that ends without ``shutdown`` (no ``with`` block, and an exception out of the loop)
leaves the trainer waiting for it forever, or until the receiver's ``stall_timeout``;
forgetting ``close`` discards the simulation, with a warning at ``shutdown``. What ``open`` and
``send`` refuse (parameters that are not the client's ``param_names`` with finite numbers;
fields that are not 1..4 dims ``(C, *grid)`` of float16/32/64, or not the shape and dtype of
the simulation's first sample; a negative step, a non-finite time) raises
:class:`~.sample.BadSampleError`, a ``ValueError`` naming the value and what was expected,
before anything of it is sent.

With the scheduler, :func:`run_solver_rank` does the open/close/fail bookkeeping around a
``simulate(task, client)`` callback, and :func:`solver_simulation` builds that callback for any
:class:`~pdesurrogate.solvers.base.Solver`.

Routing: a simulation's samples all go to one trainer, so trainers receive disjoint data and
input/target pairs of consecutive steps are formed where the samples are. Under the scheduler,
each task names its trainer (the scheduler balances the trainers around failed simulations,
see :mod:`.scheduler`) and :func:`run_solver_rank` opens the simulation there; a loop of one's
own passes ``trainer=`` to :meth:`StreamClient.open`, or leaves it out for :func:`route`.

Commit: the trainer keeps a simulation's samples pending until its ``END`` (sent by
:meth:`StreamClient.close`, carrying the number of samples sent; inside the last pack when one
is open, see :data:`~.protocol.FLAG_END`), then commits them to its
buffer; after ``FAILED`` (:meth:`StreamClient.fail`) they are dropped, so samples of a failed
simulation never reach training. Pending memory is bounded by the receiver's
``max_pending_samples`` per simulation (see :class:`~.receiver.Receiver`).

Packs: samples small enough (``pack_bytes``, default 4 MiB: fields up to about 2 MiB) are
copied into a pack and sent as one message, because per message the trainer's receiver spends
tens of microseconds in Python, more than MPI takes to move a small field. A pack goes when it
is full, at ``close``, or with the first sample after it has been open ``max_pack_age_s``
(default 5 s), so a slow solver's samples still travel every few seconds. The trainer sees no
difference: it commits a simulation's samples at its ``END`` either way. A pack counts as one
message below.

Chain packs: with short simulations a message per simulation is still most of the cost
(16 samples of 4 KiB: about 40 us of the receiver's Python per message). So ``close`` leaves
the pack open with the simulation's END recorded in it, and the next simulation's samples join
it if they go to the same trainer with the same shape and dtype, for up to
:data:`CHAIN_MAX_SEGMENTS` simulations and ``chain_s`` (50 ms) after the first of them ended;
then it goes as one message (:data:`~.protocol.FLAG_CHAIN`) at the next ``open`` or when
full. ``fail`` and control messages send it first, so nothing overtakes it. In
benchmarks/streaming.py part a (4 KiB fields, 16-sample simulations, 128 MB runs) chain packs
moved 0.84 (0.77-0.90) of raw MPI's MB/s against 0.59 (0.57-0.63) without (four alternating
jobs each).

Split packs (off by default): samples sent uncopied (``copy=False``) of at least
``split_bytes`` are not copied into a pack either. They gather into a *split pack* of up to
``4 * pack_bytes`` bytes and :data:`SPLIT_MAX_SAMPLES` samples: one header for the pack, then
each sample's own array as its own MPI message (:data:`~.protocol.FLAG_SPLIT`), so a field
crosses memory once, as in a plain ``Send`` of it, and the trainer's per-message work (header,
bookkeeping, credits) is paid once per pack. They win only when the solver sends an array it
never writes (then the trainer's core keeps its lines in cache from one message to the next):
with fresh states, written before each send as a solver's step writes them, copying into
packs moved more in 17 of 18 comparisons (six alternating pairs of jobs, 64 KiB to 1 MiB
fields; figures at :data:`~.protocol.DEFAULT_SPLIT_BYTES`), hence the default
``split_bytes=None``. A sample in a
split pack is held until its pack is sent and the send completes. The count bound matters:
with 256 KiB fields in 100-step simulations, split packs of 49 fields (the byte bound alone)
moved 0.1 of raw MPI's MB/s, packs of 26 to 32 fields 0.85, 14 to 16 fields 0.83 (part a,
``--samples-per-sim 100``); MPICH slows down sharply with many messages of a few packs
outstanding at once.

Large fields with ``copy=True``: a field too large to pack is copied, and ``send`` returns at
once, so the solver computes its next step while MPI moves the copy. With ``wait_large=True`` it
is instead sent straight from the caller's array and ``send`` returns once MPI has moved it, as
a blocking ``MPI_Send`` does; its values are checked for NaN/inf while it travels, and the
verdict follows it (:data:`~.protocol.FLAG_VERDICT`). Which is faster depends on the solver:

* a producer faster than the transport (replayed or cheap states): the copy is a pass over
  memory as long as the transfer, and memory bandwidth is what the ranks share. In
  benchmarks/streaming.py part a (no work between sends), 8 MiB fields moved 0.20-0.46 of raw
  MPI's MB/s copied, 0.78-0.88 with ``wait_large`` (4 alternating jobs each);
* a solver that computes between sends: the copy lets the transfer overlap the next step,
  while a waiting solver also waits for the trainer's receiver to wake up and take the field.
  In benchmarks/stream_wait.py (8 MiB states updated in place for 0.5-5 ms per step, 1 trainer
  + 1 solver, two jobs of 9 alternating runs) the solver made 1.2-1.6x the steps per second
  copying; with no work between sends, 0.7x.

Flow control, two bounds on every solver rank:

* at most ``max_in_flight`` messages (header + payload pairs) with un-completed ``Isend``: the
  client waits on the oldest before posting another, so it holds at most that many copies in
  flight (plus at most that many finished copies kept for reuse by later sends);
* credits, counted in messages and in bytes: towards each trainer the client may have at most
  ``credits`` DATA messages and ``window_bytes`` bytes (header + payload) that the trainer has
  not yet taken off the network; a single message larger than the window goes when nothing is
  outstanding. The trainer's receiver returns both (one coalesced credit message per burst)
  when it has taken samples into its pending store. The byte window keeps memory bounded
  whatever the field size, while small fields can have many messages in flight (a window of
  a few messages would make every small message wait for a round trip). When the training
  buffer is full the receiver waits in ``put`` and stops taking messages, credits stop, and
  solvers wait in :meth:`StreamClient.send`: a slow trainer slows the solvers instead of
  filling memory. A waiting client (for credits, for a message in flight to go, for the
  trainer's last credit at ``shutdown``) polls, then sleeps up to 1 ms between polls, so it
  leaves its core to the trainer when ranks share cores (MPICH's blocking calls busy-poll: 1
  trainer + 3 solvers on 2 cores, 256 KiB fields, a trainer taking 10 ms of CPU per batch, ran
  0.44-0.56 s napping against 0.84-0.87 s waiting in ``Waitall``, five alternating runs
  each). Control messages (END/FAILED/DONE) need no credit. After ``DONE`` the receiver
  answers with a final :data:`~.protocol.CREDIT_FIN`, which :meth:`StreamClient.shutdown`
  waits for, so no credit message is left unmatched.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, SupportsFloat

import numpy as np
import torch

from ..solvers.base import Solver, SolverDivergedError
from .polling import poll_until
from .protocol import (
    CREDIT_FIN,
    DEFAULT_PACK_BYTES,
    DEFAULT_SPLIT_BYTES,
    DEFAULT_WINDOW_BYTES,
    MAX_DIMS,
    MAX_PARAMS,
    TAG_CREDIT,
    TAG_PAYLOAD,
    VERDICT_FINITE,
    Kind,
    all_finite,
    chain_nbytes,
    data_header,
    dtype_code,
    encode_control,
    encode_data,
    isend_message,
    pack_nbytes,
)
from .roles import Roles, mpi
from .sample import BadSampleError, check_finite_params
from .scheduler import Outcome, Task, TaskClient, mix64

# at most this many samples (MPI messages) per split pack; see the module docstring
SPLIT_MAX_SAMPLES = 16
# a pack older than this goes with the next sample (StreamClient's max_pack_age_s)
DEFAULT_MAX_PACK_AGE_S = 5.0
# at most this many simulations share a chain pack (its segment table has room for them)
CHAIN_MAX_SEGMENTS = 64
# a simulation that ended waits at most this long in a pack for the next ones (chain_s)
DEFAULT_CHAIN_S = 0.05
# no sample continues a pack whose simulation has ended: its next step would be this
_ENDED = -(1 << 62)
# send's fast path finds each of these in one lookup (a global) instead of two (a module,
# then its attribute), once a sample
_ndarray, _monotonic, _isfinite = np.ndarray, time.monotonic, math.isfinite


class NonFiniteFieldsError(SolverDivergedError):
    """``send`` (or ``close``, for samples still in a pack) found NaN/inf in a simulation's
    fields. A :class:`SolverDivergedError`, so :func:`run_solver_rank` fails the simulation
    and the scheduler resubmits it with a new seed, as for a solver that diverges. The
    simulation stays open: call :meth:`StreamClient.fail` (nothing of it reaches training).
    Attributes: ``sim_id``, ``step`` and ``time`` of the first non-finite sample found."""

    def __init__(self, sim_id: int, step: int, t: float):
        self.sim_id, self.step = sim_id, step
        self.solver, self.sample, self.time, self.reason = "", 0, t, "NaN/inf"
        self.params, self.hint = {}, ""
        RuntimeError.__init__(self, f"simulation {sim_id}: NaN/inf in the fields sent at step "
                                    f"{step} (t={t:.6g})")

    def __reduce__(self):
        return (type(self), (self.sim_id, self.step, self.time))


class _SplitPack:
    """Uncopied samples being gathered into one split pack (:data:`~.protocol.FLAG_SPLIT`):
    the callers' arrays (each checked finite when added) and their times; sample ``i`` is
    step ``base + i`` (as in :class:`_Pack`)."""

    __slots__ = ("arrays", "shape", "dtype", "base", "capacity", "times", "deadline")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, step: int, capacity: int,
                 max_age_s: float):
        self.shape, self.dtype, self.base, self.capacity = shape, dtype, step, capacity
        self.arrays: list[np.ndarray] = []
        self.times: list[float] = []
        self.deadline = time.monotonic() + max_age_s  # it goes with the first sample after


class _Pack:
    """Samples being gathered into one message, bound for trainer ``dst``: ``fields``
    ``(capacity, *shape)`` is a view of the front of ``buffer`` (so the payload is ``buffer``'s
    first bytes), ``times`` the samples' times, ``n`` how many there are; ``small``: a sample
    is below the client's ``split_bytes`` (packed even when the caller says ``copy=False``);
    ``stated``: the first ``stated`` samples are counted in the client's stats (``send``'s
    fast path leaves that to when the pack goes); ``checked``: the first ``checked`` samples
    were found finite (a simulation's samples are checked at its ``close`` and the rest when
    the pack goes, one pass in all).

    Segments (a chain pack, :data:`~.protocol.FLAG_CHAIN`): ``closed`` holds ``(sim_id, first
    step, count, END total, params)`` of the simulations that ended in this pack; the open
    segment, if ``sim`` is not None, is simulation ``sim`` (parameter values ``values``) from
    sample ``start`` on, its first step ``first``; the next sample continues it if its step is
    ``base + n``."""

    __slots__ = ("buffer", "shape", "dtype", "capacity", "fields", "times", "n",
                 "small", "stated", "dst", "closed", "sim", "values", "start", "first",
                 "base", "ended", "checked", "deadline")

    def __init__(self, buffer: np.ndarray, shape: tuple[int, ...], dtype: np.dtype,
                 capacity: int, small: bool, dst: int, max_age_s: float):
        self.buffer, self.shape, self.dtype, self.dst = buffer, shape, dtype, dst
        size = math.prod(shape) * dtype.itemsize  # per pack: np.prod costs ~4 us here
        self.capacity, self.small = capacity, small
        self.fields = buffer[: capacity * size].view(dtype).reshape(capacity, *shape)
        self.times: list[float] = []  # appending costs less than writing an array's item
        self.n = self.stated = self.checked = 0
        self.deadline = time.monotonic() + max_age_s  # it goes with the first sample after
        self.closed: list[tuple[int, int, int, int, list[float]]] = []
        self.sim: int | None = None
        self.values: list[float] = []
        self.start = self.first = 0
        self.base = _ENDED
        self.ended = 0.0  # when the first of its simulations ended (time.monotonic)

    def begin(self, sim: int, values: list[float], step: int) -> None:
        """Open a segment for simulation ``sim`` whose next sample is ``step``."""
        self.sim, self.values, self.start, self.first = sim, values, self.n, step
        self.base = step - self.n

    def end(self, total: int) -> None:
        """Close the open segment: its simulation ended after ``total`` samples in all."""
        if not self.closed:
            self.ended = time.monotonic()
        self.closed.append((self.sim, self.first, self.n - self.start, total, self.values))
        self.sim, self.base = None, _ENDED


def route(sim_id: int, trainer_ranks: Sequence[int]) -> int:
    """World rank of the trainer that receives simulation ``sim_id`` when its ``open`` names
    none: each block of ``n`` consecutive ids ``k*n .. k*n + n-1`` (``n`` trainers) goes to
    the ``n`` trainers once each, in an order rotated by a fixed hash of ``k``. So ``n``
    consecutive ids from a multiple of ``n`` reach every trainer (a trainer that got nothing
    would wait for data forever), and shares stay equal; not ``sim_id % n``, which hands each
    trainer one slice of a Halton draw's first parameter (see :mod:`.scheduler`)."""
    n = len(trainer_ranks)
    return trainer_ranks[(sim_id + mix64(sim_id // n)) % n]


class StreamClient:
    """Streams samples from this solver rank to the trainer ranks (see module docstring).

    Args:
        comm: the data communicator (``Roles.data``).
        trainer_ranks: world ranks of the trainers.
        param_names: the run's parameter names, in the agreed order (at most 16).
        max_in_flight: most messages with an un-completed Isend (>= 1).
        credits: most DATA messages per trainer not yet taken by it (>= 1).
        window_bytes: most DATA bytes (header + payload) per trainer not yet taken by it
            (>= 1); a larger single message is sent when nothing is outstanding.
        copy: copy each field array before sending (True: the caller may overwrite its array
            right after ``send``; False saves the copy for arrays never modified in place).
            Copies are reused once their send has completed. Packed samples are always copied
            (into the pack).
        pack_bytes: samples of at most half this size travel in packs of up to
            ``pack_bytes`` bytes of fields (plus 8 bytes per sample for its time), one message
            per pack (consecutive steps of one
            simulation, same shape and dtype; see :mod:`.protocol`); 0 sends every sample as
            its own message. A pack goes when full, when the next sample does not fit it, at
            ``close``, and with the first sample after it is ``max_pack_age_s`` old.
        split_bytes: uncopied samples (``copy=False``) of at least this size that would be
            packed go in a split pack of up to ``4 * pack_bytes`` bytes of fields and
            :data:`SPLIT_MAX_SAMPLES` samples instead (no copy; see the module docstring); 0:
            all uncopied packable samples; None (default): never, they are copied into packs.
        max_pack_age_s: a pack open this long goes with the next sample instead of taking it,
            so a slow solver's samples still travel every few seconds: a trainer waiting for
            data hears from the solver (see the receiver's ``stall_timeout``) and the wire is
            busy while the simulation runs rather than at its end.
        wait_large: with ``copy``, a field too large to pack (more than ``pack_bytes // 2``,
            C-contiguous) is not copied: it is sent from the caller's array, its values are
            checked while MPI moves it, and ``send`` returns once MPI has moved it, as a
            blocking ``MPI_Send`` does. Faster for producers that outrun the transport, slower
            for solvers that compute between sends (see the module docstring). False
            (default): copy it and return at once.
        chain_s: a copied pack whose simulation ended may take the next simulations sent to
            the same trainer (same shape and dtype; at most :data:`CHAIN_MAX_SEGMENTS`) for
            this many seconds after the first of them ended, so that short simulations share
            messages too (:data:`~.protocol.FLAG_CHAIN`); a pack older than that goes at the
            next ``open`` (or ``shutdown``), so the trainer gets a simulation at most this
            much later than without chaining plus the time to the next ``open``. 0: every
            simulation's last pack goes at ``close``.
    """

    def __init__(self, comm, trainer_ranks: Sequence[int], param_names: Sequence[str],
                 max_in_flight: int = 4, credits: int = 1024,
                 window_bytes: int = DEFAULT_WINDOW_BYTES, copy: bool = True,
                 pack_bytes: int = DEFAULT_PACK_BYTES,
                 split_bytes: int | None = DEFAULT_SPLIT_BYTES,
                 max_pack_age_s: float = DEFAULT_MAX_PACK_AGE_S, wait_large: bool = False,
                 chain_s: float = DEFAULT_CHAIN_S):
        self.comm = comm
        self.trainer_ranks = tuple(int(r) for r in trainer_ranks)
        if not self.trainer_ranks:
            raise ValueError("trainer_ranks must not be empty")
        self.param_names = tuple(param_names)
        if len(self.param_names) > MAX_PARAMS:
            raise ValueError(f"at most {MAX_PARAMS} parameters, got {len(self.param_names)}")
        for name, v in (("max_in_flight", max_in_flight), ("credits", credits),
                        ("window_bytes", window_bytes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if isinstance(pack_bytes, bool) or not isinstance(pack_bytes, int) or pack_bytes < 0:
            raise ValueError(f"pack_bytes must be an integer >= 0, got {pack_bytes!r}")
        if split_bytes is not None and (isinstance(split_bytes, bool)
                                        or not isinstance(split_bytes, int) or split_bytes < 0):
            raise ValueError(f"split_bytes must be an integer >= 0 or None (never split), got "
                             f"{split_bytes!r}")
        if isinstance(max_pack_age_s, bool) or not (isinstance(max_pack_age_s, (int, float))
                                                    and max_pack_age_s > 0):
            raise ValueError(f"max_pack_age_s must be a number of seconds > 0, got "
                             f"{max_pack_age_s!r}")
        self.max_pack_age_s = float(max_pack_age_s)
        if isinstance(chain_s, bool) or not (isinstance(chain_s, (int, float)) and chain_s >= 0):
            raise ValueError(f"chain_s must be a number of seconds >= 0, got {chain_s!r}")
        self.chain_s = float(chain_s)
        if not isinstance(wait_large, bool):
            raise ValueError(f"wait_large must be True or False, got {wait_large!r}")
        self.wait_large = wait_large
        self.max_in_flight, self.credits, self.copy = max_in_flight, credits, copy
        self.window_bytes, self.pack_bytes = window_bytes, pack_bytes
        self.split_bytes = split_bytes
        # the size from which uncopied packable samples go in split packs (inf: never)
        self._split_from = math.inf if split_bytes is None else split_bytes
        self._pack: _Pack | _SplitPack | None = None
        self._credits = {r: credits for r in self.trainer_ranks}
        self._window = {r: window_bytes for r in self.trainer_ranks}
        self._fin: set[int] = set()
        # (requests, arrays to keep alive, our own copy to reuse once the requests complete)
        self._in_flight: deque[tuple[list, tuple, np.ndarray | None]] = deque()
        self._spare: deque[np.ndarray] = deque(maxlen=max_in_flight)
        self._credit_buf = np.zeros(2, dtype=np.int64)
        self._sim: int | None = None
        self._last_sim: int | None = None  # the last simulation closed or failed
        # the open simulation's first sample's shape and dtype: all its samples must match
        self._shape: tuple[int, ...] | None = None
        self._dtype: np.dtype | None = None
        self._dst = -1
        self._values: list[float] = []
        self._n_sent = 0
        # the NonFiniteFieldsError send raised for the open simulation: close() raises it again
        self._tainted: NonFiniteFieldsError | None = None
        self._shut = False
        self._stats = {"samples": 0, "bytes": 0, "sims_closed": 0, "sims_failed": 0,
                       "samples_unsent": 0, "messages": 0, "split_packs": 0, "copies": 0,
                       "allocations": 0, "chain_packs": 0, "chain_segments": 0, "waited": 0,
                       "credit_waits": 0, "credit_wait_s": 0.0,
                       "max_in_flight_seen": 0, "in_flight_waits": 0, "in_flight_wait_s": 0.0}

    # -- simulation lifecycle --------------------------------------------------------------
    def open(self, sim_id: int, params: Mapping[str, SupportsFloat],
             trainer: int | None = None) -> None:
        """Start streaming simulation ``sim_id`` with parameters ``params`` (all the run's
        names, finite floats) to the trainer of world rank ``trainer`` (one of
        ``trainer_ranks``; None: :func:`route` picks it from ``sim_id``)."""
        if self._shut:
            raise RuntimeError("StreamClient: open after shutdown")
        if self._sim is not None:
            raise RuntimeError(f"StreamClient: simulation {self._sim} is still open; close() or "
                               f"fail() it first")
        if isinstance(sim_id, bool) or not isinstance(sim_id, (int, np.integer)) or sim_id < 0:
            raise BadSampleError(f"sim_id must be an integer >= 0, got {sim_id!r}")
        values = self._param_values(params)
        if trainer is None:
            trainer = (self.trainer_ranks[0] if len(self.trainer_ranks) == 1
                       else route(int(sim_id), self.trainer_ranks))
        elif isinstance(trainer, bool) or trainer not in self.trainer_ranks:
            raise ValueError(f"trainer must be one of the trainer ranks "
                             f"{list(self.trainer_ranks)} or None, got {trainer!r}")
        self._sim, self._dst = int(sim_id), int(trainer)
        self._values = values
        self._n_sent = 0
        self._tainted = None
        self._shape = self._dtype = None
        p = self._pack  # ended simulations waiting in a chain pack
        if p is not None and time.monotonic() - p.ended >= self.chain_s:
            self._flush_pack()

    def _param_values(self, params: Mapping[str, SupportsFloat]) -> list[float]:
        """``params``' values as floats in ``param_names`` order, or :class:`BadSampleError`
        unless it holds exactly those names, each a finite number."""
        names = self.param_names
        if type(params) is dict and len(params) == len(names):
            # the common case, in one pass (half of open's time before)
            try:
                values = [float(params[n]) for n in names]
            except (KeyError, TypeError, ValueError, RuntimeError):
                values = None
            if values is not None and all(map(math.isfinite, values)):
                return values
        checked = check_finite_params(params)
        if set(checked) != set(names):
            missing = [n for n in names if n not in checked]
            extra = sorted(set(checked) - set(names))
            raise BadSampleError(f"params must have exactly the names {list(names)}"
                                 f" (the client's param_names), got {sorted(checked)}: missing "
                                 f"{missing}, unexpected {extra}")
        return [checked[n] for n in names]

    def send(self, fields: np.ndarray | torch.Tensor, t: float, step: int | None = None,
             copy: bool | None = None) -> None:
        """Send one state ``fields (C, *grid)`` (float16/32/64, 1..4 dims; a numpy array, a
        torch tensor on any device, or anything ``np.asarray`` takes) at time ``t``; every
        sample of a simulation has the shape and dtype of its first.
        ``step`` defaults to the number of samples sent so far in this simulation; ``copy``
        overrides the client's ``copy`` for this sample (False: nothing writes into
        ``fields`` afterwards, e.g. a solver step that returns new arrays; the client keeps
        a reference until the send completes, for a sample in a split pack until that pack is
        sent and completes). Small packed samples are copied either way.

        Waits for a credit and for a free in-flight slot (back-pressure).

        Raises :class:`~.sample.BadSampleError` (a ValueError) for fields of another dims,
        dtype or shape (see above), ``step < 0`` or a non-finite ``t`` (the trainer would
        reject the message and drop the simulation, which the scheduler counts as done);
        nothing of the sample is sent, and the simulation stays open.

        Raises :class:`NonFiniteFieldsError` (a :class:`SolverDivergedError`) on NaN/inf in
        the fields: at once for fields sent on their own or in split packs; for small
        fields copied into a pack, when the pack goes or at :meth:`close`, since one check
        per pack instead of one per sample is what keeps small fields fast. Then
        :meth:`fail` the simulation (:func:`run_solver_rank` does, and the scheduler
        resubmits it); :meth:`close` raises the same error again.
        """
        p = self._pack
        # fast path, the common case for small fields: the next step of the open copied pack,
        # or the first step of a simulation joining a chain pack. The general path below
        # costs ~1.5 us more per sample, as much as a 4 KiB MPI send; the stats are brought
        # up to date when the pack goes (_settle)
        if (type(fields) is _ndarray and type(p) is _Pack and (n := p.n) < p.capacity
                and fields.shape == p.shape and fields.dtype == p.dtype):
            now = _monotonic()
            # not int(step) (45 ns, a tenth of the path's checks): a step equal to the next one is
            # that integer, and any other takes the general path, which converts it
            s = self._n_sent if step is None else step
            tf = float(t)
            # a negative step never continues a pack (its base + n is >= 0); a bad t goes on
            # to _send's checks
            if (now < p.deadline and _isfinite(tf)
                    and (p.small or (self.copy if copy is None else copy))
                    and (s == p.base + n
                         or (p.sim is None and self._joins_chain(p, int(s), now)))):
                p.fields[n] = fields  # ~0.3 us less than np.copyto for 4 KiB
                p.times.append(tf)
                p.n = n + 1
                self._n_sent += 1
                return
        if self._sim is None:
            if self._last_sim is None:
                raise RuntimeError("StreamClient: send before open(): no simulation is open")
            raise RuntimeError(f"StreamClient: send with no simulation open (simulation "
                               f"{self._last_sim} was closed or failed): open() the next one")
        try:
            self._send(fields, t, step, copy)
        except NonFiniteFieldsError as err:
            # whichever path found it (a pack, a split pack, a field on its own), the
            # simulation can only fail now: close() raises it again
            self._tainted = err
            raise

    def _send(self, fields: np.ndarray | torch.Tensor, t: float, step: int | None,
              copy: bool | None) -> None:
        """``send`` past its fast path, with a simulation open."""
        if isinstance(fields, torch.Tensor):
            try:
                arr = fields.detach().to("cpu").numpy()
            except TypeError:  # a dtype numpy lacks (bfloat16, ...)
                raise BadSampleError(f"simulation {self._sim}: fields dtype must be float16, "
                                     f"float32 or float64, got {fields.dtype} at step "
                                     f"{self._n_sent if step is None else step} (e.g. "
                                     f"u.float())") from None
        else:
            arr = np.asarray(fields)
            if arr.dtype.byteorder == ">":
                # e.g. read from a big-endian file; a pack holds raw bytes, which the trainer
                # reads as little-endian (the wire's order)
                arr = arr.astype(arr.dtype.newbyteorder("<"))
        step = self._n_sent if step is None else int(step)
        if step < 0:
            raise BadSampleError(f"simulation {self._sim}: step must be >= 0, got {step}")
        t = float(t)
        if not math.isfinite(t):
            raise BadSampleError(f"simulation {self._sim}: t must be finite, got {t} at step "
                                 f"{step}")
        if arr.shape != self._shape or arr.dtype != self._dtype:
            self._check_fields(arr, step)
        copy = self.copy if copy is None else copy
        if 2 * arr.nbytes <= self.pack_bytes:
            if (not copy and arr.nbytes >= self._split_from and arr.flags.c_contiguous
                    and arr.dtype.byteorder != ">"):
                self._add_to_split(arr, t, step)
            else:
                self._add_to_pack(arr, t, step)
        else:
            self._flush_pack()
            if (copy and self.wait_large and arr.flags.c_contiguous
                    and arr.dtype.byteorder != ">"):
                self._send_through(arr, t, step)
                return
            own = None
            if copy or not arr.flags.c_contiguous:
                arr = own = self._copy(arr)
                self._stats["copies"] += 1
            # checked here, where the array is in cache, so the trainer need not read it
            # twice
            if not all_finite(arr):
                if own is not None:
                    self._spare.append(own)
                raise NonFiniteFieldsError(self._sim, step, t)
            header, payload = encode_data(arr, t, step, self._sim, self._values,
                                          finite=True)
            self._take_credit(self._dst, header.nbytes + payload.nbytes)
            self._post(header, payload, arr, own=own)
            self._stats["messages"] += 1
        self._count_sent(arr)

    def close(self) -> None:
        """End the open simulation successfully: the trainer commits its samples. Raises
        :class:`NonFiniteFieldsError` if one of its samples still in a pack holds NaN/inf
        (see :meth:`send`), or again if :meth:`send` raised it for this simulation (whatever
        path its fields took); the simulation then stays open for :meth:`fail`."""
        sim = self._require_open()
        if self._tainted is not None:
            err = self._tainted
            raise NonFiniteFieldsError(err.sim_id, err.step, err.time)
        p = self._pack
        if type(p) is _Pack and p.sim == sim:
            try:
                self._check_pack(p)
            except NonFiniteFieldsError as err:
                self._tainted = err
                raise
        if type(p) is _Pack and p.sim == sim and self.chain_s and p.n < p.capacity:
            p.end(self._n_sent)  # the END waits in the pack for the next simulations' samples
        elif p is not None and (type(p) is not _Pack or p.sim == sim):
            self._flush_pack(end=True)  # the last pack stands for the END
        else:
            self._flush_pack()  # earlier simulations' segments go first
            self._post(*encode_control(Kind.END, sim, step=self._n_sent))
        self._sim, self._last_sim = None, sim
        self._stats["sims_closed"] += 1

    def fail(self, reason: str = "") -> None:
        """End the open simulation as failed: the trainer drops its samples. No-op if no
        simulation is open."""
        if self._sim is None:
            return
        p, self._pack = self._pack, None
        if isinstance(p, _Pack):  # never sent: the trainer drops the simulation anyway
            self._settle(p)
            if p.sim == self._sim:  # only the failed simulation's samples stay behind
                self._stats["samples_unsent"] += p.n - p.start
                p.n, p.sim = p.start, None
                p.checked, p.stated = min(p.checked, p.n), min(p.stated, p.n)
            self._pack = p
            self._flush_pack()  # earlier simulations' segments go first; else kept for reuse
        elif isinstance(p, _SplitPack):
            self._stats["samples_unsent"] += len(p.arrays)
        self._post(*encode_control(Kind.FAILED, self._sim, step=self._n_sent,
                                   text=reason[:1000]))
        self._sim, self._last_sim = None, self._sim
        self._tainted = None
        self._stats["sims_failed"] += 1

    def shutdown(self) -> None:
        """Tell every trainer this rank is done, complete all sends, and wait for each
        trainer's final credit message. Call once, on every solver rank."""
        self._shutdown(stacklevel=3)

    def _shutdown(self, stacklevel: int) -> None:
        """:meth:`shutdown`; a warning about an open simulation points ``stacklevel`` frames
        up (the caller's line: of ``shutdown()``, or the end of its ``with`` block)."""
        if self._shut:
            return
        if self._sim is not None:
            # the trainer would drop it anyway; say so, since a forgotten close() looks like a
            # simulation that never arrived
            n = self._n_sent
            warnings.warn(f"StreamClient.shutdown with simulation {self._sim} still open ({n} "
                          f"samples discarded): call close() (or fail()) first",
                          RuntimeWarning, stacklevel=stacklevel)
            self.fail("client shut down with the simulation open")
        self._flush_pack()  # ended simulations waiting in a chain pack
        for r in self.trainer_ranks:
            self._post(*encode_control(Kind.DONE), dest=r)
        while self._in_flight:
            self._wait_oldest()
        self._spare.clear()
        for r in self.trainer_ranks:
            while r not in self._fin:
                # a blocking Recv would busy-poll while the trainer finishes its work
                poll_until(lambda r=r: self.comm.Iprobe(source=r, tag=TAG_CREDIT))
                self._recv_credit(r)
        self._shut = True

    def stats(self) -> dict[str, Any]:
        """samples (given to ``send``), samples_unsent (of failed simulations, still in a pack
        when ``fail`` dropped it), bytes, sims_closed, sims_failed, messages (DATA messages
        posted; a pack is one), split_packs (of those, split packs), copies (unpacked fields
        copied before sending), credit_waits (sends that waited for a credit), credit_wait_s,
        waited (fields sent from the caller's array, ``send`` returning once MPI had moved
        them: ``wait_large``), max_in_flight_seen, in_flight_waits (messages that waited for a
        free in-flight slot), in_flight_wait_s, allocations (arrays allocated to copy
        into: packs and copies of large fields; the rest reuse a completed send's),
        chain_packs (DATA messages holding several simulations) and chain_segments (the
        simulations in them)."""
        if isinstance(self._pack, _Pack):
            self._settle(self._pack)
        return dict(self._stats)

    def __enter__(self) -> StreamClient:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        """:meth:`shutdown`, after failing the open simulation if the block raised (the
        exception then goes on)."""
        if exc_type is not None and self._sim is not None:
            self.fail(f"{exc_type.__name__} in the solver's loop")
        self._shutdown(stacklevel=3)

    # -- internals -------------------------------------------------------------------------
    def _settle(self, p: _Pack) -> None:
        """Count the samples ``send``'s fast path added to ``p`` in the stats."""
        unstated = p.n - p.stated
        self._stats["samples"] += unstated
        self._stats["bytes"] += unstated * p.fields[0].nbytes
        p.stated = p.n

    def _count_sent(self, arr: np.ndarray) -> None:
        self._n_sent += 1
        self._stats["samples"] += 1
        self._stats["bytes"] += arr.nbytes

    def _send_through(self, arr: np.ndarray, t: float, step: int) -> None:
        """Send one unpacked sample straight from the caller's array and return once MPI has
        moved it (``wait_large``): its values are checked while they travel, and the verdict
        follows the payload (:data:`~.protocol.FLAG_VERDICT`)."""
        header = data_header(arr.shape, arr.dtype, t, step, self._sim, self._values, False,
                             arr.nbytes, verdict=True)
        self._take_credit(self._dst, header.nbytes + arr.nbytes + 8)
        self._post(header, arr.reshape(-1).view(np.uint8))
        # the transfer and this check both only read the array: they run side by side
        finite = all_finite(arr)
        verdict = np.array([VERDICT_FINITE if finite else 0], np.int64)
        req = self.comm.Isend(verdict, dest=self._dst, tag=TAG_PAYLOAD)
        self._in_flight.append(([req], (verdict,), None))
        while self._in_flight:
            self._wait_oldest(blocking=True)
        self._stats["messages"] += 1
        self._stats["waited"] += 1
        self._count_sent(arr)
        if not finite:  # already on its way: the verdict has the trainer reject it
            raise NonFiniteFieldsError(self._sim, step, t)

    def _require_open(self) -> int:
        if self._sim is None:
            was = "" if self._last_sim is None else (f" (simulation {self._last_sim} was "
                                                     f"closed or failed)")
            raise RuntimeError(f"StreamClient: no simulation is open{was}")
        return self._sim

    def _check_fields(self, arr: np.ndarray, step: int) -> None:
        """Validate a sample that starts the open simulation or differs from its first
        sample's shape or dtype, before any of it is packed or sent."""
        if self._shape is None:
            if not 1 <= arr.ndim <= MAX_DIMS:
                raise BadSampleError(f"simulation {self._sim}: fields must have 1..{MAX_DIMS} "
                                     f"dims (C, *grid), got shape {arr.shape} at step {step}")
            try:
                dtype_code(arr.dtype)
            except ValueError:
                raise BadSampleError(f"simulation {self._sim}: fields dtype must be float16, "
                                     f"float32 or float64, got {arr.dtype} at step {step} "
                                     f"(e.g. u.astype(np.float32))") from None
            self._shape, self._dtype = arr.shape, arr.dtype
            return
        what, got, first = (("shape", arr.shape, self._shape) if arr.shape != self._shape
                            else ("dtype", arr.dtype, self._dtype))
        # the trainer stacks a simulation's steps into pairs and batches
        raise BadSampleError(f"simulation {self._sim}: fields {what} {got} at step {step} "
                             f"differs from {first} at its first step")

    def _check_pack(self, p: _Pack) -> None:
        """Check the samples of ``p`` not yet checked for NaN/inf; raise
        :class:`NonFiniteFieldsError` for the first bad one (it can only be the open
        simulation's: earlier ones were checked at their close)."""
        if p.checked < p.n and not all_finite(p.fields[p.checked: p.n]):
            i = next(i for i in range(p.checked, p.n) if not all_finite(p.fields[i]))
            raise NonFiniteFieldsError(self._sim, p.base + i, float(p.times[i]))
        p.checked = p.n

    def _add_to_pack(self, arr: np.ndarray, t: float, step: int) -> None:
        """Copy one small sample into the open pack (sending the pack first if the sample
        does not continue it or does not fit)."""
        p = self._pack
        if isinstance(p, _Pack) and p.sim is None and self._chains(p, arr):
            p.begin(self._sim, self._values, step)  # the next simulation joins the pack
        elif p is not None and not (isinstance(p, _Pack) and self._continues(p, p.n, arr, step)):
            self._flush_pack()
            p = None
        if p is None:
            capacity = max(1, self.pack_bytes // arr.nbytes)  # and 8 bytes per time
            room = chain_nbytes(CHAIN_MAX_SEGMENTS, len(self.param_names)) if self.chain_s else 0
            buffer = self._take_spare((pack_nbytes(capacity, arr.nbytes) + room,),
                                      np.dtype(np.uint8))
            p = self._pack = _Pack(buffer, arr.shape, arr.dtype, capacity,
                                   small=arr.nbytes < self._split_from, dst=self._dst,
                                   max_age_s=self.max_pack_age_s)
            p.begin(self._sim, self._values, step)
        np.copyto(p.fields[p.n], arr)
        p.times.append(t)
        p.n += 1
        p.stated += 1  # _send counts it

    def _continues(self, p: _Pack | _SplitPack, n: int, arr: np.ndarray, step: int) -> bool:
        """Whether ``arr`` at ``step`` may join the open pack ``p`` holding ``n`` samples:
        room left, the next step, same shape and dtype, and not yet ``max_pack_age_s`` old
        (``send``'s fast path checks the same inline)."""
        return (n < p.capacity and step == p.base + n and arr.shape == p.shape
                and arr.dtype == p.dtype and time.monotonic() < p.deadline)

    def _joins_chain(self, p: _Pack, step: int, now: float) -> bool:
        """``send``'s fast path for the open simulation's first sample, at ``step``, whose
        shape and dtype are those of ``p``: whether it may join ``p``, whose simulations all
        ended (as :meth:`_chains` decides; that pack's shape and dtype passed
        :meth:`_check_fields`), and if so open its segment."""
        if (self._sim is None or self._shape is not None or step < 0 or p.dst != self._dst
                or len(p.closed) >= CHAIN_MAX_SEGMENTS or now - p.ended >= self.chain_s):
            return False
        self._shape, self._dtype = p.shape, p.dtype
        p.begin(self._sim, self._values, step)
        return True

    def _chains(self, p: _Pack, arr: np.ndarray) -> bool:
        """Whether the open simulation's first sample ``arr`` may join the pack ``p``, whose
        simulations all ended: the same trainer, shape and dtype, room for a sample and a
        segment, and within ``chain_s`` of the first end (``max_pack_age_s`` of the start)."""
        now = time.monotonic()
        return (p.dst == self._dst and p.n < p.capacity and len(p.closed) < CHAIN_MAX_SEGMENTS
                and arr.shape == p.shape and arr.dtype == p.dtype
                and now - p.ended < self.chain_s and now < p.deadline)

    def _add_to_split(self, arr: np.ndarray, t: float, step: int) -> None:
        """Add one uncopied sample to the open split pack (sending the open pack first if the
        sample does not continue it or does not fit)."""
        # checked now, while the solver's new state is likely still in cache, and before a
        # split pack is opened for it (an empty one has nothing to send)
        if not all_finite(arr):
            raise NonFiniteFieldsError(self._sim, step, t)
        p = self._pack
        if p is not None and not (isinstance(p, _SplitPack)
                                  and self._continues(p, len(p.arrays), arr, step)):
            self._flush_pack()
            p = None
        if p is None:
            # nothing is copied, so larger than a copied pack: fewer headers per sample
            capacity = max(1, min(SPLIT_MAX_SAMPLES, 4 * self.pack_bytes // arr.nbytes))
            p = self._pack = _SplitPack(arr.shape, arr.dtype, step, capacity,
                                        self.max_pack_age_s)
        p.arrays.append(arr)
        p.times.append(t)

    def _flush_split(self, p: _SplitPack, end: bool) -> None:
        n = len(p.arrays)
        sample_bytes = p.arrays[0].nbytes
        nbytes = pack_nbytes(n, sample_bytes)
        # one message per field, not one message gathering them with an hindexed datatype: that
        # moved 0.25 of raw MPI's MB/s at 256 KiB and almost nothing at 1 MiB (mpich 5.0.2,
        # shared memory, benchmarks/streaming.py part a --no-copy), against 0.75-0.95 this way
        payloads = [a.reshape(-1).view(np.uint8) for a in p.arrays]
        if n > 1:
            payloads.append(np.array(p.times, np.float64).view(np.uint8))
        header = data_header(p.shape, p.dtype, p.times[0], p.base, self._sim, self._values,
                             True, nbytes, count=n, end_total=self._n_sent if end else 0,
                             split=n > 1)
        self._take_credit(self._dst, header.nbytes + nbytes)
        self._post(header, payloads[0] if n == 1 else payloads)
        self._stats["messages"] += 1
        self._stats["split_packs"] += n > 1

    def _flush_pack(self, end: bool = False) -> None:
        """Send the open pack, if any, as one DATA message; ``end``: it also ends the open
        simulation (:data:`~.protocol.FLAG_END`). A pack holding more than one simulation goes
        as a chain pack (:data:`~.protocol.FLAG_CHAIN`), its segment table after the times."""
        p = self._pack
        if p is None:
            return
        if isinstance(p, _Pack):
            self._check_pack(p)  # raises with the pack still open, for fail() to drop
        self._pack = None
        if isinstance(p, _SplitPack):
            self._flush_split(p, end)
            return
        self._settle(p)
        if p.sim is not None:
            p.end(self._n_sent if end else 0)
        segments = p.closed
        if not segments:  # nothing left (a failed simulation's samples were dropped)
            self._spare.append(p.buffer)
            return
        sample_bytes = p.fields[0].nbytes
        nbytes = pack_nbytes(p.n, sample_bytes)
        if p.n > 1:  # the times follow the fields
            tail = p.buffer[p.n * sample_bytes: nbytes]
            tail.view(np.float64)[:] = p.times[: p.n]
        sim, first, _, total, values = segments[0]
        chain = len(segments) if len(segments) > 1 else 0
        if chain:
            k = len(segments)
            table = p.buffer[nbytes: nbytes + chain_nbytes(k, len(values))]
            table[: 32 * k].view("<i8").reshape(k, 4)[:] = [sg[:4] for sg in segments]
            table[32 * k:].view("<f8").reshape(k, len(values))[:] = [sg[4] for sg in segments]
            nbytes += table.nbytes
            total = 0
        header = data_header(p.shape, p.dtype, float(p.times[0]), first, sim, values, True,
                             nbytes, count=p.n, end_total=total, chain=chain)
        self._take_credit(p.dst, header.nbytes + nbytes)
        self._post(header, p.buffer[:nbytes], own=p.buffer, dest=p.dst)
        self._stats["messages"] += 1
        self._stats["chain_packs"] += bool(chain)
        self._stats["chain_segments"] += chain

    def _copy(self, arr: np.ndarray) -> np.ndarray:
        spare = self._take_spare(arr.shape, arr.dtype)
        np.copyto(spare, arr)
        return spare

    def _take_spare(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An array of ``shape``/``dtype`` to copy into: a finished send's copy if one fits.
        A fresh multi-MiB array per sample costs page faults about as large as the copy
        itself (measured by benchmarks/streaming.py). The most recently released goes first:
        its memory is the likeliest to still be in cache."""
        for i in range(len(self._spare) - 1, -1, -1):
            spare = self._spare[i]
            if spare.shape == shape and spare.dtype == dtype:
                del self._spare[i]
                return spare
        self._stats["allocations"] += 1
        return np.empty(shape, dtype)

    def _post(self, header: np.ndarray, payload: np.ndarray | list[np.ndarray], keep: Any = None,
              dest: int | None = None, own: np.ndarray | None = None) -> None:
        self._sends_pending()  # releases the messages that have gone
        if len(self._in_flight) >= self.max_in_flight:
            t0 = time.perf_counter()
            while len(self._in_flight) >= self.max_in_flight:
                self._wait_oldest()
            self._stats["in_flight_waits"] += 1
            self._stats["in_flight_wait_s"] += time.perf_counter() - t0
        dest = self._dst if dest is None else dest
        reqs = isend_message(self.comm, dest, header, payload)
        # the arrays must outlive their requests
        self._in_flight.append((reqs, (header, payload, keep), own))
        self._stats["max_in_flight_seen"] = max(self._stats["max_in_flight_seen"],
                                                len(self._in_flight))

    def _wait_oldest(self, blocking: bool = False) -> None:
        """Wait until the oldest message in flight has gone, napping between polls (MPICH's
        ``Waitall`` busy-polls its core for as long as the trainer takes to receive a large
        message, and where ranks share cores that is the trainer's CPU); ``blocking``: with
        ``Waitall``, as a blocking ``MPI_Send`` (``wait_large``: 0.80-0.88 of raw MPI's MB/s
        napping against 0.88-0.91 for 8 MiB fields, three alternating jobs each)."""
        entry = self._in_flight.popleft()
        reqs = entry[0]
        MPI = mpi()
        if blocking:
            MPI.Request.Waitall(reqs)
        elif not MPI.Request.Testall(reqs):
            # our own send: without CMA it moves only while we poll (streaming.polling)
            poll_until(lambda: MPI.Request.Testall(reqs), busy=lambda: True)
        self._release(entry)

    def _sends_pending(self) -> bool:
        """Whether messages of ours are still in flight, releasing those that have gone: the
        credits a client waits for come back only once the trainer has its messages, which
        without CMA move only while this rank polls (:mod:`.polling`)."""
        MPI = mpi()
        while self._in_flight and MPI.Request.Testall(self._in_flight[0][0]):
            self._release(self._in_flight.popleft())
        return bool(self._in_flight)

    def _release(self, entry: tuple[list, tuple, np.ndarray | None]) -> None:
        """After an entry's requests completed: keep its copy for reuse (the oldest spare
        goes when ``max_in_flight`` are kept)."""
        if entry[2] is not None:
            self._spare.append(entry[2])

    def _can_send(self, dst: int, cost: int) -> bool:
        window = self._window[dst]
        return self._credits[dst] > 0 and (window >= cost or window >= self.window_bytes)

    def _take_credit(self, dst: int, cost: int) -> None:
        def credited() -> bool:
            # Iprobe also progresses our outstanding Isends
            while self.comm.Iprobe(source=dst, tag=TAG_CREDIT):
                self._recv_credit(dst)
            return self._can_send(dst, cost)

        if not credited():
            self._stats["credit_waits"] += 1
            self._stats["credit_wait_s"] += poll_until(credited, busy=self._sends_pending)
        self._credits[dst] -= 1
        self._window[dst] -= cost

    def _recv_credit(self, src: int) -> None:
        self.comm.Recv(self._credit_buf, source=src, tag=TAG_CREDIT)
        n, nbytes = (int(v) for v in self._credit_buf)
        if n == CREDIT_FIN:
            self._fin.add(src)
        else:
            self._credits[src] += n
            self._window[src] += nbytes


def solver_simulation(solver: Solver, n_steps: int, dt: float,
                      dtype: torch.dtype = torch.float32) -> Callable[[Task, StreamClient], None]:
    """A ``simulate(task, client)`` for :func:`run_solver_rank` running one trajectory of a
    time-dependent ``solver``: initial state from ``solver.sample(1, task.seed)``, parameters
    from the task, then ``n_steps`` advances of ``dt`` (time units); sends steps 0..n_steps.
    A diverging run raises :class:`SolverDivergedError` (the simulation is then failed).
    States are sent without the client's copy: ``advance`` returns new states, never writes
    into its input and never reuses a state it returned (the solver contract,
    ``tests/solvers/test_contract.py``), so a state stays as sent while the solver goes on,
    also while it waits in a split pack; large 2-D fields save a pass over memory per sample."""
    if solver.steady:
        raise ValueError(f"{solver.name} is steady: online next-step training needs a "
                         f"time-dependent solver")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    if not (isinstance(dt, (int, float)) and dt > 0):
        raise ValueError(f"dt must be a positive number, got {dt!r}")

    expected = (1, solver.channels, *solver.shape)

    def simulate(task: Task, client: StreamClient) -> None:
        u, _ = solver.sample(1, task.seed, dtype=dtype)
        _check_state(solver, "sample", u, expected, dtype, 0)
        params = {k: torch.tensor([v], dtype=dtype) for k, v in task.params.items()}
        client.send(u[0], t=0.0, step=0, copy=False)
        for k in range(1, n_steps + 1):
            u = solver.advance(u, params, dt)
            _check_state(solver, "advance", u, expected, dtype, k)
            solver.check_finite(u, k * dt)
            client.send(u[0], t=k * dt, step=k, copy=False)

    return simulate


def _check_state(solver: Solver, call: str, u: Any, shape: tuple[int, ...], dtype: torch.dtype,
                 step: int) -> None:
    """Raise :class:`BadSampleError` naming ``solver`` unless its ``call`` returned a tensor of
    ``shape`` ``(1, channels, *grid)`` and ``dtype``: the solver contract
    (:class:`~pdesurrogate.solvers.base.Solver`), which the model and the trainer's validation
    rollouts rely on. Checked once per state (a tuple comparison)."""
    if isinstance(u, torch.Tensor) and u.shape == shape and u.dtype == dtype:
        return
    got = (f"a {type(u).__name__}" if not isinstance(u, torch.Tensor)
           else f"{u.dtype} states of shape {tuple(u.shape)}")
    raise BadSampleError(f"solver {solver.name} ({type(solver).__module__}."
                         f"{type(solver).__qualname__}): {call} returned {got} at step {step}, "
                         f"expected {dtype} states of shape {shape} (1, channels, *grid), as "
                         f"the Solver contract says")


def run_solver_rank(roles: Roles, simulate: Callable[[Task, StreamClient], None],
                    param_names: Sequence[str], max_in_flight: int = 4, credits: int = 1024,
                    window_bytes: int = DEFAULT_WINDOW_BYTES,
                    pack_bytes: int = DEFAULT_PACK_BYTES,
                    split_bytes: int | None = DEFAULT_SPLIT_BYTES,
                    retry_on: tuple[type[BaseException], ...] = (SolverDivergedError,),
                    max_pack_age_s: float = DEFAULT_MAX_PACK_AGE_S, wait_large: bool = False,
                    chain_s: float = DEFAULT_CHAIN_S) -> dict[str, Any]:
    """Solver-rank main loop: ask the scheduler for tasks, run ``simulate(task, client)`` on
    each (it calls ``client.send``), close or fail it, until the scheduler says stop; then shut
    the client down (``max_in_flight`` .. ``split_bytes``, ``max_pack_age_s``, ``wait_large``,
    ``chain_s``: see :class:`StreamClient`). An
    exception of a type in ``retry_on`` fails the simulation (the
    scheduler resubmits it with a new seed), as does NaN/inf in the fields sent
    (:class:`NonFiniteFieldsError`, a :class:`SolverDivergedError`, unless ``retry_on`` leaves
    that out); any other exception propagates (a bug), and so does
    :class:`~.sample.BadSampleError` (fields of the wrong shape or dtype, parameters that are
    not numbers...) whatever ``retry_on`` says: it would recur in every simulation.
    Returns the client's stats."""
    if roles.is_trainer:
        raise ValueError("run_solver_rank must run on a solver rank")
    tasks = TaskClient(roles.control, tuple(param_names), root=roles.scheduler_rank)
    client = StreamClient(roles.data, roles.trainer_ranks, param_names,
                          max_in_flight=max_in_flight, credits=credits,
                          window_bytes=window_bytes, pack_bytes=pack_bytes,
                          split_bytes=split_bytes, max_pack_age_s=max_pack_age_s,
                          wait_large=wait_large, chain_s=chain_s)
    prev, outcome = -1, Outcome.NONE
    while (task := tasks.request(prev, outcome)) is not None:
        if task.trainer is not None and not 0 <= task.trainer < len(roles.trainer_ranks):
            raise RuntimeError(f"scheduler sent simulation {task.sim_id} to trainer "
                               f"{task.trainer}; this run has {len(roles.trainer_ranks)}")
        # the trainer the scheduler chose: it balances the trainers around failures
        client.open(task.sim_id, task.params, None if task.trainer is None
                    else roles.trainer_ranks[task.trainer])
        try:
            simulate(task, client)
            client.close()  # raises NonFiniteFieldsError for NaN/inf still in a pack
        except BadSampleError:
            raise  # not the simulation's fault: retries would only spend the budget
        except retry_on as err:
            print(f"[solver rank {roles.world.rank}] simulation {task.sim_id} attempt "
                  f"{task.attempt} failed: {err}", file=sys.stderr, flush=True)
            client.fail(f"{type(err).__name__}: {err}")
            outcome = Outcome.FAILED
        else:
            outcome = Outcome.DONE
        prev = task.sim_id
    client.shutdown()
    return client.stats()
