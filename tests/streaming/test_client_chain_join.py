"""A simulation's first sample joins the chain pack of the simulations before it through
``send``'s fast path (the common case of short simulations with small fields), with every check
of the general path: the pack's trainer, its segment cap, ``chain_s``, the step's sign, and the
simulation's shape from then on; a failed simulation's samples leave the pack, times included.

The client runs against a recording stand-in for the MPI communicator (every send completes at
once), so the messages are read back with the receiver's own parsers and no MPI starts here;
client_packs.py (test_client.py) checks packing over real MPI. Also here: steps given as numpy
integers or whole floats on the fast path."""

import time

import numpy as np
import pytest

from pdesurrogate.streaming import StreamClient
from pdesurrogate.streaming import client as client_module
from pdesurrogate.streaming.client import CHAIN_MAX_SEGMENTS
from pdesurrogate.streaming.protocol import (
    CREDIT_FIN,
    TAG_CREDIT,
    TAG_HEADER,
    Kind,
    chain_segments,
    parse_header,
    payload_pack,
)
from pdesurrogate.streaming.sample import BadSampleError


class _Done:
    """Completed requests: what ``Request.Testall``/``Waitall`` see."""

    class Request:
        @staticmethod
        def Testall(reqs):
            return True

        @staticmethod
        def Waitall(reqs):
            return None


class RecordingComm:
    """Keeps a copy of every message (destination, tag, bytes). No credits come back (a client
    needs ``credits`` and ``window_bytes`` large enough for the test) but the final one, which
    a trainer sends once it has the client's DONE."""

    def __init__(self):
        self.sent: list[tuple[int, int, bytes]] = []
        self.done: set[int] = set()

    def Isend(self, buf, dest, tag):
        raw = np.asarray(buf).view(np.uint8).tobytes()
        self.sent.append((dest, tag, raw))
        if tag == TAG_HEADER and parse_header(np.frombuffer(raw, np.uint8), 1).kind == Kind.DONE:
            self.done.add(dest)
        return object()

    def Iprobe(self, source, tag):
        return tag == TAG_CREDIT and source in self.done

    def Recv(self, buf, source, tag):
        self.done.remove(source)
        buf[:] = (CREDIT_FIN, 0)


@pytest.fixture
def comm(monkeypatch):
    monkeypatch.setattr(client_module, "mpi", lambda: _Done)
    return RecordingComm()


def data_messages(comm: RecordingComm, n_params: int = 1) -> list[dict]:
    """The DATA messages sent, in order: destination, and per segment (sim, first step,
    count, END total, params) with the samples' first values and times."""
    out, i = [], 0
    while i < len(comm.sent):
        dest, tag, raw = comm.sent[i]
        assert tag == TAG_HEADER
        h = parse_header(np.frombuffer(raw, np.uint8), n_params)
        payload = np.frombuffer(comm.sent[i + 1][2], np.uint8)  # control messages have one too
        i += 2
        if h.kind != Kind.DATA:
            continue
        # fields, then (in a pack) their times, then (in a chain pack) the segment table
        pack_bytes = h.count * int(np.prod(h.shape)) * h.dtype.itemsize
        pack_bytes += 8 * h.count if h.count > 1 else 0
        table = payload[pack_bytes:]
        fields, times = payload_pack(h._replace(nbytes=pack_bytes), payload[:pack_bytes])
        segments = (chain_segments(h, table) if h.chain
                    else [(h.sim_id, h.step, h.count, h.end_total, h.params)])
        out.append({"dest": dest, "segments": [tuple(s[:4]) + (tuple(s[4]),) for s in segments],
                    "first_values": fields.reshape(h.count, -1)[:, 0].tolist(),
                    "times": [float(t) for t in times]})
    return out


def client(comm, trainers=(1,), **kw) -> StreamClient:
    return StreamClient(comm, list(trainers), ["nu"], credits=10**6, window_bytes=10**12, **kw)


def field(value: float, shape=(1, 8)) -> np.ndarray:
    return np.full(shape, value, np.float32)


def after_one_simulation(comm, **kw) -> StreamClient:
    """A client whose simulation 0 (nu = 1, one sample of value 0) has ended in a chain pack
    that waits for the next simulations."""
    c = client(comm, **kw)
    c.open(0, {"nu": 1.0})
    c.send(field(0.0), t=0.0)
    c.close()
    return c


def test_the_first_sample_of_a_chained_simulation_takes_the_fast_path(comm):
    c = client(comm)
    c.open(0, {"nu": 0.5})
    c.send(field(0.0), t=0.0)  # opens the pack: the general path
    c.close()

    def general_path(*args):
        raise AssertionError("send took the general path")

    c._send = general_path
    for sim in (1, 2):
        c.open(sim, {"nu": 0.5 + sim})
        c.send(field(10.0 * sim), t=0.25)
        c.send(field(10.0 * sim + 1), t=0.5)
        c.close()
    del c._send
    c.shutdown()
    (msg,) = data_messages(comm)
    assert msg["segments"] == [(0, 0, 1, 1, (0.5,)), (1, 0, 2, 2, (1.5,)), (2, 0, 2, 2, (2.5,))]
    assert msg["first_values"] == [0.0, 10.0, 11.0, 20.0, 21.0]
    assert msg["times"] == [0.0, 0.25, 0.5, 0.25, 0.5]
    assert c.stats()["samples"] == 5 and c.stats()["bytes"] == 5 * 32


def test_a_chained_simulation_keeps_its_first_samples_shape(comm):
    c = after_one_simulation(comm)
    c.open(1, {"nu": 1.0})
    c.send(field(1.0), t=0.0)  # joins the chain pack
    with pytest.raises(BadSampleError, match=r"fields shape \(2, 4\) at step 1 differs from "
                                             r"\(1, 8\) at its first step"):
        c.send(field(1.0, (2, 4)), t=0.1)
    c.close()
    c.shutdown()


def test_a_chained_simulations_first_step_must_not_be_negative(comm):
    c = after_one_simulation(comm)
    c.open(1, {"nu": 1.0})
    with pytest.raises(BadSampleError, match="step must be >= 0, got -1"):
        c.send(field(1.0), t=0.0, step=-1)
    c.send(field(1.0), t=0.0, step=3)
    c.close()
    c.shutdown()
    (msg,) = data_messages(comm)
    assert msg["segments"] == [(0, 0, 1, 1, (1.0,)), (1, 3, 1, 1, (1.0,))]


def test_a_simulation_for_another_trainer_starts_its_own_pack(comm):
    c = client(comm, trainers=(1, 2))
    c.open(0, {"nu": 1.0}, trainer=1)
    c.send(field(0.0), t=0.0)
    c.close()
    c.open(1, {"nu": 2.0}, trainer=2)
    c.send(field(1.0), t=0.0)
    c.close()
    c.shutdown()
    got = [(m["dest"], m["segments"]) for m in data_messages(comm)]
    assert got == [(1, [(0, 0, 1, 1, (1.0,))]), (2, [(1, 0, 1, 1, (2.0,))])]


def test_a_chain_pack_holds_at_most_its_segment_cap(comm):
    c = client(comm)
    n_sims = CHAIN_MAX_SEGMENTS + 6
    for sim in range(n_sims):
        c.open(sim, {"nu": float(sim)})
        c.send(field(float(sim)), t=0.0)
        c.close()
    c.shutdown()
    msgs = data_messages(comm)
    assert [len(m["segments"]) for m in msgs] == [CHAIN_MAX_SEGMENTS, 6]
    sims = [s for m in msgs for s in m["segments"]]
    assert sims == [(k, 0, 1, 1, (float(k),)) for k in range(n_sims)]
    assert [v for m in msgs for v in m["first_values"]] == [float(k) for k in range(n_sims)]


def test_a_simulation_starting_chain_s_after_the_last_end_does_not_join(comm):
    c = after_one_simulation(comm, chain_s=0.02)
    c.open(1, {"nu": 1.0})  # within chain_s: the pack waits
    assert data_messages(comm) == []
    time.sleep(0.05)
    c.send(field(1.0), t=0.0)
    assert [m["segments"] for m in data_messages(comm)] == [[(0, 0, 1, 1, (1.0,))]]
    c.close()
    c.shutdown()


def test_a_failed_simulation_leaves_the_chain_pack_with_its_times(comm):
    c = client(comm)
    c.open(0, {"nu": 1.0})
    for k in range(3):
        c.send(field(float(k)), t=0.1 * k)
    c.close()
    c.open(1, {"nu": 2.0})
    c.send(field(10.0), t=7.0)
    c.send(field(11.0), t=8.0)
    c.fail("diverged")
    c.open(2, {"nu": 3.0})
    c.send(field(20.0), t=0.5)
    c.send(field(21.0), t=0.75)
    c.close()
    c.shutdown()
    msgs = data_messages(comm)
    segments = [s for m in msgs for s in m["segments"]]
    assert segments == [(0, 0, 3, 3, (1.0,)), (2, 0, 2, 2, (3.0,))]
    assert [v for m in msgs for v in m["first_values"]] == [0.0, 1.0, 2.0, 20.0, 21.0]
    assert [t for m in msgs for t in m["times"]] == pytest.approx([0.0, 0.1, 0.2, 0.5, 0.75])
    assert c.stats()["samples_unsent"] == 2


@pytest.mark.parametrize("kind", [np.int64, np.int32, float, str])
def test_steps_that_are_not_python_ints_continue_the_pack(comm, kind):
    # send's fast path compares the step as given (no int()): numpy integers, whole floats
    # and even digit strings must still continue the pack and join the chain, as the general
    # path (int(step)) lets them
    c = client(comm)
    c.open(0, {"nu": 1.0})
    c.send(field(0.0), t=0.0, step=kind(0))
    c.send(field(1.0), t=0.1, step=kind(1))
    c.close()
    c.open(1, {"nu": 2.0})  # joins the chain pack through the fast path
    c.send(field(2.0), t=0.0, step=kind(3))
    c.send(field(3.0), t=0.1, step=kind(4))
    c.close()
    c.shutdown()
    (msg,) = data_messages(comm)
    assert msg["segments"] == [(0, 0, 2, 2, (1.0,)), (1, 3, 2, 2, (2.0,))]
    assert msg["first_values"] == [0.0, 1.0, 2.0, 3.0]
