"""Run by test_scheduler_routing.py under mpiexec -n 3 (2 trainer ranks, 1 solver rank; not a
test module itself); argv: the folder each trainer writes ``trainer<rank>.json`` to.

32 simulations drawn by Halton over ``beta`` in [0, 1]; each sends 3 samples filled with its
``beta``, and every attempt with ``beta > 0.75`` fails (``max_retries=0``: abandoned), so all
failures fall in the upper half of the range, on even ids. The trainers do not train: each
receives until the end of the stream and writes the simulations committed on it, the
``beta`` its samples carried, and (world rank 0, which runs the scheduler) the scheduler's
trainer of each simulation and the abandoned ones."""

import json
import sys
from pathlib import Path

import numpy as np

from pdesurrogate.streaming import FIFOBuffer, Receiver, Scheduler, run_solver_rank, split_roles

N_SIMS, N_SAMPLES, BAD = 32, 3, 0.75


def simulate(task, client):
    beta = task.params["beta"]
    for k in range(N_SAMPLES):
        if beta > BAD and k == 1:
            raise RuntimeError(f"beta={beta:.3f} diverges")
        client.send(np.full((1, 8), beta, np.float32), t=0.1 * k, step=k)


def main():
    roles = split_roles(n_trainers=2)
    scheduler = Scheduler({"beta": (0.0, 1.0)}, n_simulations=N_SIMS, method="halton",
                          seed=0, max_retries=0)
    names = scheduler.param_names
    if not roles.is_trainer:
        run_solver_rank(roles, simulate, names, retry_on=(RuntimeError,), chain_s=0)
        return
    # room for every sample: no back-pressure, so receiving to the end needs no training
    buffer = FIFOBuffer(capacity=N_SIMS * N_SAMPLES, watermark=1)
    receiver = Receiver.from_roles(roles, buffer, names, scheduler=scheduler, pairs=False,
                                   stall_timeout=60).start()
    receiver.join()
    items = buffer.get_many(len(buffer))
    result = {"committed": sorted(receiver.committed_sims),
              "samples": sorted((x.sim_id, x.step, float(x.fields.max()), x.params["beta"])
                                for x in items)}
    if roles.runs_scheduler:
        result["assigned"] = {str(s): t for s, t in scheduler.assigned.items()}
        result["abandoned"] = sorted(scheduler.abandoned)
        result["betas"] = [scheduler.params_of(s)["beta"] for s in range(N_SIMS)]
    out = Path(sys.argv[1]) / f"trainer{roles.world.rank}.json"
    out.write_text(json.dumps(result))


main()
