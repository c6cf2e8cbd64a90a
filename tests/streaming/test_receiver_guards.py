"""The receiver's accounting guards and the trainers' agreement, without mpiexec
(receiver_guards.py runs a Receiver over COMM_SELF in a subprocess, so this process never
starts MPI): a resumed run never commits a simulation twice, a simulation is committed only
if exactly the samples its END announces arrived, a header with a NaN parameter is counted
as malformed and its simulation dropped, and should_continue goes on only if every trainer
rank can draw and none asked to stop."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def runs() -> dict[str, list[dict]]:
    proc = subprocess.run([sys.executable, str(HERE / "receiver_guards.py")],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out: dict[str, list[dict]] = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        out.setdefault(r.pop("scenario"), []).append(r)
    return out


def test_a_resumed_run_never_commits_a_simulation_twice(runs):
    """Restored with simulation 0 committed, the receiver gets 0, 1 and 2 again: 0 is counted
    a duplicate and none of its samples enter the buffer."""
    (r,) = runs["resume_dup"]
    assert r["sims_duplicate"] == 1 and r["sims_committed"] == 2
    assert r["stored"] == [[s, k] for s in (1, 2) for k in range(3)]
    assert r["committed_sims"] == [0, 1, 2]


def test_a_simulation_commits_only_with_exactly_the_samples_its_end_announces(runs):
    """5 samples with an END of 4, 2 with an END of 3, 4 whose last pack's END flag says 3:
    all three dropped; only the simulation whose END matches is stored. A count mismatch is
    a dropped simulation, not a malformed message."""
    (r,) = runs["end_count"]
    assert r["stored"] == [[1, k] for k in range(3)] and r["committed_sims"] == [1]
    assert r["sims_committed"] == 1 and r["sims_dropped"] == 3
    assert r["malformed"] == 0


def test_a_nan_parameter_is_malformed_and_drops_its_simulation(runs):
    """Both DATA headers of simulation 5 carry nu = NaN: 2 malformed (non_finite_meta),
    simulation 5 dropped at its END, the next simulation stored as usual."""
    (r,) = runs["nan_params"]
    assert r["malformed_by_reason"] == {"non_finite_meta": 2} and r["malformed"] == 2
    assert r["sims_dropped"] == 1 and r["sims_committed"] == 1
    assert r["stored"] == [[6, 0], [6, 1]] and r["params"] == [0.5]


def test_trainers_go_on_only_if_every_rank_can_and_none_stops(runs):
    """should_continue with a second trainer rank: True only when both can draw and neither
    asked to stop; a rank whose stream ended empty ends training on both; a stop asked on
    either rank ends it with ``stopped`` set."""
    got = {(r["mine"], tuple(r["other"]), r["stop_here"]): (r["go"], r["stopped"])
           for r in runs["agree"]}
    assert got == {
        ("ready", (1, 1), False): (True, False),
        ("ready", (0, 1), False): (False, False),  # the other rank's stream ended
        ("ended", (1, 1), False): (False, False),  # this rank's stream ended
        ("ready", (1, 0), False): (False, True),  # the other rank asked to stop
        ("ready", (1, 1), True): (False, True),  # this rank asked to stop
    }
