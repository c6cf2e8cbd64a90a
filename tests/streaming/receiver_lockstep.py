"""Run by test_receiver_lockstep.py in its own process (this one starts MPI; pytest's does
not): ``should_continue`` on a rank whose buffer is below its watermark, with the stream
open, against a second trainer rank played by a fake trainer communicator whose receiver
waits for room in its full buffer (or not). Prints one JSON line per scenario."""

import json
import time

import numpy as np
from mpi4py import MPI

from pdesurrogate.streaming import FIFOBuffer, Receiver, Sample, StreamClient
from pdesurrogate.streaming.sample import item_to_state

FAILED, WAITING, READY, ENDED = -3, -1, 1, 0
STOP, PUT_BLOCKED, FREE = 0, 1, 2


class OtherTrainer:
    """A trainer communicator of two ranks (this one rank 0), the other of which contributes
    ``flags[i]`` to the i-th Allreduce (the last one from then on); MPI's own MIN
    (``Op.Reduce_local``). A flag shorter than the vote leaves the rest to this rank's."""

    def __init__(self, flags: list[tuple[int, ...]]):
        self.flags, self.calls = [np.array(f, np.int32) for f in flags], 0

    def Get_rank(self) -> int:  # noqa: N802 - mpi4py's name
        return 0

    def Iallreduce(self, sendbuf, recvbuf, op):  # noqa: N802 - mpi4py's name
        self.Allreduce(sendbuf, recvbuf, op)
        return MPI.REQUEST_NULL  # complete: its Test() is True

    def Allreduce(self, sendbuf, recvbuf, op):  # noqa: N802 - mpi4py's name
        flag = self.flags[min(self.calls, len(self.flags) - 1)]
        recvbuf[:] = sendbuf
        recvbuf[:len(flag)] = flag
        self.calls += 1
        op.Reduce_local(sendbuf, recvbuf)


def starving(held: int, other: list[tuple[int, int]], stall: float, calls: int = 1) -> dict:
    """This rank holds ``held`` of its watermark of 5; the other rank votes ``other``;
    ``calls`` calls of should_continue (the training loop draws a batch after each True).
    ``drawable``: after each True, whether the batch it promised can be drawn at once."""
    buffer = FIFOBuffer(capacity=10, watermark=5)
    buffer.put_many([Sample(np.zeros(4, np.float32), 0.0, {"nu": 0.5}, 0, k)
                     for k in range(held)])
    comm = OtherTrainer(other)
    receiver = Receiver(MPI.COMM_SELF, buffer, [0], ["nu"], trainer_comm=comm,
                        abort_on_error=False, switch_interval_s=None, stall_timeout=stall)
    t0, drawable, go, error = time.monotonic(), [], None, ""
    for _ in range(calls):
        try:
            go = receiver.should_continue(1, poll=0.05)
        except RuntimeError as err:
            go, error = None, str(err)
            break
        if go:
            try:
                drawable.append(buffer.wait_ready(1, timeout=0))
            except TimeoutError:
                drawable.append(False)
                break  # get_many would wait for ever: that is the failure
            buffer.get_many(1)
    return {"held": held, "other": other, "go": go, "error": error,
            "seconds": time.monotonic() - t0, "watermark": buffer.watermark,
            "lowered": buffer.watermark_lowered, "drawable": drawable, "rounds": comm.calls}


def failing(here: bool) -> dict:
    """One call of should_continue: this rank's receiver thread has failed and its buffer is
    empty (``here``: it finds the failure while waiting for data), or it holds 3 items of a
    watermark of 1 and the other rank votes that its own failed. ``rounds``: the votes this
    rank took part in before it raised."""
    buffer = FIFOBuffer(capacity=10, watermark=1)
    buffer.put_many([Sample(np.zeros(4, np.float32), 0.0, {"nu": 0.5}, 0, k)
                     for k in range(0 if here else 3)])
    comm = OtherTrainer([(READY, FREE) if here else (FAILED, FREE)])
    receiver = Receiver(MPI.COMM_SELF, buffer, [0], ["nu"], trainer_comm=comm,
                        abort_on_error=False, switch_interval_s=None)
    if here:
        receiver.error = OSError("the receiver thread's failure")
    go, error = None, ""
    try:
        go = receiver.should_continue(1, poll=0.05)
    except Exception as err:  # noqa: BLE001 - the scenario reports what was raised
        error = f"{type(err).__name__}: {err} / {err.__cause__!r}"
    return {"here": here, "go": go, "error": error, "rounds": comm.calls}


def stale_grant(stuck: bool) -> dict:
    """This rank's buffer (capacity 2) is full and its receiver waits for room for one
    committed item (``put_timeout`` 0.5 s, so the wait below falls inside one put). If
    ``stuck``, the other rank waits for data in two rounds (the second asks this receiver to
    let the solvers past its buffer), then is ready; else it is ready at once. The batch is
    drawn, which makes the room the receiver waited for. Then a solver (this process, on
    COMM_SELF) sends two 3-sample simulations with credits for all their messages: the first
    fills the buffer again. ``committed``: the simulations committed 1.5 s later (the second
    should wait for room: the lockstep is not stuck any more)."""
    def sample(sim: int, k: int) -> Sample:
        return Sample(np.zeros(4, np.float32), 0.0, {"nu": 0.5}, sim, k)

    full = FIFOBuffer(capacity=2, watermark=1)
    full.put_many([sample(99, 0), sample(99, 1)])
    buffer = FIFOBuffer(capacity=2, watermark=1)
    comm = OtherTrainer([(WAITING, FREE), (WAITING, FREE), (READY, FREE)] if stuck
                        else [(READY, FREE)])
    receiver = Receiver(MPI.COMM_SELF, buffer, [0], ["nu"], trainer_comm=comm, pairs=False,
                        commit_bytes=1, put_timeout=0.5, abort_on_error=False,
                        switch_interval_s=None)
    receiver.restore({"buffer": full.state_dict(), "committed_sims": [99],
                      "commit_queue": [item_to_state(sample(99, 2))]})
    receiver.start()
    time.sleep(0.7)  # in its second put: the vote sees it wait for room
    go = receiver.should_continue(1, poll=0.01)
    buffer.get_many(1)
    time.sleep(0.2)
    client = StreamClient(MPI.COMM_SELF, [0], ["nu"], credits=16, pack_bytes=0, chain_s=0)
    for sim in (0, 1):
        client.open(sim, {"nu": 0.5}, trainer=0)
        for k in range(3):
            client.send(np.full(4, k, np.float32), t=0.1 * k)
        client.close()
    time.sleep(1.5)
    out = {"stuck": stuck, "go": go, "rounds": comm.calls,
           "committed": sorted(receiver.committed_sims),
           "samples": receiver.stats()["samples"]}
    receiver.snapshot(freeze=True)  # takes the rest, so the client's shutdown completes
    client.shutdown()
    receiver.join(5)
    return out


def byte_bound(max_bytes: int) -> dict:
    """This rank's buffer (capacity 2, ``max_bytes``) is full of 4 KiB samples and its
    receiver waits for room for one more committed item. A solver (this process, on
    COMM_SELF, credits for all its messages) sends one 10-sample simulation of 4 KiB samples,
    then the other rank waits for data in two rounds (the second lets the solver past this
    buffer) and is ready in the third; no batch is drawn after it, so the buffer stays full.
    ``samples``: the samples the receiver took past its full buffer 1 s later (each
    ``sample_bytes``, besides the one committed item of ``sample_bytes`` waiting before)."""
    def sample(sim: int, k: int) -> Sample:
        return Sample(np.zeros(1024, np.float32), 0.0, {"nu": 0.5}, sim, k)

    full = FIFOBuffer(capacity=2, watermark=1, max_bytes=max_bytes)
    full.put_many([sample(99, 0), sample(99, 1)])
    buffer = FIFOBuffer(capacity=2, watermark=1, max_bytes=max_bytes)
    comm = OtherTrainer([(WAITING, FREE), (WAITING, FREE), (READY, FREE)])
    receiver = Receiver(MPI.COMM_SELF, buffer, [0], ["nu"], trainer_comm=comm, pairs=False,
                        abort_on_error=False, switch_interval_s=None)
    receiver.restore({"buffer": full.state_dict(), "committed_sims": [99],
                      "commit_queue": [item_to_state(sample(99, 2))]})
    receiver.start()
    # max_in_flight: its Isends must not wait for the receives that the grant makes
    client = StreamClient(MPI.COMM_SELF, [0], ["nu"], credits=16, pack_bytes=0, chain_s=0,
                          max_in_flight=16)
    client.open(0, {"nu": 0.5}, trainer=0)
    for k in range(10):
        client.send(np.full(1024, k, np.float32), t=0.1 * k)
    client.close()
    time.sleep(0.3)  # the receiver waits for room, the solver's messages are there
    go = receiver.should_continue(1, poll=0.01)
    time.sleep(1.0)
    out = {"max_bytes": max_bytes, "go": go, "rounds": comm.calls, "sample_bytes": 4096,
           "samples": receiver.stats()["samples"], "committed": sorted(receiver.committed_sims),
           "in_buffer": len(buffer)}
    receiver.snapshot(freeze=True)  # takes the rest, so the client's shutdown completes
    client.shutdown()
    receiver.join(5)
    return out


def main() -> None:
    cases = [
        # the other rank is full and its receiver waits for room: draw what is held
        (2, [(READY, PUT_BLOCKED)], 3.0, 1),
        # ... then the other's receiver found room while this rank voted ready on the lowered
        # watermark: the batch agreed on is still drawn; the next call votes on the
        # buffer's own watermark again (1 item left of 5: waits until the stall timeout)
        (2, [(READY, PUT_BLOCKED), (READY, FREE)], 1.0, 2),
        # nobody waits for room: keep waiting for the watermark, until the stall timeout
        (2, [(READY, FREE)], 1.0, 1),
        # less than a batch held: even a lowered watermark cannot help; the error says why
        (0, [(READY, PUT_BLOCKED)], 1.0, 1),
    ]
    for held, other, stall, calls in cases:
        print(json.dumps({"scenario": "starving", **starving(held, other, stall, calls)}))
    for here in (True, False):
        print(json.dumps({"scenario": "failing", **failing(here)}))
    for stuck in (True, False):
        print(json.dumps({"scenario": "stale_grant", **stale_grant(stuck)}))
    for max_bytes in (3 * 4096, 2**20):
        print(json.dumps({"scenario": "byte_bound", **byte_bound(max_bytes)}))


main()
