"""Run by test_receiver_end_of_stream.py under mpiexec (3 ranks: 2 trainers, 1 solver): the
end of an uneven stream. Six simulations of 8 samples, simulation 5 diverges (abandoned,
max_retries 0), so the trainers get 5 simulations between them, never evenly, into FIFO
buffers of 4 items: the rank with fewer runs dry while the other still holds committed items
waiting for room and messages not yet taken. Each trainer writes ``rank{r}.json`` to OUT.

Modes: ``join`` ends as the package docstring does (``receiver.join()``); ``freeze`` as an
online run stopped by a trainer limit does (a freezing snapshot when this rank's stream had not
ended, then ``join``). ``end_of_stream_mpi.py MODE[,MODE...] OUT``: the modes one after the other
in one job (each on communicators of its own, from split_roles), each writing to OUT/MODE/."""

import json
import os
import sys

import numpy as np

from pdesurrogate.solvers.base import SolverDivergedError
from pdesurrogate.streaming import (
    BufferDataset,
    FIFOBuffer,
    Receiver,
    Scheduler,
    run_solver_rank,
    split_roles,
)

N_SIMS, N_SAMPLES, FAILING = 6, 8, 5


def main(mode: str, out: str) -> None:
    roles = split_roles(n_trainers=2)
    sched = Scheduler({"beta": (0.0, 1.0)}, n_simulations=N_SIMS, seed=0, max_retries=0)
    names = sched.param_names
    if not roles.is_trainer:
        def simulate(task, client):
            if task.sim_id == FAILING:
                raise SolverDivergedError("test", 0, 0.0, "planned")
            for k in range(N_SAMPLES):
                client.send(np.full((1, 16), 100 * task.sim_id + k, np.float32), t=0.1 * k,
                            step=k)
        run_solver_rank(roles, simulate, names)
        return
    buf = FIFOBuffer(capacity=4, watermark=1)
    rec = Receiver.from_roles(roles, buf, names, scheduler=sched, pairs=False,
                              abort_on_error=False, stall_timeout=30).start()
    data = BufferDataset(buf, names, batch_size=1, sync=rec.should_continue, collate=True)
    drawn = [(int(b["sim_id"][0]), int(b["step"][0])) for b in data]
    if mode == "freeze" and not rec.ended and not getattr(rec, "end_agreed", False):
        rec.snapshot(freeze=True)
    rec.join(timeout=20)
    r = roles.rank_in_role
    result = {"ended": rec.ended, "drawn": drawn}
    if rec.ended:
        snap = rec.snapshot()
        held = [(int(s["sim_id"]), int(s["step"]))
                for s in [*snap["buffer"]["items"], *snap["commit_queue"]]]
        result.update(
            held=held, committed=sorted(rec.committed_sims),
            lost=sorted(getattr(rec, "discarded_sims", set())
                        | getattr(rec, "dropped_sims", set())),
            stats={k: v for k, v in rec.stats().items() if not isinstance(v, dict)})
        if roles.runs_scheduler:
            result["abandoned"] = sorted(sched.abandoned)
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/rank{r}.json", "w") as f:
        json.dump(result, f)
    if not rec.ended:
        roles.world.Abort(3)  # the solver waits for this rank's final credit: end the job


for mode in sys.argv[1].split(","):
    main(mode, os.path.join(sys.argv[2], mode))
