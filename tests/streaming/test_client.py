"""StreamClient packing, seen from the wire: consecutive steps of one simulation share a pack,
anything else starts a new one, and a pack holds copies of what was sent (client_packs.py
runs a client against its own rank in a subprocess, so this process never starts MPI).
Uncopied fields from split_bytes up (off by default) travel in split packs of at most
SPLIT_MAX_SAMPLES samples: with more, MPI slowed down tenfold (see streaming/client.py); a pack
open max_pack_age_s goes with the next sample."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pdesurrogate.solvers.base import SolverDivergedError
from pdesurrogate.streaming import NonFiniteFieldsError, StreamClient
from pdesurrogate.streaming.client import SPLIT_MAX_SAMPLES

HERE = Path(__file__).parent


def test_packs_break_where_the_samples_stop_continuing(run_script):
    lines = run_script("client_packs.py")
    large = next(x["large_stats"] for x in lines if "large_stats" in x)
    counts = next(x["counts"] for x in lines if "counts" in x)
    slow = next(x for x in lines if "slow_stats" in x)
    packs = [x for x in lines if "count" in x]
    chain_order = [(x["sim"], x["count"], x["end"]) if "sim" in x
                   else (x["control"], x["control_sim"])
                   for x in lines if x.get("sim", 0) >= 20 or "control" in x]
    chained = next(x["chained_stats"] for x in lines if "chained_stats" in x)
    # the NaN field went, with its verdict, before send raised
    assert next(x["large_raised"] for x in lines if "large_raised" in x) == 1
    got = [(p["sim"], p["step"], p["count"], p["shape"], p["dtype"], p["end"]) for p in packs]
    assert got == [
        (1, 0, 3, [1, 8], "float32", 0),  # steps 0-2 of one reused array
        (1, 5, 1, [1, 8], "float32", 4),  # step 5 does not continue step 2; the END
        (6, 6, 1, [1, 8], "float64", 1),  # another dtype (another simulation)
        (8, 7, 2, [2, 4], "float32", 2),  # another shape; a tensor continues it
        (2, 0, 6, [1, 8], "float32", 6),  # default steps 0..5 in one pack
        # uncopied: split packs of at most SPLIT_MAX_SAMPLES, however many bytes would fit
        (3, 0, SPLIT_MAX_SAMPLES, [1, 16], "float32", 0),
        (3, SPLIT_MAX_SAMPLES, 4, [1, 16], "float32", SPLIT_MAX_SAMPLES + 4),
        # max_pack_age_s: the third sample came 1.2 s after the pack opened
        (4, 0, 2, [1, 8], "float32", 0),
        (4, 2, 1, [1, 8], "float32", 3),
        # chain packs: simulations 20 and 21 share one (END totals in its segment table)
        (20, 0, 5, [1, 8], "float32", 0),
        (23, 0, 2, [1, 8], "float32", 2),  # 24 has another shape: 23 goes alone
        (24, 0, 1, [2, 4], "float32", 1),  # 25 sent nothing: 24's pack goes before its END
        # copy=True, too large to pack: one message each, with the sender's verdict
        (5, 0, 1, [1, 16], "float32", 0),
        (5, 1, 1, [1, 16], "float32", 0),
    ]
    assert [p["split"] for p in packs] == [False] * 5 + [True] * 2 + [False] * 7
    assert [p["verdict"] for p in packs] == [None] * 12 + [1, 0]  # the second has a NaN
    assert packs[9]["segments"] == [[20, 0, 3, 3, [0.2]], [21, 0, 2, 2, [0.21]]]
    assert packs[9]["times"] == [0.0, 0.5, 1.0, 0.0, 0.5]
    assert all(not p["segments"] for i, p in enumerate(packs) if i != 9)
    # no END or FAILED overtakes the ended simulations still in a chain pack
    assert chain_order == [(20, 5, 0), ("FAILED", 22), (23, 2, 2), (24, 1, 1), ("END", 25)]
    assert chained["chain_packs"] == 1 and chained["messages"] == 3
    assert chained["samples"] == 10 and chained["samples_unsent"] == 2
    assert large["waited"] == 2 and large["copies"] == 0
    # samples given to send count at once, also those still in an open pack or never sent
    sim1 = 4 * 32 + 64 + 2 * 32  # bytes: four float32 (1, 8), a float64, two (2, 4)
    assert counts["mid_pack"] == [7 + 3, sim1 + 3 * 32]
    assert counts["closed"] == [7 + 6, sim1 + 6 * 32]
    assert counts["failed"] == [7 + 6 + 2, sim1 + 8 * 32, 2]
    # a slow trainer: at most max_in_flight + 1 pack buffers (those in flight and the open
    # one), not one per pack
    assert slow["slow_packs"] == 8 and slow["slow_match"]
    assert slow["slow_stats"]["samples"] == 8 * 16
    assert 1 <= slow["slow_stats"]["allocations"] <= 2 + 1
    assert all(p["values_match"] for p in packs)
    assert packs[0]["times"] == [0.0, 0.5, 1.0]
    assert packs[4]["times"] == [0.5 * k for k in range(6)]
    assert packs[6]["times"] == [0.5 * k for k in range(SPLIT_MAX_SAMPLES, SPLIT_MAX_SAMPLES + 4)]
    assert packs[8]["times"] == [1.0]


# The checks below raise before the client touches its communicator, so a client without one
# (comm=None) shows them without starting MPI in this process.

def _client(**kw) -> StreamClient:
    client = StreamClient(None, [0], ["nu"], **kw)
    client.open(7, {"nu": 0.1})
    return client


def test_a_simulation_keeps_its_first_samples_shape_and_dtype():
    client = _client()
    u = np.zeros((1, 64))
    for k in range(5):
        client.send(u, t=0.1 * k, step=k)
    with pytest.raises(ValueError, match=re.escape(
            "simulation 7: fields shape (1, 32) at step 5 differs from (1, 64) at its first "
            "step")):
        client.send(u[:, :32], t=0.5, step=5)
    with pytest.raises(ValueError, match="simulation 7: fields dtype float32 at step 5 "
                                         "differs from float64 at its first step"):
        client.send(u.astype(np.float32), t=0.5, step=5)
    assert client._pack.n == 5  # nothing of either was packed
    client.send(u, t=0.5, step=5)  # the simulation goes on


@pytest.mark.parametrize("fields, match", [
    (np.float64(1.0), r"fields must have 1\.\.4 dims \(C, \*grid\), got shape \(\)"),
    (np.zeros((1, 1, 1, 1, 8)), r"fields must have 1\.\.4 dims"),
    (np.zeros((1, 8), np.int64), "fields dtype must be float16, float32 or float64, got int64"),
])
def test_fields_are_checked_at_the_first_send(fields, match):
    client = _client()
    with pytest.raises(ValueError, match=match):
        client.send(fields, t=0.0)
    assert client._pack is None


@pytest.mark.parametrize("kw", [{}, {"pack_bytes": 0}, {"copy": False, "split_bytes": 0}])
@pytest.mark.parametrize("step, t, match", [
    (-1, 0.2, "simulation 7: step must be >= 0, got -1"),
    (1, float("nan"), "simulation 7: t must be finite, got nan at step 1"),
    (1, float("inf"), "simulation 7: t must be finite, got inf at step 1"),
    (1, -float("inf"), "simulation 7: t must be finite, got -inf at step 1"),
])
def test_send_refuses_a_negative_step_or_a_non_finite_time(kw, step, t, match):
    """The trainer rejects such a message and drops the simulation, which the solver then
    reports done: lost. So send refuses it before anything is packed or sent, on every path
    (a copied pack's next step, a sample sent on its own, a split pack), and the simulation
    goes on."""
    client = _client(**kw)
    u = np.zeros((1, 8), np.float32)
    sent = 0 if kw.get("pack_bytes") == 0 else 1  # no MPI here: a sample on its own would go
    if sent:
        client.send(u, t=0.0, step=0)
    with pytest.raises(ValueError, match=re.escape(match)):
        client.send(u, t=t, step=step)
    p = client._pack
    assert (0 if p is None else p.n if hasattr(p, "n") else len(p.arrays)) == sent
    assert client.stats()["samples"] == sent
    assert client._sim == 7


def test_send_after_close_says_no_simulation_is_open():
    client = _client()  # chain packs: close() keeps the END in the pack, nothing is sent
    client.send(np.zeros((1, 8), np.float32), t=0.0)
    client.close()
    with pytest.raises(RuntimeError, match="send with no simulation open \\(simulation 7 was "
                                           "closed or failed\\)"):
        client.send(np.zeros((1, 8), np.float32), t=0.0)
    with pytest.raises(RuntimeError, match="send before open"):
        StreamClient(None, [0], ["nu"]).send(np.zeros((1, 8), np.float32), t=0.0)


def test_nan_in_a_packed_sample_raises_at_close_and_leaves_the_simulation_open():
    client = _client()
    u = np.ones((1, 8), np.float32)
    for k in range(4):
        client.send(u * np.nan if k == 2 else u, t=0.5 * k)  # one check per pack, not here
    with pytest.raises(NonFiniteFieldsError, match=re.escape(
            "simulation 7: NaN/inf in the fields sent at step 2 (t=1)")) as err:
        client.close()
    assert isinstance(err.value, SolverDivergedError)  # run_solver_rank resubmits it
    assert (err.value.sim_id, err.value.step) == (7, 2)
    assert client._sim == 7  # for fail()


@pytest.mark.parametrize("kw, shape", [
    ({"copy": False, "split_bytes": 0}, (1, 8)),  # split pack: each sample checked as added
    ({"pack_bytes": 64}, (1, 64)),  # too large to pack: checked before it is sent
])
def test_nan_in_an_unpacked_sample_raises_at_send(kw, shape):
    client = _client(**kw)
    with pytest.raises(NonFiniteFieldsError, match="simulation 7: NaN/inf in the fields "
                                                   "sent at step 0"):
        client.send(np.full(shape, np.inf, np.float32), t=0.0)


# a simulation whose send raised NonFiniteFieldsError, over COMM_SELF in a process of its own
# (this one never starts MPI): a copied pack (the check when the full pack goes), a split
# pack, a field too large to pack (copied, or sent through with wait_large). Prints, per path,
# what send and close raised, then the messages that reached the "trainer" (this rank)
AFTER_NAN = """
import json
import threading
import time

import numpy as np
from mpi4py import MPI

from pdesurrogate.streaming import NonFiniteFieldsError, StreamClient
from pdesurrogate.streaming.protocol import TAG_HEADER, TAG_PAYLOAD, parse_header, split_messages


def outcome(call):
    try:
        call()
    except NonFiniteFieldsError as e:
        return str(e)
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return "ok"


def receive(comm, msgs, done):
    # sends to oneself complete once received (wait_large's send waits for that)
    st, buf = MPI.Status(), np.empty(1024, np.uint8)
    while True:
        if not comm.Iprobe(source=0, tag=TAG_HEADER, status=st):
            if done.is_set():
                return
            time.sleep(0.001)
            continue
        n = st.Get_count(MPI.BYTE)
        comm.Recv(buf[:n], source=0, tag=TAG_HEADER)
        for _ in range(split_messages(buf[:n])):
            comm.Probe(source=0, tag=TAG_PAYLOAD, status=st)
            comm.Recv(np.empty(st.Get_count(MPI.BYTE), np.uint8), source=0, tag=TAG_PAYLOAD)
        h = parse_header(buf[:n], 1)
        msgs.append([h.kind.name, h.sim_id, h.end_total])


for path, kw, shape in (("packed", {"pack_bytes": 64}, (1, 4)),
                        ("split", {"copy": False, "split_bytes": 0}, (1, 8)),
                        ("split_first", {"copy": False, "split_bytes": 0}, (1, 8)),
                        ("large", {"pack_bytes": 64}, (1, 16)),
                        ("wait_large", {"pack_bytes": 64, "wait_large": True}, (1, 16))):
    comm, msgs, done = MPI.COMM_SELF.Dup(), [], threading.Event()
    thread = threading.Thread(target=receive, args=(comm, msgs, done))
    thread.start()
    c = StreamClient(comm, [0], ["nu"], max_in_flight=64, chain_s=0, **kw)
    c.open(7, {"nu": 0.1})
    first = 0 if path == "split_first" else 1  # split_first: no split pack open yet
    if first:
        c.send(np.ones(shape, np.float32), t=0.0)
    sent = []
    for k in range(first, 5):  # until send raises (the copied pack's: when the full pack goes)
        sent.append(outcome(lambda: c.send(np.full(shape, np.nan if k == first else 1.0,
                                                   np.float32), t=0.5 * k)))
        if sent[-1] != "ok":
            break
    closed = outcome(c.close)
    failed = outcome(lambda: c.fail("NaN"))
    c.open(8, {"nu": 0.2})  # the next simulation goes as usual
    c.send(np.ones(shape, np.float32), t=0.0)
    nxt = outcome(c.close)
    while c._in_flight:
        c._wait_oldest()
    done.set()
    thread.join()
    print(json.dumps({"path": path, "sent": sent, "closed": closed, "failed": failed,
                      "next": nxt, "stats": c.stats(), "messages": msgs}))
"""


def test_close_after_send_raised_nan_raises_it_again_on_every_path():
    """Whichever path a simulation's fields took, once send raised NonFiniteFieldsError
    close() raises it again (it used to END the simulation without the bad sample for fields
    sent on their own, and fail with an IndexError on an empty split pack), and fail() then
    drops the simulation: the trainer gets FAILED and no END for it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", AFTER_NAN], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    runs = {r["path"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert set(runs) == {"packed", "split", "split_first", "large", "wait_large"}
    for path, r in runs.items():
        nan = (f"simulation 7: NaN/inf in the fields sent at step "
               f"{'0 (t=0)' if path == 'split_first' else '1 (t=0.5)'}")
        # a copied pack is checked when it goes (the fifth sample does not fit the pack of
        # four); the others at once
        assert r["sent"] == (["ok"] * 3 if path == "packed" else []) + [nan], (path, r)
        assert r["closed"] == nan, (path, r)
        assert r["failed"] == "ok" and r["next"] == "ok", (path, r)
        assert r["stats"]["sims_failed"] == 1 and r["stats"]["sims_closed"] == 1, (path, r)
        kinds = [(kind, sim) for kind, sim, _ in r["messages"]]
        assert ("FAILED", 7) in kinds and ("END", 7) not in kinds, (path, r)
        assert [m for m in r["messages"] if m[0] == "DATA" and m[1] == 7 and m[2]] == [], r
        assert any(m[1] == 8 and (m[0] == "END" or m[2] == 1) for m in r["messages"]), r


def test_uncopied_fields_are_packed_unless_split_bytes_is_set():
    """Split packs are off by default (copying into packs moved more with fresh states; see
    protocol.DEFAULT_SPLIT_BYTES): an uncopied 64 KiB field is copied into a pack, so writing
    into it after send changes nothing sent. With split_bytes set it joins a split pack, which
    holds the caller's array itself."""
    from pdesurrogate.streaming.client import _Pack, _SplitPack

    u = np.ones((1, 128, 128), np.float32)
    packed = _client(copy=False)
    packed.send(u, t=0.0, step=0)
    assert type(packed._pack) is _Pack
    u[...] = 2.0
    assert (packed._pack.fields[0] == 1.0).all()
    split = _client(copy=False, split_bytes=64 * 2**10)
    split.send(u, t=0.0, step=0)
    assert type(split._pack) is _SplitPack and split._pack.arrays[0] is u


@pytest.mark.parametrize("value", [-1, True, 1.5, "64"])
def test_split_bytes_must_be_a_size_or_none(value):
    with pytest.raises(ValueError, match=re.escape(
            f"split_bytes must be an integer >= 0 or None (never split), got {value!r}")):
        StreamClient(None, [0], ["nu"], split_bytes=value)


def test_waiting_for_a_message_in_flight_polls_instead_of_busy_waiting(monkeypatch):
    """The client waits for the oldest message in flight with Testall between naps
    (poll_until), not with MPICH's Waitall, which keeps the core busy for as long as the
    trainer takes to receive it (the trainer's core, where ranks share cores: 1 trainer + 3
    solvers on 2 cores ran 1.5-1.9x slower). wait_large's blocking send keeps Waitall."""
    import pdesurrogate.streaming.client as client_module

    calls = {"Testall": 0, "Waitall": 0}

    class Request:
        @staticmethod
        def Testall(reqs):
            calls["Testall"] += 1
            return calls["Testall"] > 3  # the message goes at the fourth poll

        @staticmethod
        def Waitall(reqs):
            calls["Waitall"] += 1

    monkeypatch.setattr(client_module, "mpi", lambda: type("MPI", (), {"Request": Request}))
    client = _client()
    spare = np.empty(8, np.uint8)
    client._in_flight.append(([object()], (), spare))
    client._wait_oldest()
    assert calls == {"Testall": 4, "Waitall": 0}
    assert not client._in_flight and client._spare[-1] is spare  # its copy kept for reuse
    client._in_flight.append(([object()], (), None))
    client._wait_oldest(blocking=True)
    assert calls == {"Testall": 4, "Waitall": 1} and not client._in_flight
