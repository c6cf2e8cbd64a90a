"""Run by test_client.py in its own process: a StreamClient sends to its own rank over
``COMM_SELF`` (no mpiexec needed; small fields, so MPI buffers every message), then this
script receives what arrived and prints one JSON line per DATA message: where packs began
and ended, and whether their values are the samples sent."""

import json
import threading
import time

import numpy as np
import torch
from mpi4py import MPI

from pdesurrogate.streaming import NonFiniteFieldsError, StreamClient
from pdesurrogate.streaming.client import SPLIT_MAX_SAMPLES
from pdesurrogate.streaming.protocol import (
    TAG_HEADER,
    TAG_PAYLOAD,
    Kind,
    chain_segments,
    parse_header,
    payload_pack,
    split_messages,
)


def field(sim: int, k: int, shape=(1, 8), dtype=np.float32) -> np.ndarray:
    return np.full(shape, 100 * sim + k, dtype)


def receive(comm, sent, more):
    """Receive header + payload messages from this rank while ``more()``; yields one JSON
    line per DATA message: where it starts and ends, its values compared with ``sent``."""
    status = MPI.Status()
    header = np.empty(1024, np.uint8)
    while more():
        comm.Probe(source=0, tag=TAG_HEADER, status=status)
        n = status.Get_count(MPI.BYTE)
        comm.Recv(header[:n], source=0, tag=TAG_HEADER)
        h = parse_header(header[:n], 1)
        payloads = []
        for _ in range(split_messages(header[:n])):
            comm.Probe(source=0, tag=TAG_PAYLOAD, status=status)
            payloads.append(np.empty(status.Get_count(MPI.BYTE), np.uint8))
            comm.Recv(payloads[-1], source=0, tag=TAG_PAYLOAD)
        if h.kind != Kind.DATA:
            if h.sim_id >= 20:  # the chain-pack client's: where they fall among its packs
                yield json.dumps({"control": h.kind.name, "control_sim": h.sim_id})
            continue
        verdict = None
        if h.verdict:
            verdict = int(payloads.pop().view(np.int64)[0])
            h = h._replace(finite=True)
        segments = None
        if h.split:  # one message per field, then the times
            fields = [p.view(h.dtype).reshape(h.shape) for p in payloads[:-1]]
            times = payloads[-1].view(np.float64)
        else:
            fields, times = payload_pack(h, payloads[0])
            if h.chain:
                segments = chain_segments(h, payloads[0][fields.nbytes + 8 * h.count:])
                sent_steps = [(sg.sim_id, sg.step + k) for sg in segments
                              for k in range(sg.count)]
        keys = sent_steps if segments else [(h.sim_id, h.step + i) for i in range(h.count)]
        same = all(np.array_equal(fields[i], np.asarray(sent[key]), equal_nan=True)
                   for i, key in enumerate(keys))
        yield json.dumps({"sim": h.sim_id, "step": h.step, "count": h.count,
                          "shape": list(h.shape), "dtype": str(h.dtype), "end": h.end_total,
                          "split": h.split, "times": [float(x) for x in times],
                          "values_match": same, "verdict": verdict,
                          "segments": [[sg.sim_id, sg.step, sg.count, sg.end_total,
                                        list(sg.params)] for sg in segments or ()]})


def main() -> None:
    comm = MPI.COMM_SELF
    # max_in_flight above the message count: nothing waits for a receive this rank posts later
    # chain_s=0: each simulation's last pack goes at close (chain packs: further below)
    client = StreamClient(comm, [0], ["nu"], max_in_flight=64, pack_bytes=1024, chain_s=0)
    sent: dict[tuple[int, int], np.ndarray] = {}

    def send(sim, k, arr, **kw):
        sent[(sim, k)] = (arr.numpy() if isinstance(arr, torch.Tensor) else arr).copy()
        client.send(arr, t=0.5 * k, step=k, **kw)

    client.open(1, {"nu": 0.1})
    reused = field(1, 0)
    for k in range(3):  # one array, overwritten after each send: the pack must hold copies
        reused[...] = 100 + k
        send(1, k, reused)
    send(1, 5, field(1, 5))  # a gap in the steps: a new pack
    client.close()
    # another dtype or shape needs another simulation (send refuses it within one)
    client.open(6, {"nu": 0.6})
    send(6, 6, field(6, 6, dtype=np.float64))
    client.close()
    client.open(8, {"nu": 0.8})
    send(8, 7, field(8, 7, shape=(2, 4)))
    send(8, 8, torch.from_numpy(field(8, 8, shape=(2, 4))))  # a tensor joins the open pack
    client.close()
    client.open(2, {"nu": 0.2})
    counts = {}
    for k in range(6):  # 32-byte samples, 1024-byte packs of 32 samples: one pack
        client.send(field(2, k), t=0.5 * k)  # default steps: 0, 1, ...
        sent[(2, k)] = field(2, k)
        if k == 2:  # the pack is open: its samples count already
            counts["mid_pack"] = client.stats()["samples"], client.stats()["bytes"]
    client.close()
    counts["closed"] = client.stats()["samples"], client.stats()["bytes"]
    client.open(9, {"nu": 0.9})
    for k in range(2):
        client.send(field(9, k), t=0.5 * k)
    client.fail("test")  # given to send, never sent
    st = client.stats()
    counts["failed"] = st["samples"], st["bytes"], st["samples_unsent"]
    print(json.dumps({"counts": counts}))
    # uncopied fields from split_bytes up: split packs, at most SPLIT_MAX_SAMPLES each
    split = StreamClient(comm, [0], ["nu"], max_in_flight=64, pack_bytes=1 << 20,
                         split_bytes=0, copy=False)
    split.open(3, {"nu": 0.3})
    for k in range(SPLIT_MAX_SAMPLES + 4):
        sent[(3, k)] = field(3, k, shape=(1, 16))
        split.send(sent[(3, k)], t=0.5 * k)
    split.close()
    # a pack open max_pack_age_s goes with the next sample, which starts a new pack
    aged = StreamClient(comm, [0], ["nu"], max_in_flight=64, max_pack_age_s=1.0, chain_s=0)
    aged.open(4, {"nu": 0.4})
    for k in range(3):
        if k == 2:
            time.sleep(1.2)
        sent[(4, k)] = field(4, k)
        aged.send(sent[(4, k)], t=0.5 * k)
    aged.close()
    # chain packs: closed simulations wait in the pack for the next ones (same trainer, shape
    # and dtype); a failure sends the earlier ones, then FAILED; another shape, the pack
    chained = StreamClient(comm, [0], ["nu"], max_in_flight=64, chain_s=60.0)
    for sim, n, shape, how in ((20, 3, (1, 8), "close"), (21, 2, (1, 8), "close"),
                               (22, 2, (1, 8), "fail"), (23, 2, (1, 8), "close"),
                               (24, 1, (2, 4), "close"), (25, 0, (1, 8), "close")):
        chained.open(sim, {"nu": sim / 100})
        for k in range(n):
            sent[(sim, k)] = field(sim, k, shape=shape)
            chained.send(sent[(sim, k)], t=0.5 * k)
        chained.close() if how == "close" else chained.fail("test")
    chained_stats = chained.stats()
    for line in receive(comm, sent, lambda: comm.Iprobe(source=0, tag=TAG_HEADER)):
        print(line)
    # wait_large: copy=True fields too large to pack sent from the caller's array, send waiting
    # until MPI has moved them (here: until the thread below received them), each with the
    # verdict of its finite check; a communicator of their own keeps them apart from the
    # messages above
    lcomm = comm.Dup()
    large = StreamClient(lcomm, [0], ["nu"], max_in_flight=64, pack_bytes=64, wait_large=True)
    lines: list[str] = []
    headers = iter(range(3))  # two samples, then the FAILED
    thread = threading.Thread(target=lambda: lines.extend(
        receive(lcomm, sent, lambda: next(headers, None) is not None)))
    large.open(5, {"nu": 0.5})
    for k in range(2):
        arr = field(5, k, shape=(1, 16))
        arr[0, 3] = np.nan if k else arr[0, 3]
        sent[(5, k)] = arr.copy()
        if k == 0:
            thread.start()
        try:
            large.send(arr, t=0.5 * k)
        except NonFiniteFieldsError:  # raised once the field and its verdict have gone
            print(json.dumps({"large_raised": k}))
        if large._in_flight:
            raise SystemExit("send returned with its message in flight")
    large.fail("NaN")
    thread.join()
    print(*lines, sep="\n")
    print(json.dumps({"large_stats": large.stats()}))
    # a slow trainer: the client waits for a send to complete and reuses its pack buffer
    # rather than allocating (and faulting in) a fresh one per pack
    scomm = comm.Dup()
    slow = StreamClient(scomm, [0], ["nu"], max_in_flight=2, pack_bytes=1 << 20, chain_s=0)
    slow_lines: list[str] = []
    n_sims, per_sim = 8, 16
    headers = iter(range(n_sims))

    def more() -> bool:
        time.sleep(0.02)
        return next(headers, None) is not None

    thread = threading.Thread(target=lambda: slow_lines.extend(receive(scomm, sent, more)))
    thread.start()
    for sim in range(10, 10 + n_sims):
        slow.open(sim, {"nu": 1.0})
        for k in range(per_sim):  # 16 KiB samples: 256 KiB packs, beyond MPI's eager size
            sent[(sim, k)] = field(sim, k, shape=(1, 4096))
            slow.send(sent[(sim, k)], t=0.5 * k)
        slow.close()
    thread.join()
    print(json.dumps({"slow_stats": slow.stats(),
                      "slow_match": all(json.loads(x)["values_match"] for x in slow_lines),
                      "slow_packs": len(slow_lines)}))
    # sends to oneself complete once received: only now can the clients' requests be waited
    # for (shutdown would wait for a trainer's final credit, which has no one to send it)
    print(json.dumps({"chained_stats": chained_stats}))
    for c in (client, split, aged, chained, large, slow):
        while c._in_flight:
            c._wait_oldest()


if __name__ == "__main__":
    main()
