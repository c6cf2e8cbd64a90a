"""Run by test_receiver_huge_shape.py in its own process (this one starts MPI; pytest's does
not): a Receiver on ``COMM_SELF`` gets a split pack header whose one-sample shape is
consistent with its ``nbytes`` but enormous (2 samples of 2**40 float64 values, 8 TiB each),
followed by messages of 8 bytes, then an ordinary simulation. Prints one JSON line: what the
receiver stored and counted, and ``error``, the receiver's failure if it failed."""

import json
import time

import numpy as np
from mpi4py import MPI

from pdesurrogate.streaming import FIFOBuffer, Receiver
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


def main() -> None:
    comm = MPI.COMM_SELF.Dup()
    buffer = FIFOBuffer(capacity=100)
    receiver = Receiver(comm, buffer, [0], ["nu"], pairs=False, abort_on_error=False,
                        switch_interval_s=None)
    shape = (1, 2**40)
    huge = data_header(shape, np.float64, 0.0, 0, 7, [0.5], False,
                       pack_nbytes(2, 8 * 2**40), count=2, split=True)
    small = [np.zeros(8, np.uint8) for _ in range(3)]  # 2 samples and the times, all wrong
    messages = [(huge, small), encode_control(Kind.END, 7, step=2),
                *(encode_data(np.full((1, 4), k, np.float32), 0.1 * k, k, 8, [0.5])
                  for k in range(2)),
                encode_control(Kind.END, 8, step=2), encode_control(Kind.DONE)]
    sends = [comm.Isend(part.view(np.uint8), dest=0, tag=tag)
             for h, p in messages
             for part, tag in ((h, TAG_HEADER),
                               *((x, TAG_PAYLOAD) for x in (p if isinstance(p, list) else [p])))]
    receiver.start()
    credit, deadline, error = np.zeros(2, np.int64), time.monotonic() + 20, None
    while not receiver.ended and time.monotonic() < deadline:
        while comm.Iprobe(source=0, tag=TAG_CREDIT):
            comm.Recv(credit, source=0, tag=TAG_CREDIT)
        try:
            receiver.raise_if_failed()
        except Exception as e:  # what a trainer rank would die of
            error = f"{type(e).__name__}: {e}"
            break
        time.sleep(0.001)
    if error is None:
        try:
            receiver.join()
        except RuntimeError as e:
            error = f"{e}: {e.__cause__!r}"
    if error is None:
        MPI.Request.Waitall(sends)
    st = receiver.stats()
    items = buffer.get_many(len(buffer)) if len(buffer) else []
    print(json.dumps({"error": error, "ended": receiver.ended,
                      "stored": sorted((s.sim_id, s.step) for s in items),
                      **{k: st[k] for k in ("sims_committed", "sims_dropped", "malformed",
                                            "malformed_by_reason")}}), flush=True)
    if error is not None:
        MPI.COMM_WORLD.Abort(0)  # the receiver thread may be stuck on the leftover messages


main()
