"""Run by test_own_loop_faults.py under mpiexec, 1 trainer rank and the rest solver ranks;
argv: mode, JSON file the trainer writes what it received to. Modes:

``nan``: a user's own loop under ``run_solver_rank`` streams short simulations that share
chain packs; those with ``nu > 0.7`` put a NaN in step 3 on every attempt.
``forget_close``: each solver rank streams one simulation by hand (no scheduler) and shuts
down without closing it."""

import json
import sys
import warnings

import numpy as np

from pdesurrogate.streaming import (
    FIFOBuffer,
    Receiver,
    Scheduler,
    StreamClient,
    run_solver_rank,
    split_roles,
)

N_SIMS, N_STEPS = 12, 5


def simulate(task, client):
    u = np.full((1, 16), task.params["nu"], np.float32)
    for k in range(N_STEPS + 1):
        v = u * np.nan if task.params["nu"] > 0.7 and k == 3 else u
        client.send(v, t=0.1 * k, step=k)


def forget_close(roles):
    names = ("nu",)
    if roles.is_trainer:
        receiver = Receiver(roles.data, FIFOBuffer(capacity=100), roles.solver_ranks, names,
                            trainer_comm=roles.comm, stall_timeout=30).start()
        receiver.join()
        with open(sys.argv[2], "w") as f:
            json.dump({"receiver": receiver.stats()}, f)
        return
    client = StreamClient(roles.data, roles.trainer_ranks, names)
    client.open(100 + roles.world.rank, {"nu": 0.5})
    for k in range(3):
        client.send(np.zeros((1, 16), np.float32), t=0.1 * k)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.shutdown()
    print("WARNED:", *(str(w.message) for w in caught), flush=True)


def main():
    roles = split_roles(n_trainers=1)
    if sys.argv[1] == "forget_close":
        forget_close(roles)
        return
    scheduler = Scheduler({"nu": (0.0, 1.0)}, n_simulations=N_SIMS, method="halton",
                          max_retries=1)
    names = scheduler.param_names
    if roles.is_trainer:
        buffer = FIFOBuffer(capacity=10_000, watermark=1)
        receiver = Receiver.from_roles(roles, buffer, names, scheduler=scheduler,
                                       stall_timeout=30).start()
        receiver.join()
        got = sorted((x.input.sim_id, x.input.step) for x in buffer.get_many(len(buffer)))
        bad = sorted(s for s in range(N_SIMS) if scheduler.params_of(s)["nu"] > 0.7)
        with open(sys.argv[2], "w") as f:
            json.dump({"got": got, "bad": bad, "receiver": receiver.stats(),
                       "abandoned": sorted(scheduler.abandoned)}, f)
        return
    # chain packs however slowly the test runs
    run_solver_rank(roles, simulate, names, chain_s=60.0)


main()
