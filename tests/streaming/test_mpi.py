"""End-to-end MPI runs of the stream (mpiexec from the venv's MPICH, 2-4 ranks, Advection1D
on 16 points): exactly-once delivery, failed simulations discarded, malformed messages counted,
back-pressure, two trainers with disjoint data agreeing on the end of the stream."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
MPIEXEC = BIN / "mpiexec"

pytestmark = pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")


def run_all(scenarios: list[str], n: int, tmp_path: Path) -> dict[str, dict[int, dict]]:
    """``scenarios`` one after the other in one MPI job of ``n`` ranks (mpi_stream.py): by
    scenario, each rank's results."""
    cmd = [str(MPIEXEC), "-launcher", "fork", "-n", str(n), sys.executable, "-m", "mpi4py",
           str(HERE / "mpi_stream.py"), ",".join(scenarios), str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * len(scenarios),
                          env=env)
    assert proc.returncode == 0, f"{scenarios} failed:\n{proc.stdout}\n{proc.stderr}"
    return {s: {r: json.loads((tmp_path / s / f"rank{r}.json").read_text()) for r in range(n)}
            for s in scenarios}


def run(scenario: str, n: int, tmp_path: Path) -> dict[int, dict]:
    return run_all([scenario], n, tmp_path)[scenario]


def shared_job(request, tmp_path_factory, test: str, n: int):
    """A function giving a scenario's results from one MPI job of ``n`` ranks that runs,
    once, the scenarios of ``test`` that were collected (each job of 3 ranks spends most of
    its seconds importing torch and mpi4py)."""
    wanted = [item.callspec.params["scenario"] for item in request.session.items
              if item.module is request.module and item.originalname == test]
    results = {}

    def get(scenario: str) -> dict[int, dict]:
        if not results:
            results.update(run_all(wanted or [scenario], n, tmp_path_factory.mktemp(test)))
        return results[scenario]

    return get


@pytest.fixture(scope="module")
def e2e_runs(request, tmp_path_factory):
    return shared_job(request, tmp_path_factory, "test_one_trainer_two_solvers_exactly_once", 3)


@pytest.fixture(scope="module")
def back_pressure_runs(request, tmp_path_factory):
    return shared_job(request, tmp_path_factory, "test_back_pressure_slows_the_solver", 2)


@pytest.mark.parametrize("scenario", ["e2e", "e2e:single", "e2e:wait", "e2e:split"])
def test_one_trainer_two_solvers_exactly_once(e2e_runs, scenario):
    """1 trainer + 2 solvers, 6 simulations x 5 saved steps, pairs: every (sim, step) pair
    arrives exactly once and equals the recomputed trajectory (max error <= 1e-6, float32
    params); simulation 2's first attempt diverges after 2 samples and none of its samples
    enter the buffer (its rerun's do); 3 injected malformed messages are counted and the
    simulation they belonged to is dropped. Samples travel in packs (``e2e``), one per
    message (``e2e:single``; ``e2e:wait``: copy=True fields sent uncopied, each send waiting
    for MPI, with an injected verdict that found NaN, counted as a non-finite sample, not as a
    malformed message, and a malformed verdict; both simulations end with END, not FAILED,
    so both are dropped) or, the solver's uncopied
    states, in split packs (``e2e:split``, with 2 more malformed split packs whose messages are
    drained, and their simulation dropped); simulation 3 is a user's loop that overwrites its
    one array after each send (default copy=True), the others send the solver's states
    uncopied. The four run one after the other in one MPI job (:func:`shared_job`)."""
    res = e2e_runs(scenario)
    tr = res[0]
    got = [tuple(g) for g in tr["got"]]
    assert sorted(got) == [(s, k) for s in range(6) for k in range(4)]
    assert tr["max_error"] <= 1e-6
    rc = tr["receiver"]
    split, single = scenario == "e2e:split", scenario in ("e2e:single", "e2e:wait")
    waits = scenario == "e2e:wait"
    assert rc["sims_committed"] == 6 and rc["sims_failed"] == 1
    assert rc["sims_dropped"] == (2 if split else 3 if waits else 1)
    assert rc["samples_non_finite"] == (1 if waits else 0)
    assert rc["malformed_by_reason"] == {
        "magic": 1, "non_finite_fields": 1, "header_size": 1,
        **({"non_finite_meta": 1, "payload_size": 1} if split else {}),
        **({"payload_size": 1} if waits else {})}
    assert rc["malformed"] == (5 if split else 4 if waits else 3)
    assert tr["buffer"]["puts"] == 24 and tr["buffer"]["gets"] == 24
    assert tr["scheduler"]["attempts"] == 7 and tr["done"] == list(range(6))
    clients = [res[1]["client"], res[2]["client"]]
    assert sum(c["sims_failed"] for c in clients) == 1
    assert sum(c["samples"] for c in clients) == 6 * 5 + 2
    # packed, the failed attempt's 2 samples were still in the client's pack: never sent
    assert sum(c["samples_unsent"] for c in clients) == (0 if single else 2)
    # one message per sample, or each completed simulation in one pack, alone or in a chain
    # pack with others (packed: the split packs' simulation 3 goes alone, the next one's
    # samples being split)
    messages, chains, chained = (sum(c[k] for c in clients)
                                 for k in ("messages", "chain_packs", "chain_segments"))
    assert messages == (6 * 5 + 2 if single else 6 - chained + chains)
    assert chains == 0 if single or split else chains >= 1
    # unpacked, solver_simulation's states go uncopied; only the failing attempt's two arrays
    # and simulation 3's five (sent with the client's default, copy=True) were copied, or
    # sent from the caller's array with send waiting for MPI
    assert sum(c["copies"] for c in clients) == (2 + 5 if scenario == "e2e:single" else 0)
    assert sum(c["waited"] for c in clients) == (2 + 5 if waits else 0)
    # split: the five completed solver_simulation runs (sim 3 and the failing attempt copy)
    assert sum(c["split_packs"] for c in clients) == (5 if split else 0)
    assert {int(k): v for k, v in rc["per_source"].items()} == {
        1: clients[0]["samples"] - clients[0]["samples_unsent"],
        2: clients[1]["samples"] - clients[1]["samples_unsent"]}


@pytest.mark.parametrize("scenario", ["backpressure", "window"])
def test_back_pressure_slows_the_solver(back_pressure_runs, scenario):
    """Slow consumer (30 ms per item, 32 items of 128 KiB), FIFO capacity 2, and 2 messages
    ahead of the trainer at most (``backpressure``: max_in_flight 2, 2 message credits, the
    built-in solver's uncopied states; ``window``: a byte window that holds two messages, with
    max_in_flight 8 and 1000 message credits, so that the window alone holds the solver back,
    a user's loop whose samples the client copies): the solver waits for
    credits or sends (unthrottled it would never wait), never has more than 2 sends
    in flight nor more than 3 arrays to copy into, and cannot finish before the trainer has
    consumed all but at most capacity + one pending simulation + one committing simulation +
    credits = 2 + 4 + 4 + 2 samples. In ``window`` the receiver's ``credit_bytes`` is one
    message, so each message is credited back on its own as soon as it is taken.

    How long the solver waits is not asserted: on a loaded machine the solver's own steps
    take longer, and the wait shrinks (0.28 s was seen); the consumed-at-finish bound holds
    whatever the load. Both run one after the other in one MPI job (:func:`shared_job`)."""
    res = back_pressure_runs(scenario)
    tr, cl = res[0], res[1]
    assert [tuple(g) for g in tr["got"]] == [(s, k) for s in range(8) for k in range(4)]
    c = cl["client"]
    if scenario == "backpressure":  # built-in solver states, sent uncopied
        assert c["credit_waits"] > 0 and c["credit_wait_s"] > 0
        assert c["copies"] == c["allocations"] == 0
    else:
        # the byte window, the only bound that could stop it, made it wait
        assert c["credit_waits"] > 0 and c["credit_wait_s"] > 0
        # at most the arrays in flight and the one being filled are ever allocated, not one
        # per sample while sends wait (fresh memory costs a page fault per 4 KiB)
        assert c["copies"] == 32 and 1 <= c["allocations"] <= 2 + 1
    # window: a message the trainer took may still count as in flight until the client next
    # tests its request, while its credit is already back (3 seen, against 8 with no window)
    assert c["max_in_flight_seen"] <= (2 if scenario == "backpressure" else 3)
    assert tr["buffer"]["peak_size"] <= 2 and tr["receiver"]["pending_peak"] <= 4
    consumed_at_finish = sum(1 for t in tr["times"] if t <= cl["t_finish"])
    assert consumed_at_finish >= 32 - (2 + 4 + 4 + 2)
    if scenario == "window":
        # credit_bytes of one message: each of the 32 is credited on its own, then the final
        # credit; none waits for the end of a burst
        assert tr["receiver"]["credit_messages"] == 32 + 1
        assert tr["receiver"]["credits_sent"] == 32


def test_two_trainers_disjoint_and_agree_on_end(tmp_path):
    """2 trainers + 2 solvers, 5 simulations, each sent to the trainer its task names (the
    scheduler balances them: 3 to one trainer, 2 to the other, 3 pairs each): the trainers
    receive disjoint simulations, all 15 pairs are committed, and the per-batch agreement
    stops both after the same number of rounds (7: 6 items each, then the trainer with 2
    simulations is drained), with no rank hanging."""
    res = run("two_trainers", 4, tmp_path)
    t0, t1 = res[0], res[1]
    heavy, light = (t0, t1) if t0["receiver"]["items_committed"] == 9 else (t1, t0)
    assert heavy["receiver"]["items_committed"] == 9
    assert light["receiver"]["items_committed"] == 6
    sims_heavy = {s for s, _ in heavy["got"]}
    sims_light = {s for s, _ in light["got"]}
    assert len(sims_light) == 2 and len(sims_heavy) <= 3 and not sims_heavy & sims_light
    assert sims_heavy | sims_light <= set(range(5))
    assert t0["rounds"] == t1["rounds"] == 7
    assert len(t0["got"]) == len(t1["got"]) == 6
    assert len(set(map(tuple, t0["got"]))) == 6
