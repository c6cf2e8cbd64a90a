"""Which trainer each simulation goes to under the scheduler: every trainer sees the whole
parameter range (``sim_id % n_trainers`` handed each trainer one half of a Halton draw's first
parameter), failures that depend on the parameters do not starve one trainer (the scheduler
balances what did not fail), a resume keeps counting what each trainer got, and under MPI the
solver sends each simulation to the trainer its task names."""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pdesurrogate.streaming import Scheduler, StreamClient, route

HERE = Path(__file__).parent
MPIEXEC = Path(sys.executable).parent / "mpiexec"
BOX = {"a": (0.0, 1.0), "b": (-1.0, 1.0)}


def run_all(s: Scheduler, n_trainers: int, fails=lambda p: False) -> list[list[int]]:
    """Hand out and report every simulation, one at a time (one solver rank); ``fails(params)``
    says which attempts fail. Returns the trainers' loads after each hand-out."""
    loads = []
    while (task := s.next_task(n_trainers=n_trainers)) is not None:
        assert task.trainer == s.assigned[task.sim_id]
        per = np.bincount(list(s.assigned.values()), minlength=n_trainers)
        loads.append(per.tolist())
        if fails(task.params):
            s.report_failed(task.sim_id)
        else:
            s.report_done(task.sim_id)
    return loads


@pytest.mark.parametrize("n_trainers", [2, 4])
def test_each_trainer_sees_both_halves_of_the_first_parameter(n_trainers):
    """Halton, 64 simulations, nothing fails: each trainer gets an equal share, and its first
    parameter has values in both halves of the range (with sim_id % n, each trainer had only
    one half, or one quarter with 4 trainers)."""
    s = Scheduler(BOX, n_simulations=64, method="halton", seed=0)
    run_all(s, n_trainers)
    assigned = s.assigned
    assert sorted(assigned) == list(range(64))
    for t in range(n_trainers):
        a = [s.params_of(i)["a"] for i, tr in assigned.items() if tr == t]
        assert len(a) == 64 // n_trainers
        assert min(a) < 0.5 <= max(a), (t, sorted(a))


def test_failures_in_one_half_leave_the_trainers_balanced():
    """Every attempt with a >= 0.5 fails (max_retries=1): the failures all fall on even ids,
    which sim_id % 2 sent to trainer 0 alone. Failed attempts do not count, so the trainers'
    loads never differ by more than one and each ends with half of the 32 done."""
    s = Scheduler(BOX, n_simulations=64, method="halton", seed=0, max_retries=1)
    loads = run_all(s, 2, fails=lambda p: p["a"] >= 0.5)
    assert len(s.abandoned) == 32 and len(s.done) == 32
    assert all(max(per) - min(per) <= 1 for per in loads), loads
    done_on = [sum(1 for i in s.done if s.assigned[i] == t) for t in (0, 1)]
    assert done_on == [16, 16]


def _resumed(state: dict) -> Scheduler:
    blob = io.BytesIO()
    torch.save(state, blob)
    blob.seek(0)
    r = Scheduler(BOX, n_simulations=12, seed=1)
    r.load_state_dict(torch.load(blob, weights_only=True))
    return r


def test_a_resume_keeps_what_each_trainer_got():
    """Four simulations in flight on 2 trainers (2 each); the two on trainer 0 finish, then the
    run stops. After the resume they still count for trainer 0, so the next two hand-outs go
    to trainer 1, and the 12 end 6 on each; a simulation in flight at the stop that a trainer
    committed anyway (a resume counts it done) counts for the trainer the scheduler had sent
    it to."""
    s = Scheduler(BOX, n_simulations=12, seed=1)
    tasks = [s.next_task(n_trainers=2) for _ in range(4)]
    assert sorted(t.trainer for t in tasks) == [0, 0, 1, 1]
    on0 = [t.sim_id for t in tasks if t.trainer == 0]
    on1 = [t.sim_id for t in tasks if t.trainer == 1]
    for sim in on0:
        s.report_done(sim)
    r = _resumed(s.state_dict())
    assert r.assigned == {sim: 0 for sim in on0}
    nxt = [r.next_task(n_trainers=2) for _ in range(2)]
    assert sorted(t.sim_id for t in nxt) == sorted(on1)  # rerun first, as before the stop
    assert [t.trainer for t in nxt] == [1, 1]
    for t in nxt:
        r.report_done(t.sim_id)
    run_all(r, 2)
    assert sorted(r.assigned.values()).count(0) == sorted(r.assigned.values()).count(1) == 6

    # checkpoint.py counts as done what any trainer committed, in flight here or not
    state = s.state_dict()
    state["done"] = sorted(state["done"] + on1[:1])
    r = _resumed(state)
    assert r.assigned == {**{sim: 0 for sim in on0}, on1[0]: 1}


def test_a_state_from_before_trainers_were_recorded_loads():
    """A state without ``trainers`` and ``failures`` (saved before they existed): its done
    simulations count for the trainer sim_id % n_trainers, where that run sent them."""
    s = Scheduler(BOX, n_simulations=12, seed=1)
    for _ in range(3):
        s.report_done(s.next_task(n_trainers=2).sim_id)
    state = s.state_dict()
    del state["trainers"], state["failures"]
    r = _resumed(state)
    task = r.next_task(n_trainers=2)
    assert task.sim_id == 3
    assert r.assigned == {0: 0, 1: 1, 2: 0, 3: 1}  # 2 done on trainer 0: sim 3 goes to 1


@pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")
def test_solvers_send_each_simulation_to_the_trainer_the_scheduler_chose(tmp_path):
    """2 trainers + 1 solver, Halton over beta, every attempt with beta > 0.75 fails and is
    abandoned (all on even ids). Each trainer commits exactly the simulations the scheduler
    assigned to it, with their own beta in every sample; the trainers commit 12 each (with
    sim_id % 2: 8 and 16), and each has betas in both halves of [0, 1]."""
    proc = subprocess.run([str(MPIEXEC), "-launcher", "fork", "-n", "3", sys.executable,
                           "-m", "mpi4py", str(HERE / "scheduler_routing_mpi.py"),
                           str(tmp_path)],
                          capture_output=True, text=True, timeout=90,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = [json.loads((tmp_path / f"trainer{r}.json").read_text()) for r in (0, 1)]
    assigned = {int(s): t for s, t in res[0]["assigned"].items()}
    betas = res[0]["betas"]
    bad = [s for s, b in enumerate(betas) if b > 0.75]
    assert res[0]["abandoned"] == bad and all(s % 2 == 0 for s in bad) and len(bad) == 8
    good = [s for s in range(32) if s not in bad]
    for t, r in enumerate(res):
        mine = [s for s in good if assigned[s] == t]
        assert r["committed"] == mine
        assert sorted({s for s, *_ in r["samples"]}) == mine
        assert len(r["samples"]) == 3 * len(mine)
        for s, _, value, beta in r["samples"]:
            assert beta == pytest.approx(betas[s]) and value == pytest.approx(betas[s], 1e-6)
        mine_betas = [betas[s] for s in mine]
        assert min(mine_betas) < 0.5 <= max(mine_betas), (t, mine_betas)
    assert [len(r["committed"]) for r in res] == [12, 12]


def test_open_sends_to_the_trainer_it_names():
    """``open(..., trainer=)`` takes one of the client's trainer ranks (world ranks, not
    indices); without it, ``route`` picks."""
    def opened(sim_id: int, **kw) -> StreamClient:
        client = StreamClient(None, [3, 4], ["nu"])  # no MPI: open sends nothing
        client.open(sim_id, {"nu": 0.1}, **kw)
        return client

    assert opened(0, trainer=4)._dst == 4
    assert opened(1)._dst == route(1, (3, 4))
    for bad in (0, 2, True, "3"):
        with pytest.raises(ValueError, match=re.escape(
                f"trainer must be one of the trainer ranks [3, 4] or None, got {bad!r}")):
            opened(2, trainer=bad)
