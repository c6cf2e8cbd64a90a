"""Run by test_receiver_verdict.py in its own process (this one starts MPI; pytest's does
not): a Receiver on ``COMM_SELF`` takes one-sample DATA messages followed by the sender's
verdict (``wait_large``), sent by this same rank to itself, as an honest client sends them:
simulation 0's second sample was found NaN by the sender, which then fails the simulation;
simulation 1 is finite throughout. Prints the receiver's counts as one JSON line."""

import json
import time

import numpy as np
from mpi4py import MPI

from pdesurrogate.streaming import FIFOBuffer, Receiver
from pdesurrogate.streaming.protocol import (
    TAG_CREDIT,
    TAG_HEADER,
    TAG_PAYLOAD,
    VERDICT_FINITE,
    Kind,
    data_header,
    encode_control,
)

FIELD = np.ones((1, 4), np.float32)


def with_verdict(sim: int, step: int, finite: bool) -> list[tuple[np.ndarray, int]]:
    h = data_header(FIELD.shape, FIELD.dtype, 0.1 * step, step, sim, [0.5], False,
                    FIELD.nbytes, verdict=True)
    verdict = np.array([VERDICT_FINITE if finite else 0], np.int64)
    return [(h, TAG_HEADER), (FIELD.reshape(-1).view(np.uint8), TAG_PAYLOAD),
            (verdict, TAG_PAYLOAD)]


def control(kind: Kind, *args, **kwargs) -> list[tuple[np.ndarray, int]]:
    h, p = encode_control(kind, *args, **kwargs)
    return [(h, TAG_HEADER), (p, TAG_PAYLOAD)]


def main() -> None:
    comm = MPI.COMM_SELF.Dup()
    buffer = FIFOBuffer(capacity=100)
    receiver = Receiver(comm, buffer, [0], ["nu"], pairs=False, abort_on_error=False,
                        switch_interval_s=None)
    parts = [*with_verdict(0, 0, True), *with_verdict(0, 1, False),
             *control(Kind.FAILED, 0, text="NaN/inf"),
             *with_verdict(1, 0, True), *with_verdict(1, 1, True), *control(Kind.END, 1, step=2),
             *control(Kind.DONE)]
    sends = [comm.Isend(np.ascontiguousarray(m).view(np.uint8), dest=0, tag=tag)
             for m, tag in parts]
    receiver.start()
    credit, deadline = np.zeros(2, np.int64), time.monotonic() + 20
    while not receiver.ended:
        while comm.Iprobe(source=0, tag=TAG_CREDIT):
            comm.Recv(credit, source=0, tag=TAG_CREDIT)
        assert time.monotonic() < deadline, "the receiver did not end"
        time.sleep(0.001)
    receiver.join()
    MPI.Request.Waitall(sends)
    st = receiver.stats()
    print(json.dumps({"committed_sims": sorted(receiver.committed_sims),
                      "stored": sorted((s.sim_id, s.step) for s in buffer.get_many(len(buffer))),
                      **{k: st.get(k) for k in ("malformed", "malformed_by_reason",
                                                "samples_non_finite", "sims_failed",
                                                "sims_dropped")}}))


main()
