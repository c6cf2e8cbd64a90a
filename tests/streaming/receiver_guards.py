"""Run by test_receiver_guards.py in its own process (this one starts MPI; pytest's does not):
a Receiver on ``COMM_SELF`` takes hand-made messages that this same rank sent to itself, and
``should_continue`` agrees with a second trainer rank played by a fake trainer communicator.
Prints one JSON line per scenario.

Scenarios: ``resume_dup`` (a resumed run whose snapshot committed simulation 0 gets 0, 1, 2
again), ``end_count`` (ENDs whose totals disagree with the samples that arrived, by a
control END or a pack's END flag), ``nan_params`` (a DATA header with a NaN parameter), and
``agree`` (the end-of-stream and stop agreement over two trainer ranks)."""

import json
import time

import numpy as np
from mpi4py import MPI

from pdesurrogate.streaming import FIFOBuffer, Receiver, Sample
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


def receive(messages: list, committed: tuple[int, ...] = ()) -> dict:
    """Send ``messages`` and a DONE to this rank, run a Receiver (resumed from a snapshot
    that committed ``committed``) until the stream ends; what it stored and counted."""
    comm = MPI.COMM_SELF.Dup()
    buffer = FIFOBuffer(capacity=100)
    receiver = Receiver(comm, buffer, [0], ["nu"], pairs=False, abort_on_error=False,
                        switch_interval_s=None)
    if committed:
        receiver.restore({"buffer": buffer.state_dict(), "commit_queue": [],
                          "committed_sims": list(committed)})
    sends = [comm.Isend(part.view(np.uint8), dest=0, tag=tag)
             for h, p in [*messages, encode_control(Kind.DONE)]
             for part, tag in ((h, TAG_HEADER), (p, TAG_PAYLOAD))]
    receiver.start()
    credit, deadline = np.zeros(2, np.int64), time.monotonic() + 20
    while not receiver.ended:  # take the credits it sends back, so its sends complete
        while comm.Iprobe(source=0, tag=TAG_CREDIT):
            comm.Recv(credit, source=0, tag=TAG_CREDIT)
        assert time.monotonic() < deadline, "the receiver did not end"
        time.sleep(0.001)
    receiver.join()
    MPI.Request.Waitall(sends)
    while comm.Iprobe(source=0, tag=TAG_CREDIT):
        comm.Recv(credit, source=0, tag=TAG_CREDIT)
    st = receiver.stats()
    items = buffer.get_many(len(buffer))
    return {"stored": sorted((s.sim_id, s.step) for s in items),
            "params": sorted({s.params["nu"] for s in items}),
            "committed_sims": sorted(receiver.committed_sims),
            **{k: st[k] for k in ("sims_committed", "sims_dropped", "sims_duplicate",
                                  "malformed", "malformed_by_reason")}}


class OtherTrainer:
    """A trainer communicator of two ranks, the other of which contributes ``flag`` to every
    Allreduce; the reduction is MPI's own operation (``Op.Reduce_local``)."""

    def __init__(self, flag: tuple[int, int]):
        self.flag = np.array(flag, np.int32)

    def Allreduce(self, sendbuf, recvbuf, op):  # noqa: N802 - mpi4py's name
        recvbuf[:] = self.flag
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
    for mine, other, stop_here in (("ready", (1, 1), False), ("ready", (0, 1), False),
                                   ("ended", (1, 1), False), ("ready", (1, 0), False),
                                   ("ready", (1, 1), True)):
        print(json.dumps({"scenario": "agree", **agree(mine, other, stop_here)}))


main()
