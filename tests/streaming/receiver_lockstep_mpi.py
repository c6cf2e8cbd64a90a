"""Run by test_receiver_lockstep.py under mpiexec (3 ranks: 2 trainers, 1 solver): lockstep
training on uneven streams where the starving rank holds less than a batch. Six simulations;
those the scheduler routes to trainer 0 have ``LONG`` samples, those to trainer 1 one sample.
Buffers of 4 items, batches of 2, solver credits of 2 one-sample messages: trainer 0's
buffer fills and its receiver waits for room, the solver waits for its credits in the middle
of a simulation to trainer 0, and trainer 1 holds 0 or 1 items, less than a batch even on a
lowered watermark. Each trainer writes ``rank{r}.json`` to OUT: what it drew, held and
committed, its stats, the seconds it trained and the error should_continue raised.

Arguments: OUT, the stall timeout in seconds, and optionally the batch size (default 2) and
the receivers' max_pending_samples (default the Receiver's): with batches of 4 trainer 1's
three one-sample simulations never make a batch, and with max_pending_samples 10 trainer 0
may take only 10 items past its buffer while the lockstep is stuck, so the run stalls. After
``--``, another run's arguments, and so on: the runs go one after the other in one job (each
on communicators of its own, from split_roles; its ranks import torch and mpi4py once), a run
that stalls only last (it aborts the job)."""

import json
import sys
import time
from pathlib import Path

import numpy as np

from pdesurrogate.online.job_cleanup import _record_shm
from pdesurrogate.online.run_folder import RANKS
from pdesurrogate.streaming import (
    BufferDataset,
    FIFOBuffer,
    Receiver,
    Scheduler,
    run_solver_rank,
    split_roles,
)

N_SIMS, LONG = 6, 10


def main(args: list[str]) -> None:
    out, stall_s = args[0], float(args[1])
    batch = int(args[2]) if len(args) > 2 else 2
    pending = {"max_pending_samples": int(args[3])} if len(args) > 3 else {}
    roles = split_roles(n_trainers=2)
    sched = Scheduler({"beta": (0.0, 1.0)}, n_simulations=N_SIMS, seed=0)
    names = sched.param_names
    if not roles.is_trainer:
        def simulate(task, client):
            for k in range(LONG if task.trainer == 0 else 1):
                client.send(np.full((1, 16), 100 * task.sim_id + k, np.float32), t=0.1 * k,
                            step=k)
        # one sample a message, two messages a window: the solver waits on trainer 0's
        # credits two samples into a simulation
        run_solver_rank(roles, simulate, names, credits=2, pack_bytes=0)
        return
    buf = FIFOBuffer(capacity=4, watermark=1)
    rec = Receiver.from_roles(roles, buf, names, scheduler=sched, pairs=False,
                              abort_on_error=False, stall_timeout=stall_s, **pending).start()
    data = BufferDataset(buf, names, batch_size=batch, sync=rec.should_continue, collate=True)
    drawn, error, t0 = [], "", time.monotonic()
    try:
        for b in data:
            drawn += [(int(s), int(k)) for s, k in zip(b["sim_id"], b["step"], strict=True)]
    except RuntimeError as err:
        error = str(err)
    seconds = time.monotonic() - t0
    if not error:
        rec.join(timeout=20)
    result = {"ended": rec.ended, "drawn": drawn, "error": error, "seconds": seconds,
              "rounds": rec.rounds}
    if rec.ended:
        snap = rec.snapshot()
        result.update(
            held=[(int(s["sim_id"]), int(s["step"]))
                  for s in [*snap["buffer"]["items"], *snap["commit_queue"]]],
            committed=sorted(rec.committed_sims),
            stats={k: v for k, v in rec.stats().items() if not isinstance(v, dict)})
    with open(f"{out}/rank{roles.rank_in_role}.json", "w") as f:
        json.dump(result, f)
    roles.comm.Barrier()  # both trainers have written their file
    if not rec.ended:
        # Abort skips MPI_Finalize, which unlinks MPICH's shared memory (/dev/shm): record the
        # segments for the test to remove, as the online launcher does after a dead rank
        (Path(out) / RANKS).mkdir(exist_ok=True)
        _record_shm(Path(out) / RANKS / f"trainer{roles.rank_in_role}.shm")
        roles.world.Abort(3)  # the solver waits for this rank's credits: end the job


runs = [[]]
for arg in sys.argv[1:]:
    if arg == "--":
        runs.append([])
    else:
        runs[-1].append(arg)
for run in runs:
    main(run)
