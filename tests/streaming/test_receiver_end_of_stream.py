"""The end of an uneven stream over two trainer ranks (end_of_stream_mpi.py under mpiexec, 3
ranks): when one trainer runs dry while the other still holds committed items waiting for
buffer room and messages not yet taken, every rank ends, and every simulation is committed
whole, abandoned, or reported by id; none is lost."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
MPIEXEC = Path(sys.executable).parent / "mpiexec"
N_SIMS, N_SAMPLES = 6, 8

pytestmark = pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to python")


def run(modes: list[str], tmp_path: Path) -> dict[str, list[dict]]:
    """``modes`` one after the other in one MPI job (its ranks import torch and mpi4py
    once): by mode, the two trainer ranks' results."""
    cmd = [str(MPIEXEC), "-launcher", "fork", "-n", "3", sys.executable, "-m", "mpi4py",
           str(HERE / "end_of_stream_mpi.py"), ",".join(modes), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90 * len(modes),
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    results = {}
    for mode in modes:
        ranks = [json.loads(p.read_text()) for p in sorted((tmp_path / mode).glob("rank*.json"))]
        hung = [r for r, res in enumerate(ranks) if not res["ended"]]
        assert not hung, (f"{mode}: trainer ranks {hung} did not end within 20 s:\n"
                          f"{proc.stderr[-3000:]}")
        assert len(ranks) == 2, f"{mode}:\n{proc.stdout}{proc.stderr}"
        results[mode] = ranks
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return results


MODES = ["join", "freeze"]


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """The collected modes' runs, in one MPI job when the first test asks."""
    wanted = [item.callspec.params["mode"] for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec")]
    results = {}

    def get(mode: str) -> list[dict]:
        if not results:
            results.update(run(wanted or [mode], tmp_path_factory.mktemp("end_of_stream")))
        return results[mode]

    return get


@pytest.mark.parametrize("mode", MODES)
def test_every_simulation_is_committed_whole_abandoned_or_reported(runs, mode):
    """``join``: the documented end returns on both ranks, and the rank with the backlog
    takes its messages to the solvers' DONE and commits them (past its buffer's 4 items,
    counted as not buffered). ``freeze``: a freezing snapshot keeps the items of simulations
    already committed, and the simulations it discards are reported by id. Either way
    committed, abandoned and reported ids together are all six, and each committed
    simulation's 8 samples are drawn or held (buffer or commit queue), none twice. Both modes
    run one after the other in one MPI job (:func:`runs`)."""
    ranks = runs(mode)
    committed = [s for r in ranks for s in r["committed"]]
    assert len(committed) == len(set(committed))
    abandoned = set(ranks[0]["abandoned"])
    lost = {s for r in ranks for s in r["lost"]}
    assert abandoned == {5}
    assert set(committed) | abandoned | lost == set(range(N_SIMS))
    assert not set(committed) & lost
    for r in ranks:
        items = [tuple(x) for x in r["drawn"] + r["held"]]
        assert len(items) == len(set(items))
        for sim in r["committed"]:
            steps = sorted(k for s, k in items if s == sim)
            assert steps == list(range(N_SAMPLES)), (sim, steps)
        assert {s for s, _ in items} == set(r["committed"])
    assert len(ranks[0]["drawn"]) == len(ranks[1]["drawn"])
    if mode == "join":
        assert not lost and len(committed) == N_SIMS - 1
        # the rank with more simulations held what it could not draw, past its 4 items
        assert max(r["stats"]["items_not_buffered"] for r in ranks) > 0
