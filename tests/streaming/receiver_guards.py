"""Run by test_receiver_guards.py in its own process (this one starts MPI; pytest's does not):
a Receiver on ``COMM_SELF`` takes hand-made messages that this same rank sent to itself, and
``should_continue`` agrees with a second trainer rank played by a fake trainer communicator.
Prints one JSON line per scenario.

Scenarios: ``resume_dup`` (a resumed run whose snapshot committed simulation 0 gets 0, 1, 2
again), ``end_count`` (ENDs whose totals disagree with the samples that arrived, by a
control END or a pack's END flag), ``nan_params`` (a DATA header with a NaN parameter),
``split_huge`` (a split pack header announcing 1024 samples whose second message is wrong),
``split_huge_shape`` (a split pack header announcing 8 TiB samples, whose messages are not),
``stop_held`` (a stopped receiver with a full buffer, before and after its freezing snapshot),
``end_held`` (a receiver with a full buffer when the trainer ranks agree the stream ended)
and ``agree`` (the end-of-stream and stop agreement over two trainer ranks)."""

import json
import time

import numpy as np
from mpi4py import MPI

from pdesurrogate.streaming import ArrayPool, FIFOBuffer, Receiver, Sample
from pdesurrogate.streaming.protocol import (
    TAG_CREDIT,
    TAG_HEADER,
    TAG_PAYLOAD,
    Kind,
    data_header,
    encode_control,
    encode_data,
    pack_nbytes,
)

N_POINTS = 4


def field(sim: int, step: int) -> np.ndarray:
    return np.full((1, N_POINTS), 100 * sim + step, np.float32)


def singles(sim: int, steps, nu: float = 0.5) -> list:
    """One DATA message per step of ``sim``."""
    return [encode_data(field(sim, k), 0.1 * k, k, sim, [nu]) for k in steps]


def end(sim: int, total: int) -> tuple:
    return encode_control(Kind.END, sim, step=total)


def ending_pack(sim: int, first: int, count: int, end_total: int) -> tuple:
    """A pack of ``count`` samples from step ``first`` whose END flag says the simulation
    sent ``end_total`` samples in all."""
    fields = np.concatenate([field(sim, first + k) for k in range(count)])
    times = 0.1 * np.arange(first, first + count, dtype=np.float64)
    h = data_header((1, N_POINTS), np.float32, times[0], first, sim, [0.5], False,
                    pack_nbytes(count, fields[0].nbytes), count=count, end_total=end_total)
    return h, np.concatenate([fields.reshape(-1).view(np.uint8), times.view(np.uint8)])


def post(comm, messages: list) -> list:
    """Isend ``messages`` to this rank: each a header and its payload, or a header and a
    list of payload messages (a split pack)."""
    return [comm.Isend(part.view(np.uint8), dest=0, tag=tag)
            for h, p in messages
            for part, tag in ((h, TAG_HEADER),
                              *((x, TAG_PAYLOAD) for x in (p if isinstance(p, list) else [p])))]


def pump(comm, receiver, seconds: float, until=None) -> None:
    """Take the credits the receiver sends back (so its sends complete) for ``seconds``, or
    until ``until()``; the receiver must not have failed."""
    credit, deadline = np.zeros(2, np.int64), time.monotonic() + seconds
    while until is None or not until():
        while comm.Iprobe(source=0, tag=TAG_CREDIT):
            comm.Recv(credit, source=0, tag=TAG_CREDIT)
        receiver.raise_if_failed()
        if time.monotonic() > deadline:
            assert until is None, "the receiver did not get there in time"
            return
        time.sleep(0.001)


def receive(messages: list, committed: tuple[int, ...] = (), pool: ArrayPool | None = None,
            pairs: bool = False) -> dict:
    """Send ``messages`` and a DONE to this rank, run a Receiver (resumed from a snapshot
    that committed ``committed``) until the stream ends; what it stored and counted.
    ``nbytes``: the bytes the buffer counted, and the sum of its items' own nbytes."""
    comm = MPI.COMM_SELF.Dup()
    buffer = FIFOBuffer(capacity=100)
    receiver = Receiver(comm, buffer, [0], ["nu"], pairs=pairs, abort_on_error=False,
                        switch_interval_s=None, pool=pool)
    if committed:
        receiver.restore({"buffer": buffer.state_dict(), "commit_queue": [],
                          "committed_sims": list(committed)})
    sends = post(comm, [*messages, encode_control(Kind.DONE)])
    receiver.start()
    pump(comm, receiver, 20, until=lambda: receiver.ended)
    receiver.join()
    MPI.Request.Waitall(sends)
    pump(comm, receiver, 0)
    st = receiver.stats()
    counted = buffer.nbytes
    items = buffer.get_many(len(buffer))
    if pairs:
        return {"pairs": sorted((p.sim_id, p.input.step) for p in items),
                "nbytes": [counted, sum(p.nbytes for p in items)]}
    return {"nbytes": [counted, sum(s.nbytes for s in items)],
            "stored": sorted((s.sim_id, s.step) for s in items),
            "params": sorted({s.params["nu"] for s in items}),
            "committed_sims": sorted(receiver.committed_sims),
            **{k: st[k] for k in ("sims_committed", "sims_dropped", "sims_duplicate",
                                  "malformed", "malformed_by_reason")}}


def split_huge(count: int = 1024) -> dict:
    """A split pack header of simulation 7 announcing ``count`` samples of 64 KiB (nbytes
    consistent), whose first message is one sample and second 8 bytes; the sender then sends
    the ``count - 1`` messages the receiver drains. Then simulation 8 as usual.
    ``allocated``: arrays the receiver took from its pool (one that tracks arrays from 1 KiB
    up, so the 16-byte fields of simulation 8 are not counted)."""
    shape = (1, 2**14)
    h = data_header(shape, np.float32, 0.0, 0, 7, [0.5], False,
                    pack_nbytes(count, 4 * 2**14), count=count, split=True)
    rest = [np.zeros(0, np.uint8) for _ in range(count - 1)]
    pool = ArrayPool(min_bytes=1024)
    got = receive([(h, [np.zeros(4 * 2**14, np.uint8), np.zeros(8, np.uint8), *rest]),
                   end(7, count),
                   *singles(8, range(2)), end(8, 2)], pool=pool)
    return {**got, "allocated": pool.allocated}


def split_huge_shape() -> dict:
    """A split pack header of simulation 7 announcing 2 samples of 2**40 float64 values (8 TiB
    each; nbytes consistent), whose messages are 8 bytes each. Then simulation 8 as usual."""
    h = data_header((1, 2**40), np.float64, 0.0, 0, 7, [0.5], False,
                    pack_nbytes(2, 8 * 2**40), count=2, split=True)
    return receive([(h, [np.zeros(8, np.uint8) for _ in range(3)]), end(7, 2),
                    *singles(8, range(2)), end(8, 2)])


def held(other: tuple[int, int], commit_bytes: int) -> tuple:
    """A started receiver whose FIFO buffer (capacity 2) is full with 2 of simulation 0's 4
    samples still to put; the other trainer rank votes ``other``. Returns the communicator,
    the receiver and the sends posted."""
    comm = MPI.COMM_SELF.Dup()
    buffer = FIFOBuffer(capacity=2)
    receiver = Receiver(comm, buffer, [0], ["nu"], pairs=False, trainer_comm=OtherTrainer(other),
                        abort_on_error=False, switch_interval_s=None, put_timeout=0.01,
                        commit_bytes=commit_bytes)
    sends = post(comm, [*singles(0, range(4)), end(0, 4)])
    receiver.start()
    pump(comm, receiver, 20, until=lambda: receiver.committed_sims and len(buffer) == 2)
    return comm, receiver, sends


def stop_held(commit_bytes: int = 2**20) -> dict:
    """A receiver whose FIFO buffer (capacity 2) is full with 2 of simulation 0's 4 samples
    still to put; the trainer ranks agree to stop; simulations 1-3 arrive. Until the freezing
    snapshot it takes nothing (back-pressure: the scheduler would still hand out tasks);
    after it, it discards 1-3 and ends at DONE, the snapshot holding the 2 unbuffered.
    ``commit_bytes`` 1: the items waiting must not stop it taking messages after the
    freeze."""
    comm, receiver, sends = held(other=(1, 2), commit_bytes=commit_bytes)
    receiver.request_stop()
    go = receiver.should_continue(1, poll=0.01)
    sends += post(comm, [m for sim in (1, 2, 3) for m in (*singles(sim, range(2)), end(sim, 2))])
    pump(comm, receiver, 0.5)
    before = receiver.stats()["sims_committed"]
    snap = receiver.snapshot(freeze=True, timeout=10)
    sends += post(comm, [encode_control(Kind.DONE)])
    try:
        pump(comm, receiver, 5, until=lambda: receiver.ended)
    except AssertionError:
        return {"commit_bytes": commit_bytes, "ended": False}
    receiver.join()
    MPI.Request.Waitall(sends)
    pump(comm, receiver, 0)
    return {"commit_bytes": commit_bytes, "ended": True, "go": go, "stopped": receiver.stopped,
            "committed_before_freeze": before,
            "snapshot_commit_queue": len(snap["commit_queue"]),
            "snapshot_committed_sims": snap["committed_sims"],
            "discarded": sorted(receiver.discarded_sims),
            "committed_sims": sorted(receiver.committed_sims)}


def end_held(commit_bytes: int) -> dict:
    """A receiver whose FIFO buffer (capacity 2) is full with 2 of simulation 0's 4 samples
    still to put when the other trainer rank's stream ends empty (the ranks agree to end);
    then simulation 1 and DONE arrive. It must take them (committed whole, held past the
    buffer) and end, ``commit_bytes`` 1 included (the items waiting exceed it)."""
    comm, receiver, sends = held(other=(0, 2), commit_bytes=commit_bytes)
    go = receiver.should_continue(1, poll=0.01)
    sends += post(comm, [*singles(1, range(2)), end(1, 2), encode_control(Kind.DONE)])
    try:
        pump(comm, receiver, 5, until=lambda: receiver.ended)
    except AssertionError:
        return {"commit_bytes": commit_bytes, "go": go, "ended": False}
    receiver.join()
    MPI.Request.Waitall(sends)
    pump(comm, receiver, 0)
    return {"commit_bytes": commit_bytes, "go": go, "ended": True,
            "end_agreed": receiver.end_agreed, "committed_sims": sorted(receiver.committed_sims),
            "items_not_buffered": receiver.stats()["items_not_buffered"]}


class OtherTrainer:
    """A trainer communicator of two ranks (this one rank 0), the other of which contributes
    ``flag`` to every Allreduce, the rest of the vote as this rank's; the reduction is MPI's
    own operation (``Op.Reduce_local``)."""

    def __init__(self, flag: tuple[int, int]):
        self.flag = np.array(flag, np.int32)

    def Get_rank(self) -> int:  # noqa: N802 - mpi4py's name
        return 0

    def Iallreduce(self, sendbuf, recvbuf, op):  # noqa: N802 - mpi4py's name
        self.Allreduce(sendbuf, recvbuf, op)
        return MPI.REQUEST_NULL  # complete: its Test() is True

    def Allreduce(self, sendbuf, recvbuf, op):  # noqa: N802 - mpi4py's name
        recvbuf[:] = sendbuf
        recvbuf[:len(self.flag)] = self.flag
        op.Reduce_local(sendbuf, recvbuf)


def agree(mine: str, other: tuple[int, int], stop_here: bool = False) -> dict:
    """should_continue() on this rank (``mine``: "ready", its buffer holds a batch, or
    "ended", its stream ended empty) against the other rank's (can draw, no stop) flags."""
    buffer = FIFOBuffer(capacity=4)
    if mine == "ready":
        buffer.put_many([Sample(field(0, k), 0.1 * k, {"nu": 0.5}, 0, k) for k in range(2)])
    else:
        buffer.close()
    receiver = Receiver(MPI.COMM_SELF, buffer, [0], ["nu"], trainer_comm=OtherTrainer(other),
                        abort_on_error=False, switch_interval_s=None)
    if stop_here:
        receiver.request_stop()
    go = receiver.should_continue(1, poll=0.01)
    return {"mine": mine, "other": list(other), "stop_here": stop_here, "go": go,
            "stopped": receiver.stopped}


def main() -> None:
    print(json.dumps({"scenario": "resume_dup", **receive(
        [m for sim in range(3) for m in (*singles(sim, range(3)), end(sim, 3))],
        committed=(0,))}))
    print(json.dumps({"scenario": "end_count", **receive([
        *singles(0, range(5)), end(0, 4),  # 5 samples arrived, END says 4
        *singles(1, range(3)), end(1, 3),  # as it should be
        *singles(2, range(2)), end(2, 3),  # 2 arrived, END says 3
        *singles(3, range(2)), ending_pack(3, 2, 2, 3),  # 4 arrived, the pack says 3
    ])}))
    print(json.dumps({"scenario": "nan_params", **receive([
        *singles(5, range(2), nu=float("nan")), end(5, 2),
        *singles(6, range(2)), end(6, 2),
    ])}))
    print(json.dumps({"scenario": "split_huge", **split_huge()}))
    print(json.dumps({"scenario": "split_huge_shape", **split_huge_shape()}))
    # pairs, from a pack and from single messages
    print(json.dumps({"scenario": "pair_bytes", **receive(
        [ending_pack(4, 0, 3, 3), *singles(8, range(2)), end(8, 2)], pairs=True)}))
    for commit_bytes in (2**20, 1):
        print(json.dumps({"scenario": "stop_held", **stop_held(commit_bytes)}))
        print(json.dumps({"scenario": "end_held", **end_held(commit_bytes)}))
    # the other rank's (readiness, stop/room) votes: 1 ready, 0 ended; 2 free, 0 stop
    for mine, other, stop_here in (("ready", (1, 2), False), ("ready", (0, 2), False),
                                   ("ended", (1, 2), False), ("ready", (1, 0), False),
                                   ("ready", (1, 2), True)):
        print(json.dumps({"scenario": "agree", **agree(mine, other, stop_here)}))


main()
