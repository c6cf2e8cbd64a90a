"""Trainer side of the stream: one thread receives samples into the training buffer.

:class:`Receiver` runs a single background thread that is the only user of the data and
control communicators on its rank. Each loop iteration it

1. polls the scheduler (world rank 0 only: :class:`~.scheduler.SchedulerServer`);
2. moves committed items into the buffer (``put`` with a short timeout; while the buffer is
   full it takes no new messages, so no credits go back and solvers wait: back-pressure);
3. takes up to ``burst`` messages, stopping early once the simulations committed since step 2
   hold ``commit_bytes``: ``Iprobe`` for a header from any solver, ``Recv`` it into a
   preallocated header buffer, ``Probe`` the matching payload's size, and receive a one-sample
   DATA payload straight into an array of the announced shape (that array becomes the sample;
   no second copy; arrays no sample holds any more are recycled, see :mod:`.pool`), a
   pack of small samples straight into one array per sample (one receive whose datatype
   scatters the payload, see :meth:`Receiver._recv_pack`), a split pack's samples each straight
   into its own array (:meth:`Receiver._recv_split`), and any other payload into a reusable
   scratch buffer; after a one-sample payload whose header says so, the sender's verdict on
   its values (:data:`~.protocol.FLAG_VERDICT`);
4. validates (:func:`~.protocol.parse_header`, :func:`~.protocol.check_pack`): a
   malformed message is counted (``stats()["malformed"]``, by reason) and dropped, and the
   simulation it belongs to is dropped at its END (a sample missing from a trajectory would
   break pairs and the END count check);
5. returns credits (messages and bytes) for the DATA messages it took: one coalesced credit
   message per source at the end of the burst, or at once when a source's owed bytes reach
   ``credit_bytes`` (a few large fields fill a client's window: holding their credits to the
   end of the burst would leave the client idle while the receiver drains its messages, and
   the receiver idle after); a malformed message is credited too, as it may have been a DATA
   message that cost one.

Samples of a simulation stay pending until its ``END`` (a control message, or the flag of its
last pack) arrives with the number of samples the client sent; then they are committed (as
:class:`~.sample.Pair` of consecutive steps when ``pairs=True``, else as single
:class:`Sample`).
``FAILED`` drops them. A simulation with more than ``max_pending_samples`` samples is dropped
whole (counted in ``sims_dropped``): pending memory is at most ``n_solver_ranks x
max_pending_samples`` samples, plus ``credits`` messages per solver on the network, plus
committed items waiting for the buffer (``commit_bytes``, plus the simulations the last message
ended; while a stuck lockstep lets solvers finish past the buffer's room, up to ``n_solver_ranks
x max_pending_samples`` items, and the buffer's ``max_bytes`` if it has one: see below), plus
the buffer.

End of stream: when every solver rank has sent DONE the thread commits what is left and
closes the buffer. :meth:`Receiver.should_continue` is the training loop's per-step agreement
across trainer ranks (an ``Iallreduce(MIN)`` on the trainer communicator, from the training
thread: hence ``MPI_THREAD_MULTIPLE``): every rank continues only if every rank can draw its
next batch, so DDP ranks take the same number of steps and none waits forever on an empty
buffer after the others stopped. When one rank's stream has ended and drained, the ranks agree
to end (:attr:`Receiver.end_agreed`) while another rank may still have simulations on the way
or committed items waiting for room in its full buffer: no batch is drawn after that, so its
thread stops waiting for room and takes every message up to the solvers' DONE; simulations
that complete are committed whole and their items stay in the commit queue, past the buffer's
capacity (``stats()["items_not_buffered"]``, never trained on, as the items a buffer holds at
the end). That is bounded: a stream ends only after the scheduler handed out its last task,
so what is left is what the solvers had already sent (with :class:`~.client.StreamClient`,
at most its credit window per solver: ``credits`` messages, ``window_bytes`` bytes).
:meth:`Receiver.join` then returns, and no simulation is lost at the end.

Lockstep training on uneven streams: a trainer whose buffer is full waits in
``should_continue`` for the others; its receiver then stops taking messages, and a solver in
the middle of a simulation routed to it waits for credits. If every solver is in that state
while another trainer is below its watermark, the one waits for the other. The ranks see it
in their agreement and lower their buffers' watermark to 1 until no receiver waits for room,
so the starving rank draws what it holds and the lockstep drains. If a rank still holds less
than a batch in the next agreement, each receiver that waits for room lets every solver
finish one simulation (up to the end of the first simulation it then sends, or its DONE or
FAILED): it takes those messages, returns their credits and commits the simulations into its
commit queue past the buffer's capacity (they go into the buffer as room appears), as after
``end_agreed``; the solvers then ask for new tasks, which the scheduler also routes to the
starving rank. A solver that starts another simulation for that rank waits for room again,
until the next such agreement. Memory: each agreement adds at most one simulation per solver
(``max_pending_samples`` samples), and no message is taken past room once the commit queue
holds ``n_solver_ranks x max_pending_samples`` items or, if the buffer has a ``max_bytes``,
once the commit queue and the granted simulations still pending hold that many bytes
(counted as the buffer counts items, checked before each message: the bound holds to within
one message), so a stuck lockstep never has the grants hold more than ``max_bytes`` past the
buffer (buffer and commit queue together about twice ``max_bytes``; what the queue held
before the grant is counted, so a queue already over it takes nothing); the grants end when
the commit queue fits the buffer again. A bound reached in the middle of a granted
simulation leaves its solver waiting for credits, as without the grant. A lockstep that
stays stuck past the bound (a rank whose simulations never add up to a batch while another's
fill its buffer and the bound) stalls: letting it go on would take memory past that bound,
train a rank on fewer items than a batch, or drop received simulations. ``stall_timeout``'s
error then names the rank that waits for data, how many items it holds against the batch,
the rank at its bound and which bound, and what to change. A reservoir buffer does not
starve once past its watermark (draws repeat), and a capacity of at least ``watermark +
samples per simulation`` lets each committed simulation fit; size buffers so.

Stop and checkpoint: :meth:`Receiver.request_stop` (e.g. from a signal handler) makes the next
:meth:`~Receiver.should_continue` return False on every trainer rank, with
:attr:`~Receiver.stopped` set.
:meth:`Receiver.snapshot` asks the thread for a consistent copy of what this rank holds (buffer
contents and seen counts, items committed but not yet in the buffer, and the ids of the
simulations whose samples were committed here) at a point between two messages. With
``freeze=True`` the thread then stops committing and stops waiting for buffer room: later
simulations are received and credited (so solvers finish) but discarded
(:attr:`~Receiver.discarded_sims`), and the scheduler hands out no more tasks; the items
committed before it stay in the commit queue (the snapshot holds them). Until that snapshot a
stopped receiver keeps its back-pressure, so take it before :meth:`~Receiver.join`. A resumed run
passes the snapshot to :meth:`Receiver.restore` before :meth:`~Receiver.start`; a simulation
counts as done exactly when it is in some trainer's ``committed_sims``.
"""

from __future__ import annotations

import math
import operator
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from .buffers import TrainingBuffer
from .polling import poll_until
from .pool import ArrayPool
from .protocol import (
    CREDIT_FIN,
    HEADER_BYTES,
    TAG_CREDIT,
    TAG_HEADER,
    TAG_PAYLOAD,
    VERDICT_FINITE,
    Header,
    Kind,
    MalformedMessage,
    chain_nbytes,
    chain_segments,
    check_pack,
    parse_header,
    payload_array,
    split_messages,
)
from .roles import Roles, mpi, require_thread_multiple
from .sample import Item, Sample, item_from_state, item_to_state, pairs_of
from .scheduler import Scheduler, SchedulerServer

_step_of = operator.attrgetter("step")
# should_continue's votes, reduced with MIN over the trainer ranks. Readiness: the lowest wins,
# so one failed or stalled rank fails every rank (each raising alone would leave the others
# waiting in the next vote) and an ended stream ends training once every rank has stopped
# waiting; ready ranks go on only if all are ready.
_FAILED, _STALLED, _WAITING, _ENDED, _READY = -3, -2, -1, 0, 1
# stop/room: a stop wins over a receiver waiting for buffer room, which wins over neither
_STOP, _PUT_BLOCKED, _FREE = 0, 1, 2
# the vote's last two entries name, for a stall error only, the lowest trainer rank whose
# receiver is at its bound past a full buffer (_grant_limit) and the lowest stalled rank
_NOBODY = np.iinfo(np.int32).max
# what a user can change when a lockstep stalls with one rank's receiver at that bound
_LIMIT_ADVICE = (
    "use a reservoir buffer (it serves a batch from what it holds, drawing with repetition), "
    "lower the batch size, or give the buffers more room (capacity, max_bytes; online: "
    "--buffer.capacity, --buffer.max_mb) so that the full rank's surplus fits until the "
    "stream ends (a Receiver's max_pending_samples also raises its bound in items)")
_NO_TABLE = np.empty(0, np.uint8)  # the segment table of a pack that is not a chain pack
# a split pack's arrays are taken from the pool this many at a time as its messages arrive:
# StreamClient's packs (client.SPLIT_MAX_SAMPLES) take one pool scan, as one request did
_SPLIT_CHUNK = 16


class _Pending:
    """Samples of one open simulation from one source."""

    __slots__ = ("sim_id", "samples", "tainted", "nbytes")

    def __init__(self, sim_id: int):
        self.sim_id, self.samples, self.tainted, self.nbytes = sim_id, [], "", 0


class Receiver:
    """Receives the sample stream of ``solver_ranks`` into ``buffer`` on one thread.

    Args:
        comm: the data communicator (``Roles.data``).
        buffer: the training buffer to fill.
        solver_ranks: ranks (of ``comm``) that stream to this trainer; the stream ends when all
            of them have sent DONE.
        param_names: the run's parameter names in the agreed order.
        trainer_comm: communicator of the trainer ranks, for :meth:`should_continue`.
        scheduler: the scheduler server to poll from this thread (world rank 0 only).
        pairs: store (step k, step k+1) :class:`~.sample.Pair` items instead of single samples.
        max_pending_samples: most pending samples of one simulation before it is dropped.
        burst: most messages taken per loop iteration before credits are returned.
        commit_bytes: the loop goes on taking messages (up to ``burst``) while the simulations
            committed since it last filled the buffer hold fewer bytes than this, so that
            several short simulations go into the buffer under one lock, with one wake-up of
            the training thread (4 KiB fields in 16-sample simulations, before chain packs:
            0.50 of raw MPI against 0.40 committing each simulation on its own, part a, six
            alternating jobs); 1: each on its own.
        credit_bytes: a source's credit goes back as soon as the bytes taken from it since its
            last credit reach this (default 1 MiB, well below the client's 40 MiB window),
            not only at the end of a burst.
        put_timeout: seconds one ``put`` waits on a full buffer before the loop polls again.
        abort_on_error: on an unexpected error in the thread, print it and abort the MPI job
            (otherwise solvers would wait forever); False keeps it in ``error`` (tests).
        stall_timeout: seconds without any message from a solver, while the stream is open and
            this rank's buffer cannot serve a batch, after which :meth:`should_continue` raises
            (a solver rank died or hangs) instead of waiting forever; None: wait.
        pool: where received arrays come from (:class:`~.pool.ArrayPool`: arrays no sample
            holds any more are recycled, saving page faults); default a 1 GiB pool.
            Pass one pool to successive receivers to keep its arrays.
        spin_s: seconds after the last message during which an idle loop polls again after
            ``time.sleep(0)`` (releases the GIL; ~0.1 ms on Linux) before it backs off with
            sleeps of 0.1..2 ms requested (longer in fact), so the next pack, usually close
            behind, is taken without a long sleep's wake-up.
        switch_interval_s: while the thread runs, the interpreter's switch interval
            (``sys.setswitchinterval``; restored when the thread ends; None: left alone).
            Taking in a chain pack is a stretch of Python of up to a millisecond or two with
            no MPI call to release the GIL, and at Python's default of 5 ms the training
            thread waited for it: with fast solvers a reservoir's trainer idle fraction was
            4.95-5.44 % with chain packs at the default (``benchmarks/streaming.py --part b``,
            three runs), 4.06-4.38 % with 0.5 ms (four runs), 4.06-4.13 % without chain packs.
    """

    def __init__(self, comm, buffer: TrainingBuffer, solver_ranks: Sequence[int],
                 param_names: Sequence[str], trainer_comm=None,
                 scheduler: SchedulerServer | None = None, pairs: bool = True,
                 max_pending_samples: int = 4096, burst: int = 32, commit_bytes: int = 2**20,
                 credit_bytes: int = 2**20, put_timeout: float = 0.05,
                 abort_on_error: bool = True, stall_timeout: float | None = None,
                 pool: ArrayPool | None = None, spin_s: float = 2e-4,
                 switch_interval_s: float | None = 5e-4):
        require_thread_multiple()
        self.comm, self.buffer = comm, buffer
        self.solver_ranks = tuple(int(r) for r in solver_ranks)
        if not self.solver_ranks:
            raise ValueError("solver_ranks must not be empty")
        self.param_names = tuple(param_names)
        self.trainer_comm, self.scheduler, self.pairs = trainer_comm, scheduler, pairs
        for name, v in (("max_pending_samples", max_pending_samples), ("burst", burst),
                        ("credit_bytes", credit_bytes), ("commit_bytes", commit_bytes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        self.max_pending_samples, self.burst = max_pending_samples, burst
        self.commit_bytes = commit_bytes
        self.credit_bytes = credit_bytes
        self.put_timeout, self.abort_on_error = float(put_timeout), abort_on_error
        if stall_timeout is not None and not stall_timeout > 0:
            raise ValueError(f"stall_timeout must be None or > 0 seconds, got {stall_timeout!r}")
        self.stall_timeout = stall_timeout
        if not (isinstance(spin_s, (int, float)) and spin_s >= 0):
            raise ValueError(f"spin_s must be a number of seconds >= 0, got {spin_s!r}")
        self.spin_s = float(spin_s)
        if switch_interval_s is not None and not (
                isinstance(switch_interval_s, (int, float)) and switch_interval_s > 0):
            raise ValueError(f"switch_interval_s must be None or > 0 seconds, got "
                             f"{switch_interval_s!r}")
        self.switch_interval_s = switch_interval_s
        self._old_switch: float | None = None  # the interpreter's, while the thread runs
        self._pool = ArrayPool() if pool is None else pool
        self._last_msg = time.monotonic()
        self.error: BaseException | None = None
        self.rounds = 0  # should_continue calls
        self._hdr = np.zeros(HEADER_BYTES, dtype=np.uint8)
        self._scratch = np.zeros(1024, dtype=np.uint8)
        self._pending: dict[int, _Pending] = {}
        self._commit: deque[Item] = deque()
        # each item's nbytes, known per simulation: the buffer then need not ask each item
        self._commit_sizes: deque[int] = deque()
        self._commit_nbytes = 0  # field bytes of the samples behind _commit's items
        self._commit_item_bytes = 0  # sum(_commit_sizes): the bytes the buffer will count
        self._owed = {r: [0, 0] for r in self.solver_ranks}  # messages, bytes
        self._credit_sends: list[tuple[Any, np.ndarray]] = []
        self._done: set[int] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._t0 = self._t1 = 0.0
        self._committed_sims: set[int] = set()
        self._stop_wanted = threading.Event()
        self.stopped = False  # set when the trainer ranks agreed to stop (checkpoint)
        self.wait_s = 0.0  # time should_continue spent waiting for data
        self._snap_request: bool | None = None  # None, or the freeze flag of a snapshot
        self._snap_done = threading.Event()
        self._snapshot: dict | None = None
        self._frozen = False
        self._warned_gaps = False  # _warn_gaps said it already
        # set by should_continue when the trainer ranks agreed that the stream ended (one rank
        # could draw no more): no batch is drawn here again
        self._end_agreed = False
        self._put_blocked = False  # the thread holds commits a full buffer has no room for
        # the ranks agreed to give the buffer its watermark back: done before this rank's
        # next vote, never between a vote and the draw it allows
        self._restore_due = False
        # _grant_due: set by should_continue when the ranks' lockstep is stuck on this rank's
        # full buffer (module docstring), to the number of the thread's blocked spell it saw;
        # the thread then lets each solver finish one simulation here past the buffer's room,
        # unless a draw ended that spell first (a stale grant). _grant: the sources whose
        # simulation may still finish so
        self._blocked_spell = 0  # how many times the thread's buffer filled up
        self._grant_due: int | None = None
        self._grant: set[int] = set()
        # set by the thread while its buffer is full: why it may take no more messages past
        # it (_grant_limit), or ""; only for should_continue's stall error
        self._limit = ""
        self._dropped_ids: set[int] = set()
        self._discarded_ids: set[int] = set()
        self._stats: dict[str, Any] = {
            "samples": 0, "bytes": 0, "items_committed": 0, "sims_committed": 0,
            "sims_failed": 0, "sims_dropped": 0, "malformed": 0, "malformed_by_reason": {},
            "per_source": {r: 0 for r in self.solver_ranks}, "pending_peak": 0,
            "credits_sent": 0, "credit_messages": 0, "sims_discarded": 0, "sims_duplicate": 0,
            "samples_non_finite": 0, "items_not_buffered": 0,
        }

    @classmethod
    def from_roles(cls, roles: Roles, buffer: TrainingBuffer, param_names: Sequence[str],
                   scheduler: Scheduler | None = None, **kwargs) -> Receiver:
        """Receiver on a trainer rank of ``roles``; pass the run's ``scheduler`` on every
        trainer (only the scheduler rank serves it)."""
        if not roles.is_trainer:
            raise ValueError("a Receiver runs on a trainer rank")
        server = None
        if roles.runs_scheduler:
            if scheduler is None:
                raise ValueError(f"world rank {roles.scheduler_rank} runs the scheduler: pass "
                                 f"scheduler= (solver ranks that stream by hand, without a "
                                 f"scheduler: construct Receiver(roles.data, buffer, "
                                 f"roles.solver_ranks, names, trainer_comm=roles.comm) "
                                 f"instead)")
            server = SchedulerServer(scheduler, roles.control, roles.solver_ranks,
                                     trainer_ranks=roles.trainer_ranks)
        return cls(roles.data, buffer, roles.solver_ranks, param_names, trainer_comm=roles.comm,
                   scheduler=server, **kwargs)

    # -- thread control --------------------------------------------------------------------
    def start(self) -> Receiver:
        """Start the receiver thread, from then on the only user of the data and control
        communicators on this rank; returns ``self``. Once only."""
        if self._thread is not None:
            raise RuntimeError("Receiver already started")
        self._t0 = time.perf_counter()
        if self.switch_interval_s is not None:
            self._old_switch = sys.getswitchinterval()
            sys.setswitchinterval(self.switch_interval_s)
        self._thread = threading.Thread(target=self._main, name="pdesurrogate-receiver",
                                        daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        """Wait for the end of the stream (all solvers DONE); re-raise a thread error. After
        :meth:`should_continue` agreed the end (:attr:`end_agreed`), or after a freezing
        :meth:`snapshot` (take one after a stop), the thread no longer waits for buffer room,
        so this returns once the solvers are done."""
        if self._thread is not None:
            self._thread.join(timeout)
        self.raise_if_failed()

    @property
    def ended(self) -> bool:
        """True once the started thread has finished (end of stream, stop or error)."""
        return self._thread is not None and not self._thread.is_alive()

    def raise_if_failed(self) -> None:
        """Re-raise, in the calling thread, an exception that ended the receiver thread (as
        the ``__cause__`` of a RuntimeError); nothing if it has not failed."""
        if self.error is not None:
            raise RuntimeError("the receiver thread failed") from self.error

    def request_stop(self) -> None:
        """Ask the trainer ranks to stop training at the next :meth:`should_continue` (safe to
        call from a signal handler)."""
        self._stop_wanted.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_wanted.is_set()

    def should_continue(self, n: int = 1, poll: float = 0.5) -> bool:
        """Agreement across trainer ranks, called by the training loop before each batch:
        True iff every trainer rank can draw ``n`` items now and no rank asked to stop (then
        :attr:`stopped` is set); False once a rank's stream has ended with fewer than ``n``
        items left (then :attr:`end_agreed` is set and this rank's receiver stops filling the
        buffer: see :meth:`join`). Collective over ``trainer_comm``. Raises on every rank
        once one rank's receiver thread failed or its buffer raised (that rank its own error,
        the others a RuntimeError pointing to it), so no rank waits for a vote that never
        comes.

        A rank that cannot draw yet waits up to ``poll`` seconds, then the ranks agree again,
        as often as it takes. While some rank waits for data and another rank's receiver waits
        for room in its full buffer (a solver held on that rank's credits may be what the
        waiting rank needs), every rank lowers its buffer's watermark to 1
        (:meth:`~.buffers.TrainingBuffer.lower_watermark`) until the ranks agree that no
        receiver waits for room (restored before the next vote, so a batch agreed on is
        drawable), so the ranks draw what they hold and the full one makes room (the
        buffer does the same on one rank when ``max_bytes`` holds a producer back). If the
        next agreement still waits (a rank holds less than a batch), each receiver that waits
        for room lets every solver finish one simulation past its buffer's capacity (module
        docstring), so the solvers get new tasks, some for the waiting rank, up to a bound on
        what a receiver holds past its buffer; stuck past it, the ranks stall, and the error
        names the waiting rank, the items it holds against ``n``, the rank at its bound and
        what to change."""
        MPI = mpi()
        t0 = time.perf_counter()
        me = 0 if self.trainer_comm is None else self.trainer_comm.Get_rank()
        while True:
            if self._restore_due:
                self.buffer.lower_watermark(False)
                self._restore_due = False
            failure = None
            try:
                state = self._readiness(n, poll)
            except Exception as err:  # noqa: BLE001 - voted first, raised below on every rank
                failure, state = err, _FAILED
            put_blocked = self._put_blocked
            flag = np.array([state, _STOP if self._stop_wanted.is_set()
                             else _PUT_BLOCKED if put_blocked else _FREE,
                             me if put_blocked and self._limit else _NOBODY,
                             me if state == _STALLED else _NOBODY], dtype=np.int32)
            agreed = np.zeros(4, dtype=np.int32)
            if self.trainer_comm is None:
                agreed[:] = flag
            else:
                # a blocking Allreduce busy-polls its core while a slower rank trains, taking
                # CPU from the solver ranks that share it
                req = self.trainer_comm.Iallreduce(flag, agreed, op=MPI.MIN)
                poll_until(req.Test)
            if agreed[0] == _FAILED:
                self.wait_s += time.perf_counter() - t0
                if failure is not None:
                    raise failure
                raise RuntimeError("another trainer rank failed while the ranks agreed on the "
                                   "next batch (its receiver thread or its buffer raised); see "
                                   "that rank's error")
            if agreed[1] == _STOP:
                self.stopped = True
                break
            if agreed[1] == _FREE:
                # not now: a READY vote may rest on the lowered watermark, and the batch it
                # promised must still be drawable when the training loop draws it
                self._restore_due = self.buffer.watermark_lowered
            elif agreed[0] == _WAITING:
                # a second such round: some rank holds less than a batch even on the lowered
                # watermark, so only the solvers held on a full buffer's credits can feed it
                spell = self._blocked_spell  # read before _put_blocked (see _loop)
                if self._put_blocked and self.buffer.watermark_lowered:
                    self._grant_due = spell
                self.buffer.lower_watermark()
                self._restore_due = False
            if agreed[0] == _STALLED:
                self.wait_s += time.perf_counter() - t0
                raise RuntimeError(self._stall_message(n, state == _STALLED, me, agreed))
            if agreed[0] != _WAITING:
                break
        self.wait_s += time.perf_counter() - t0
        self.rounds += 1
        if agreed[1] == _STOP:
            return False
        if agreed[0] == _ENDED:
            self._end_agreed = True
            return False
        return True

    def _readiness(self, n: int, poll: float) -> int:
        """This rank's vote: :data:`_READY` (``n`` items drawable), :data:`_ENDED` (the stream
        ended with fewer), :data:`_STALLED` (no message for ``stall_timeout``) or
        :data:`_WAITING` (none of those within ``poll`` s); :data:`_ENDED` once a stop is
        asked (the stop flag decides). Raises what failed this rank's receiver thread, or
        what its buffer raised (``should_continue`` votes :data:`_FAILED` for it)."""
        self.raise_if_failed()
        if self._stop_wanted.is_set():
            return _ENDED
        try:
            return _READY if self.buffer.wait_ready(n, timeout=poll) else _ENDED
        except TimeoutError:
            self.raise_if_failed()
            quiet = time.monotonic() - self._last_msg
            if self.stall_timeout is not None and not self.ended \
                    and quiet > self.stall_timeout:
                return _STALLED
            return _WAITING

    def _stall_message(self, n: int, here: bool, me: int, agreed: np.ndarray) -> str:
        """:meth:`should_continue`'s error once a rank voted :data:`_STALLED`: ``n`` items a
        batch, ``here`` whether this rank (trainer rank ``me``) is one that stalled, ``agreed``
        the reduced vote (which ranks stalled, and which is at its bound past a full
        buffer)."""
        held = len(self.buffer)
        size = f"this rank's buffer holds {held} items, watermark {self.buffer.watermark}, " \
               f"a batch takes {n}"
        limited, stalled = int(agreed[2]), int(agreed[3])
        limit = self._limit if self._put_blocked else ""
        if not here:
            who = "another trainer rank" if stalled == _NOBODY else f"trainer rank {stalled}"
            if limit:
                b = self.buffer
                return (f"{who} got no message from any solver rank for "
                        f"stall_timeout={self.stall_timeout:g} s while its training waited "
                        f"for data (see its error), and this rank (trainer rank {me}) holds "
                        f"the solvers: its buffer is full ({held} items; capacity "
                        f"{b.capacity}, max_bytes {b.max_bytes}) and {limit}, so its receiver "
                        f"takes no message until its training draws, which waits for that "
                        f"rank (the trainer ranks draw in lockstep). The simulations "
                        f"routed to that rank did not add up to a batch while this "
                        f"rank's filled its buffer and that bound: {_LIMIT_ADVICE}")
            return (f"{who} got no message from any solver rank for stall_timeout="
                    f"{self.stall_timeout:g} s while its training waited for data ({size}); "
                    f"see that rank's error")
        quiet = time.monotonic() - self._last_msg
        if limited != _NOBODY:
            return (f"trainer rank {me} (this rank) cannot draw a batch: it holds {held} items "
                    f"and a batch takes {n}, and no message came from any solver rank for "
                    f"{quiet:.0f} s (stall_timeout={self.stall_timeout:g} s). Trainer rank "
                    f"{limited}'s buffer is full and its receiver has taken as much past it as "
                    f"it may while the lockstep is stuck (see its error), so the solvers wait "
                    f"for its credits in the middle of a simulation and none can bring this "
                    f"rank more: the simulations routed here did not add up to a batch while "
                    f"rank {limited}'s filled its buffer and that bound: {_LIMIT_ADVICE}")
        full = ("; a trainer rank's receiver waits for room in its full buffer, so solvers "
                "may be held on its credits" if agreed[1] == _PUT_BLOCKED else "")
        return (f"no message from any solver rank for {quiet:.0f} s (stall_timeout="
                f"{self.stall_timeout:g} s) while training waits for data ({size}){full}: "
                f"another trainer rank's full buffer may hold the solvers (its receiver takes "
                f"no message until its training draws, and the trainer ranks draw in "
                f"lockstep: give the buffers more capacity than watermark + samples per "
                f"simulation, or lower the watermark), or a solver rank died or hangs, ended "
                f"without StreamClient.shutdown() (which tells the trainers it is done), or "
                f"one solver step takes longer than that (then raise stall_timeout)")

    @property
    def end_agreed(self) -> bool:
        """True once :meth:`should_continue` returned False because a trainer rank's stream
        ended (not a stop): no rank draws again."""
        return self._end_agreed

    # -- checkpoints -----------------------------------------------------------------------
    def snapshot(self, freeze: bool = False, timeout: float | None = None) -> dict[str, Any]:
        """A consistent copy of this rank's stream state (module docstring): ``buffer`` (the
        buffer's ``state_dict``), ``commit_queue`` (item states), ``committed_sims`` (sorted
        ids). Plain values and tensors: ``torch.save`` / ``torch.load(weights_only=True)``
        round-trip it. ``freeze``: stop committing afterwards (a stop checkpoint)."""
        if self._thread is None or not self._thread.is_alive():
            self._frozen = self._frozen or freeze
            return self._take_snapshot()
        self._snap_done.clear()
        self._snap_request = bool(freeze)
        if not self._snap_done.wait(timeout):
            raise TimeoutError("the receiver thread did not take the snapshot in time")
        self.raise_if_failed()
        snap, self._snapshot = self._snapshot, None
        return snap

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`snapshot` output (call before :meth:`start`)."""
        if self._thread is not None:
            raise RuntimeError("restore() must be called before start()")
        self.buffer.load_state_dict(state["buffer"])
        items = [item_from_state(s) for s in state["commit_queue"]]
        self._commit.extend(items)
        self._commit_sizes.extend(item.nbytes for item in items)
        self._commit_item_bytes = sum(self._commit_sizes)
        self._committed_sims = {int(s) for s in state["committed_sims"]}

    @property
    def committed_sims(self) -> frozenset[int]:
        """Ids of the simulations whose samples were committed on this rank, each with all
        of its items (in the buffer, drawn, or in the commit queue)."""
        return frozenset(self._committed_sims)

    @property
    def dropped_sims(self) -> frozenset[int]:
        """Ids of the simulations this rank received and dropped (incomplete, malformed or
        over ``max_pending_samples``: ``stats()["sims_dropped"]``); a later attempt may still
        have committed one."""
        return frozenset(self._dropped_ids)

    @property
    def discarded_sims(self) -> frozenset[int]:
        """Ids of the simulations that ended here after a freezing :meth:`snapshot`, received
        whole but not committed (``stats()["sims_discarded"]``)."""
        return frozenset(self._discarded_ids)

    def _take_snapshot(self) -> dict[str, Any]:
        snap = {"buffer": self.buffer.state_dict(),
                "commit_queue": [item_to_state(i) for i in self._commit],
                "committed_sims": sorted(self._committed_sims)}
        if self.scheduler is not None:
            snap["scheduler"] = self.scheduler.scheduler.state_dict()
        return snap

    def _serve_snapshot(self) -> None:
        freeze = self._snap_request
        if freeze is None:
            return
        try:
            self._snapshot = self._take_snapshot()
            if freeze:
                # the committed items not yet in the buffer stay in the commit queue (the
                # snapshot holds them, and their simulations stay committed); the loop just
                # stops waiting for buffer room
                self._frozen = True
                if self.scheduler is not None:
                    self.scheduler.stop()
        finally:
            self._snap_request = None
            self._snap_done.set()

    def stats(self) -> dict[str, Any]:
        """Counters (samples, bytes, items_committed, sims_committed/failed/dropped, malformed
        and malformed_by_reason, samples_non_finite (samples the sender's verdict found
        NaN/inf: their simulation fails, nothing malformed), sims_discarded (ended after a
        freeze), items_not_buffered (committed, never put into the buffer: after an agreed
        end, never trained on; after a freeze, in the stop snapshot),
        per_source samples, pending_peak, credits_sent (messages credited), credit_messages
        (credit messages sent, the final one included) and rates
        (elapsed_s, samples_per_s, mb_per_s) since :meth:`start`."""
        with self._lock:
            out = {k: dict(v) if isinstance(v, dict) else v for k, v in self._stats.items()}
        end = self._t1 or time.perf_counter()
        elapsed = max(end - self._t0, 1e-9) if self._t0 else 0.0
        out["elapsed_s"] = elapsed
        out["samples_per_s"] = out["samples"] / elapsed if elapsed else 0.0
        out["mb_per_s"] = out["bytes"] / 1e6 / elapsed if elapsed else 0.0
        return out

    # -- the thread ------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._loop()
        except BaseException as err:  # noqa: B036 - reported to the training thread
            self.error = err
            traceback.print_exc()
            if self.abort_on_error:
                print("[receiver] aborting the MPI job", file=sys.stderr, flush=True)
                mpi().COMM_WORLD.Abort(1)
        finally:
            self._t1 = time.perf_counter()
            if self._old_switch is not None:
                sys.setswitchinterval(self._old_switch)
            self.buffer.close()
            self._snap_done.set()  # never leave a snapshot() caller waiting

    def _training_over(self) -> bool:
        """No batch will be drawn on this rank again and no task handed out that this rank
        would keep: the ranks agreed the stream ended, or a freezing snapshot was taken.
        Waiting for buffer room would then wait forever (and hold the solvers on this rank's
        credits). Not a stop by itself: until the stop's freezing snapshot the scheduler
        still hands out tasks, and without back-pressure this rank would take them all past
        its buffer."""
        return self._end_agreed or self._frozen

    def _loop(self) -> None:
        idle, last = 0, time.perf_counter()
        while True:
            self._serve_snapshot()
            if self.scheduler is not None:
                self.scheduler.poll()
            if self._commit and not self._training_over():
                self._flush_commits(self.put_timeout)
                if self._commit and not self._put_blocked:
                    self._blocked_spell += 1  # before _put_blocked says so
                self._put_blocked = bool(self._commit)
                if self._commit:
                    # buffer full: take nothing new, return no credits, unless the ranks'
                    # lockstep waits on this rank's solvers (should_continue)
                    if self._grant_due is not None:
                        if self._grant_due == self._blocked_spell:
                            self._grant = set(self.solver_ranks) - self._done
                        self._grant_due = None
                    self._limit = self._grant_limit()
                    if self._grant and not self._limit:
                        self._take_granted()
                        self._flush_credits()
                    continue
                # room again: every source is taken as usual, and a grant the ranks asked
                # for while the buffer was full is stale (their lockstep moved on: a draw
                # made this room); left set, it would let the solvers past the buffer the
                # next time it fills, stuck lockstep or not
                self._grant.clear()
                self._grant_due = None
                self._limit = ""
            if len(self._done) == len(self.solver_ranks):
                break
            n = self._take_messages()
            self._flush_credits()
            if n:
                idle, last = 0, time.perf_counter()
            elif time.perf_counter() - last < self.spin_s:
                # the next message is often microseconds away (a solver between two packs):
                # poll again soon. time.sleep(0) releases the GIL but is a timer, not a
                # yield: on Linux it naps ~0.1 ms (measured), so this is a short nap, not a
                # spin. os.sched_yield() would spin for real; in an A/B it was no faster
                # (64 KiB to 1 MiB fields) and it would take the core from the ranks around
                time.sleep(0)
            else:
                # back off up to 2 ms so an idle receiver does not steal the trainer's core
                idle = min(idle + 1, 20)
                time.sleep(1e-4 * idle)
        while self._commit and not self._training_over():
            self._serve_snapshot()
            self._flush_commits(self.put_timeout)
        self._put_blocked = False
        # after the end, the simulations that completed are committed whole but held here,
        # past the buffer's capacity, never trained on: bounded by what the solvers had sent
        # when the end was agreed (no task is handed out after a stream ends; with
        # StreamClient, what a solver sends beyond that is its credit window). After a
        # freeze, the items committed before it (in the stop snapshot, trained on after a
        # resume)
        self._count("items_not_buffered", len(self._commit))
        MPI = mpi()
        MPI.Request.Waitall([req for req, _ in self._credit_sends])
        self._credit_sends.clear()

    def _take_messages(self) -> int:
        MPI = mpi()
        status = MPI.Status()
        n = 0
        # a second Iprobe when the first finds nothing: MPICH's Iprobe looks for a match, then
        # makes progress, which may pull in a message that only the next call sees. The next
        # split pack's header was nearly always there at the second call (measured); napping
        # instead (time.sleep(0), ~85 us) left uncopied fields at 0.81 (0.76-0.89) of raw MPI's
        # MB/s for 256 KiB and 0.82 (0.74-1.06) for 1 MiB, against 0.96 (0.87-1.01) and 1.06
        # (0.86-1.19) with it (part a --no-copy, six alternating jobs each)
        probe = self.comm.Iprobe
        # commit_bytes sends the loop to fill the buffer; once training is over nothing goes
        # there again, and the items left waiting must not stop it taking messages up to DONE
        limit = math.inf if self._training_over() else self.commit_bytes
        while n < self.burst and self._commit_nbytes < limit and (
                probe(MPI.ANY_SOURCE, TAG_HEADER, status)
                or probe(MPI.ANY_SOURCE, TAG_HEADER, status)):
            self._handle(status.Get_source(), status.Get_count(MPI.BYTE))
            self._last_msg = time.monotonic()
            n += 1
        return n

    def _grant_limit(self) -> str:
        """Why no message of a granted source may be taken now, or "" if one may: the commit
        queue's bound while the buffer is full (module docstring). Items: as many as the
        solvers' open simulations may hold while pending. Bytes, as the buffer counts them:
        the buffer's ``max_bytes``, counting the granted simulations still pending (all of
        their samples will be committed; a pair counts both of its fields, as an upper
        bound), so the bound holds to within the last message taken."""
        items = len(self._commit)
        cap = len(self.solver_ranks) * self.max_pending_samples
        if items >= cap:
            return (f"its commit queue holds {items} items past the buffer, the most it takes "
                    f"while the lockstep is stuck: {len(self.solver_ranks)} solver ranks x "
                    f"max_pending_samples ({self.max_pending_samples})")
        max_bytes = self.buffer.max_bytes
        if max_bytes is None:
            return ""
        pending = sum(p.nbytes for src, p in self._pending.items() if src in self._grant)
        held = self._commit_item_bytes + pending * (2 if self.pairs else 1)
        if held < max_bytes:
            return ""
        return (f"its commit queue and the simulations it let finish past the buffer hold "
                f"{held} bytes, the most it takes while the lockstep is stuck: the buffer's "
                f"max_bytes ({max_bytes})")

    def _take_granted(self) -> None:
        """Take up to ``burst`` messages from the sources in ``_grant``, each until it ends a
        simulation (its grant ends in :meth:`_on_end`, :meth:`_on_failed`, :meth:`_on_done`):
        those sources' messages only, so a solver that starts a new simulation for this rank
        after its grant waits for room again. Stops at the commit queue's bound
        (:meth:`_grant_limit`), checked before each message."""
        MPI = mpi()
        status = MPI.Status()
        n = 0
        for src in sorted(self._grant):
            while src in self._grant and n < self.burst and not self._grant_limit() \
                    and self.comm.Iprobe(src, TAG_HEADER, status):
                self._handle(src, status.Get_count(MPI.BYTE))
                self._last_msg = time.monotonic()
                n += 1

    def _handle(self, src: int, header_bytes: int) -> None:
        MPI = mpi()
        raw = self._hdr if header_bytes == HEADER_BYTES else np.empty(header_bytes, np.uint8)
        self.comm.Recv(raw, source=src, tag=TAG_HEADER)
        status = MPI.Status()
        self.comm.Probe(source=src, tag=TAG_PAYLOAD, status=status)
        payload_bytes = status.Get_count(MPI.BYTE)
        try:
            if src not in self._owed:
                raise MalformedMessage("unknown_source", str(src))
            h = parse_header(raw, len(self.param_names))
        except MalformedMessage as err:
            self._recv_scratch(src, payload_bytes)
            more = self._drain(src, split_messages(raw) - 1)
            self._count_malformed(err.reason)
            if src in self._owed:
                # it may have been a DATA message that cost a credit: give it back
                self._owe(src, header_bytes + payload_bytes + more)
            return
        kind = h.kind
        if kind == Kind.DATA:
            self._on_data(src, h, payload_bytes)
            # what the sender was charged: a split pack's header counts all its messages,
            # a verdict its 8 bytes
            self._owe(src, header_bytes + (h.nbytes if h.split else payload_bytes)
                      + 8 * h.verdict)
            if h.end_total:
                self._on_end(src, h.sim_id, h.end_total)
            return
        payload = self._recv_scratch(src, payload_bytes)
        if kind == Kind.END:
            self._on_end(src, h.sim_id, h.step)
        elif kind == Kind.FAILED:
            self._on_failed(src, h.sim_id, bytes(payload).decode("utf-8", "replace"))
        elif kind == Kind.DONE:
            self._on_done(src)

    def _recv_scratch(self, src: int, nbytes: int) -> np.ndarray:
        """Receive ``src``'s next payload into the reusable scratch buffer (a view of it, valid
        until the next call): control payloads, packs, and payloads being dropped."""
        if nbytes > self._scratch.nbytes:
            self._scratch = np.zeros(nbytes, dtype=np.uint8)
        buf = self._scratch[:nbytes]
        self.comm.Recv(buf, source=src, tag=TAG_PAYLOAD)
        return buf

    def _recv_next(self, src: int) -> np.ndarray:
        """``src``'s next payload message, whatever its size, into the scratch buffer (a view
        of it, valid until the next call)."""
        MPI = mpi()
        status = MPI.Status()
        self.comm.Probe(source=src, tag=TAG_PAYLOAD, status=status)
        return self._recv_scratch(src, status.Get_count(MPI.BYTE))

    def _drain(self, src: int, n: int) -> int:
        """Receive and discard ``src``'s next ``n`` payload messages; returns their bytes."""
        return sum(self._recv_next(src).nbytes for _ in range(n))

    def _recv_verdict(self, src: int) -> bool:
        """Receive the verdict message that follows ``src``'s payload (see
        :data:`~.protocol.FLAG_VERDICT`): True if the sender found every value finite, False
        if it found NaN/inf; :class:`MalformedMessage` if the message is not one int64."""
        raw = self._recv_next(src)
        if raw.nbytes != 8:
            raise MalformedMessage("payload_size", f"a verdict of {raw.nbytes} bytes")
        return int(raw.view("<i8")[0]) == VERDICT_FINITE

    def _recv_split(self, src: int, h: Header, first_bytes: int
                    ) -> tuple[list[np.ndarray], list[float]]:
        """Receive ``src``'s split pack (header ``h`` parsed): each sample's message straight
        into its own pooled array, then the times. A message of the wrong size (MPI truncates a
        longer one) rejects the pack; the rest of its messages are drained. Arrays are taken
        :data:`_SPLIT_CHUNK` at a time as the messages come, so a header that announces a
        huge count (up to ``MAX_COUNT``, with a consistent ``nbytes``) allocates nothing for
        messages that never arrive; ``first_bytes``, the probed size of the first message,
        must be one sample's before any array is taken, so a header announcing a huge sample
        shape (consistent with its ``nbytes`` too) allocates nothing either."""
        MPI = mpi()
        if first_bytes != math.prod(h.shape) * h.dtype.itemsize:
            self._drain(src, h.count + 1)
            raise MalformedMessage("payload_size", f"message 0 of a split pack: {first_bytes} "
                                                   f"bytes for a sample of shape {h.shape}")
        arrays: list[np.ndarray] = []
        status = MPI.Status()
        times = np.empty(0, np.float64)
        for i in range(h.count + 1):
            if i < h.count:
                if i == len(arrays):
                    arrays += self._pool.empty_many(h.shape, h.dtype,
                                                    min(_SPLIT_CHUNK, h.count - i))
                buf = arrays[i].reshape(-1).view(np.uint8)
            else:  # the last message: the samples' times
                times = np.empty(h.count, np.float64)
                buf = times.view(np.uint8)
            try:
                self.comm.Recv(buf, source=src, tag=TAG_PAYLOAD, status=status)
                ok = status.Get_count(MPI.BYTE) == buf.nbytes
            except MPI.Exception as err:
                if err.Get_error_class() != MPI.ERR_TRUNCATE:
                    raise
                ok = False
            if not ok:
                self._drain(src, h.count - i)
                raise MalformedMessage("payload_size", f"message {i} of a split pack")
        check_pack(h, arrays, times)
        return arrays, times.tolist()

    def _recv_pack(self, src: int, h: Header
                   ) -> tuple[list[np.ndarray], list[float], np.ndarray]:
        """Receive ``src``'s next payload, a pack of ``h.count`` samples, straight into one
        pooled array per sample, an array of their times and a chain pack's segment table
        (empty otherwise): one receive whose datatype
        (hindexed, absolute addresses) scatters the payload's blocks to those arrays. Each
        sample gets its own array because views of one block would keep the whole pack alive
        while any of its samples stays in the buffer; scattering instead of receiving into a
        scratch buffer and copying out saves a pass over the pack (1.2-1.9x the throughput
        on a 2-core machine), then validated (:func:`~.protocol.check_pack`)."""
        MPI = mpi()
        arrays = self._pool.empty_many(h.shape, h.dtype, h.count)
        times = np.empty(h.count, np.float64)
        blocks = [times]
        table = _NO_TABLE
        if h.chain:
            table = np.empty(chain_nbytes(h.chain, len(h.params)), np.uint8)
            blocks.append(table)
        # the samples' blocks all have one size: one hindexed_block of their addresses (map:
        # no Python frame per sample), then the times and table after them
        fields = MPI.BYTE.Create_hindexed_block(arrays[0].nbytes,
                                                list(map(MPI.Get_address, arrays)))
        rest = [MPI.BYTE.Create_contiguous(b.nbytes) for b in blocks]
        dtype = MPI.Datatype.Create_struct([1] * (1 + len(blocks)),
                                           [0, *map(MPI.Get_address, blocks)],
                                           [fields, *rest]).Commit()
        try:
            self.comm.Recv([MPI.BOTTOM, 1, dtype], source=src, tag=TAG_PAYLOAD)
        finally:
            for t in (dtype, fields, *rest):
                t.Free()
        check_pack(h, arrays, times)
        return arrays, times.tolist(), table

    def _owe(self, src: int, nbytes: int) -> None:
        """Count one message of ``nbytes`` taken from ``src`` (its payload received); credit
        it back now if ``credit_bytes`` are owed, else at the end of the burst."""
        owed = self._owed[src]
        owed[0] += 1
        owed[1] += nbytes
        if owed[1] >= self.credit_bytes:
            self._return_owed(src)

    def _pending_for(self, src: int, sim: int) -> _Pending:
        """``src``'s pending store for simulation ``sim``, opened if need be."""
        pend = self._pending.get(src)
        if pend is not None and pend.sim_id != sim:
            # the previous simulation never ended: drop it rather than mix trajectories
            self._drop(src, "no END before the next simulation")
            pend = None
        if pend is None:
            pend = self._pending[src] = _Pending(sim)
        return pend

    def _on_data(self, src: int, h: Header, payload_bytes: int) -> None:
        pend = self._pending_for(src, h.sim_id)
        # a split pack checks each of its messages as it receives them (_recv_split)
        if not h.split and payload_bytes != h.nbytes:
            self._recv_scratch(src, payload_bytes)
            self._drain(src, int(h.verdict))
            self._count_malformed("payload_size")
            pend.tainted = "malformed sample (payload_size)"
            return
        segments = None
        try:
            if h.split:
                arrays, times = self._recv_split(src, h, payload_bytes)
            elif h.count == 1:
                # straight into the array the sample keeps: no second copy of large fields
                arr = self._pool.empty(h.shape, h.dtype)
                self.comm.Recv(arr.reshape(-1).view(np.uint8), source=src, tag=TAG_PAYLOAD)
                if h.verdict:
                    if not self._recv_verdict(src):
                        # the sender found NaN/inf (a diverging solver, not a broken sender):
                        # its simulation fails; counted apart from malformed messages
                        self._count("samples_non_finite")
                        pend.tainted = "NaN/inf in its fields (the sender's check)"
                        return
                    h = h._replace(finite=True)
                arrays, times = [payload_array(h, arr.reshape(-1).view(np.uint8))], [h.t]
            else:
                arrays, times, table = self._recv_pack(src, h)
                if h.chain:
                    segments = chain_segments(h, table)
        except MalformedMessage as err:
            self._count_malformed(err.reason)
            pend.tainted = ("NaN/inf in its fields" if err.reason == "non_finite_fields"
                            else f"malformed sample ({err.reason})")
            return
        if segments is None:
            self._accept(src, pend, h.step, h.params, arrays, times)
            return
        # a chain pack: its segments are consecutive packs and ENDs of this source
        i = 0
        for k, sg in enumerate(segments):
            if k:
                pend = self._pending_for(src, sg.sim_id)
            self._accept(src, pend, sg.step, sg.params, arrays[i: i + sg.count],
                         times[i: i + sg.count])
            i += sg.count
            if sg.end_total:
                self._on_end(src, sg.sim_id, sg.end_total)

    def _accept(self, src: int, pend: _Pending, step: int, values: Sequence[float],
                arrays: list[np.ndarray], times: list[float]) -> None:
        """Add a received run of samples (steps from ``step``) to ``pend``."""
        if pend.tainted:
            return
        if len(pend.samples) + len(arrays) > self.max_pending_samples:
            pend.tainted = f"more than max_pending_samples={self.max_pending_samples}"
            pend.samples = []
            return
        params = dict(zip(self.param_names, values, strict=True))  # shared by the run
        sim = pend.sim_id
        pend.nbytes += len(arrays) * arrays[0].nbytes
        pend.samples += [Sample(a, t, params, sim, s)
                         for a, t, s in zip(arrays, times, range(step, step + len(arrays)),
                                            strict=True)]
        with self._lock:
            st = self._stats
            st["samples"] += len(arrays)
            st["bytes"] += len(arrays) * arrays[0].nbytes
            st["per_source"][src] += len(arrays)
            st["pending_peak"] = max(st["pending_peak"],
                                     sum(len(p.samples) for p in self._pending.values()))

    def _on_end(self, src: int, sim: int, n_sent: int) -> None:
        self._grant.discard(src)
        pend = self._pending.pop(src, None)
        if pend is None or pend.sim_id != sim:
            if pend is not None:
                self._pending[src] = pend
                self._drop(src, f"END of {sim} while {pend.sim_id} is open")
            if n_sent > 0:  # samples were sent but none kept: already counted as dropped
                self._dropped_ids.add(sim)
                self._count("sims_dropped")
            return
        if pend.tainted or len(pend.samples) != n_sent:
            why = pend.tainted or f"{len(pend.samples)} of {n_sent} samples arrived"
            self._pending[src] = pend
            self._drop(src, why)
            return
        if self._frozen:
            self._discarded_ids.add(sim)
            self._count("sims_discarded")
            return
        if sim in self._committed_sims:  # a resumed run must never train on a sim twice
            self._count("sims_duplicate")
            return
        # samples usually arrive in step order: then the sort is one linear pass
        items = pairs_of(pend.samples) if self.pairs else sorted(pend.samples, key=_step_of)
        if self.pairs and len(items) < len(pend.samples) - 1 and not self._warned_gaps:
            self._warn_gaps(src, sim, pend.samples, len(items))
        self._commit.extend(items)
        # every sample of a simulation has the shape of its first; a pair holds two
        if items:
            size = pend.nbytes // len(pend.samples) * (2 if self.pairs else 1)
            self._commit_sizes.extend([size] * len(items))
            self._commit_item_bytes += size * len(items)
        self._commit_nbytes += pend.nbytes
        self._committed_sims.add(sim)
        with self._lock:
            self._stats["sims_committed"] += 1

    def _on_failed(self, src: int, sim: int, reason: str) -> None:
        self._grant.discard(src)
        pend = self._pending.get(src)
        if pend is not None and pend.sim_id == sim:
            del self._pending[src]
        self._count("sims_failed")

    def _on_done(self, src: int) -> None:
        self._grant.discard(src)
        if src in self._pending:
            self._drop(src, "DONE with the simulation open")
        self._done.add(src)
        self._flush_credits()
        self._send_credit(src, CREDIT_FIN)

    def _warn_gaps(self, src: int, sim: int, samples: list[Sample], n_pairs: int) -> None:
        """Say once per run that a simulation's steps had gaps, so that fewer (or no) training
        pairs came of it: a loop that numbers its saved states by iteration (step 0, 10, 20,
        ...) trained on nothing, silently."""
        self._warned_gaps = True
        steps = sorted(s.step for s in samples)
        shown = ", ".join(str(k) for k in steps[:6]) + (", ..." if len(steps) > 6 else "")
        print(f"[receiver] simulation {sim} from rank {src}: steps {shown} are not consecutive, "
              f"so its {len(steps)} samples made {n_pairs} training pair(s) of step k and k+1 "
              f"instead of {len(steps) - 1}; number the saved states 0, 1, 2, ... (e.g. "
              f"step=n // save_every). Said once per run.", file=sys.stderr, flush=True)

    def _drop(self, src: int, why: str) -> None:
        pend = self._pending.pop(src)
        self._dropped_ids.add(pend.sim_id)
        print(f"[receiver] dropped simulation {pend.sim_id} from rank {src}: {why}",
              file=sys.stderr, flush=True)
        self._count("sims_dropped")

    def _flush_commits(self, timeout: float | None) -> None:
        n = self.buffer.put_many(self._commit, timeout=timeout, sizes=self._commit_sizes)
        if n == len(self._commit):
            self._commit.clear()
            self._commit_sizes.clear()
            self._commit_nbytes = self._commit_item_bytes = 0
        else:
            for _ in range(n):
                self._commit.popleft()
                self._commit_item_bytes -= self._commit_sizes.popleft()
        self._count("items_committed", n)

    def _flush_credits(self) -> None:
        for src, owed in self._owed.items():
            if owed[0] > 0:
                self._return_owed(src)
        self._credit_sends = [(r, b) for r, b in self._credit_sends if not r.Test()]

    def _return_owed(self, src: int) -> None:
        owed = self._owed[src]
        self._send_credit(src, *owed)
        owed[0] = owed[1] = 0

    def _send_credit(self, src: int, n: int, nbytes: int = 0) -> None:
        buf = np.array([n, nbytes], dtype=np.int64)
        self._credit_sends.append((self.comm.Isend(buf, dest=src, tag=TAG_CREDIT), buf))
        with self._lock:
            self._stats["credits_sent"] += max(n, 0)
            self._stats["credit_messages"] += 1

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def _count_malformed(self, reason: str) -> None:
        with self._lock:
            self._stats["malformed"] += 1
            by = self._stats["malformed_by_reason"]
            by[reason] = by.get(reason, 0) + 1
