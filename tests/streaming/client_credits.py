"""Run by test_client_credits.py in its own process (this one starts MPI; pytest's does not):
a StreamClient with ``credits=2`` sends to its own rank over ``COMM_SELF``, one message per
sample, and nobody takes them; this script plays the trainer. Prints one JSON line: how many
DATA messages arrived before and after this rank returned one credit, and whether the third
send waited for it."""

import json
import threading
import time

import numpy as np
from mpi4py import MPI

from pdesurrogate.streaming import StreamClient
from pdesurrogate.streaming.protocol import TAG_CREDIT, TAG_HEADER, TAG_PAYLOAD, parse_header


def take_arrived(comm) -> list[int]:
    """Receive every DATA message (header, payload) that has arrived; their steps."""
    steps, status, header = [], MPI.Status(), np.empty(1024, np.uint8)
    while comm.Iprobe(source=0, tag=TAG_HEADER, status=status):
        n = status.Get_count(MPI.BYTE)
        comm.Recv(header[:n], source=0, tag=TAG_HEADER)
        comm.Probe(source=0, tag=TAG_PAYLOAD, status=status)
        comm.Recv(np.empty(status.Get_count(MPI.BYTE), np.uint8), source=0, tag=TAG_PAYLOAD)
        steps.append(parse_header(header[:n], 1).step)
    return steps


def main() -> None:
    comm = MPI.COMM_SELF.Dup()
    # pack_bytes=0: every sample is its own DATA message, each costing one credit
    client = StreamClient(comm, [0], ["nu"], credits=2, pack_bytes=0, max_in_flight=64,
                          chain_s=0)
    client.open(1, {"nu": 0.5})
    u = np.ones((1, 8), np.float32)
    for k in range(2):
        client.send(u, t=0.1 * k)
    # daemon: a send that never gets its credit must not keep the process alive
    third = threading.Thread(target=client.send, args=(u,), kwargs={"t": 0.2}, daemon=True)
    third.start()
    third.join(0.5)
    waited = third.is_alive()
    time.sleep(0.05)  # a message the third send might have posted late
    before = take_arrived(comm)
    # one message credited back; Isend, as a blocking send to oneself waits for its receive
    credit = np.array([1, 1 << 20], np.int64)
    request = comm.Isend(credit, dest=0, tag=TAG_CREDIT)
    third.join(10)
    finished = not third.is_alive()
    deadline = time.monotonic() + 2
    after = take_arrived(comm)
    while finished and not after and time.monotonic() < deadline:
        after = take_arrived(comm)
    if comm.Iprobe(source=0, tag=TAG_CREDIT):  # a client that never waited left it there
        comm.Recv(np.empty(2, np.int64), source=0, tag=TAG_CREDIT)
    request.Wait()
    print(json.dumps({"waited": waited, "before": before, "finished": finished, "after": after,
                      "credit_waits": client.stats()["credit_waits"]}))


main()
