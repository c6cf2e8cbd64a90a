"""MPI program for tests/streaming/test_mpi.py (not a test module itself).

    mpiexec -n N python -m mpi4py mpi_stream.py SCENARIO[,SCENARIO...] OUTDIR

Each rank writes OUTDIR/SCENARIO/rank<world rank>.json; the pytest side asserts on them. The
scenarios of one job run one after the other, each on communicators of its own (split_roles
duplicates them), so a job of several pays the ranks' imports of torch and mpi4py once.
Scenarios: e2e (1 trainer + 2 solvers, a failing attempt, injected malformed messages),
backpressure (1 + 1, slow consumer, 2 message credits), window (the same with the bound in
bytes: a 2-message byte window and many message credits, and the receiver crediting each
message at once: ``credit_bytes`` of one message), two_trainers (2 + 2, uneven data).
Clients pack small samples (the default) except in backpressure and window, whose bounds count
one sample per message, and in ``e2e:single`` (e2e with ``pack_bytes=0``) and ``e2e:wait``
(the same with ``wait_large=True``: copy=True fields go uncopied, send waiting for MPI, with a
verdict; two malformed verdicts are injected); in ``e2e:split``
the solver's uncopied states travel in split packs (``split_bytes=0``), and two more malformed
split packs are injected (a rejected header and a sample message of the wrong size), whose
messages the receiver must drain to stay in step.
"""

import json
import os
import sys
import time

import numpy as np
import torch

from pdesurrogate.solvers.advection import Advection1D
from pdesurrogate.solvers.base import SolverDivergedError
from pdesurrogate.streaming import (
    BufferDataset,
    FIFOBuffer,
    FIROBuffer,
    Receiver,
    Scheduler,
    run_solver_rank,
    solver_simulation,
    split_roles,
)
from pdesurrogate.streaming.protocol import (
    HEADER_BYTES,
    TAG_HEADER,
    TAG_PAYLOAD,
    Kind,
    data_header,
    encode_control,
    encode_data,
    pack_nbytes,
    send_message,
)
from pdesurrogate.streaming.scheduler import task_seed

torch.set_num_threads(1)
DT = 0.1
# the scenario running now, set by start()
SCENARIO = VARIANT = OUTDIR = ""
N_POINTS, SLOW = 16, False


def start(spec: str, outdir: str) -> None:
    """Make ``spec`` (SCENARIO or SCENARIO:VARIANT) the scenario that runs, writing into
    ``outdir``."""
    global SCENARIO, VARIANT, OUTDIR, N_POINTS, SLOW
    SCENARIO, _, VARIANT = spec.partition(":")
    OUTDIR = outdir
    os.makedirs(OUTDIR, exist_ok=True)
    # backpressure: 128 KiB float32 samples, past MPICH's eager limit, so an Isend stays
    # incomplete until the trainer takes the message and the in-flight bound is exercised
    N_POINTS = 32768 if SCENARIO in ("backpressure", "window") else 16
    SLOW = SCENARIO in ("backpressure", "window")


def write(rank, result):
    with open(f"{OUTDIR}/rank{rank}.json", "w") as f:
        json.dump(result, f)


def expected_trajectory(solver, scheduler, sim, n_steps):
    """What the successful (last) attempt of `sim` sent, recomputed the same way."""
    attempt = scheduler.state_dict()["attempts"][sim] - 1
    u, _ = solver.sample(1, task_seed(scheduler.seed, sim, attempt))
    params = {k: torch.tensor([v]) for k, v in scheduler.params_of(sim).items()}
    frames = [u[0].numpy()]
    for _ in range(n_steps):
        u = solver.advance(u, params, DT)
        frames.append(u[0].numpy())
    return frames


def inject_malformed(roles):
    """Three malformed messages from a solver rank, before its real work."""
    comm, dst = roles.data, roles.trainer_ranks[0]
    good = np.ones((1, N_POINTS), np.float32)
    h, p = encode_data(good, 0.0, 0, 999, [0.5])
    h["magic"] = 7
    send_message(comm, dst, h, p)  # bad magic
    bad = good.copy()
    bad[0, 3] = np.nan
    send_message(comm, dst, *encode_data(bad, 0.0, 0, 999, [0.5]))  # NaN field
    send_message(comm, dst, *encode_control(Kind.END, 999, step=1))  # sim 999 gets dropped
    h, p = encode_data(good, 0.0, 0, 998, [0.5])
    send_message(comm, dst, h.view(np.uint8)[: HEADER_BYTES - 8].copy(), p)  # short header
    if VARIANT == "split":
        times = np.array([0.0, DT, 2 * DT])
        for sim, t0, sizes in ((997, np.nan, (1, 1, 1)),  # non-finite t: header rejected
                               (996, 0.0, (1, 2, 1))):  # second sample too long
            h = data_header(good.shape, good.dtype, t0, 0, sim, [0.5], True,
                            pack_nbytes(3, good.nbytes), count=3, split=True)
            comm.Send(h.view(np.uint8), dest=dst, tag=TAG_HEADER)
            for n in sizes:
                comm.Send(np.ones((n, N_POINTS), np.float32), dest=dst, tag=TAG_PAYLOAD)
            comm.Send(times, dest=dst, tag=TAG_PAYLOAD)
        send_message(comm, dst, *encode_control(Kind.END, 996, step=3))  # 996 gets dropped
    if VARIANT == "wait":
        for sim, verdict in ((995, np.array([0], np.int64)),  # the sender found a NaN
                             (994, np.zeros(2, np.int64))):  # a verdict of 16 bytes
            h = data_header(good.shape, good.dtype, 0.0, 0, sim, [0.5], False, good.nbytes,
                            verdict=True)
            send_message(comm, dst, h, good.reshape(-1).view(np.uint8))
            comm.Send(verdict, dest=dst, tag=TAG_PAYLOAD)
            send_message(comm, dst, *encode_control(Kind.END, sim, step=1))  # dropped


def main():
    n_trainers = 2 if SCENARIO == "two_trainers" else 1
    roles = split_roles(n_trainers=n_trainers)
    rank = roles.world.rank
    solver = Advection1D(n_points=N_POINTS)
    n_sims, n_steps = {"e2e": (6, 4), "backpressure": (8, 3), "window": (8, 3),
                       "two_trainers": (5, 3)}[SCENARIO]
    scheduler = Scheduler({"beta": (0.2, 0.8)}, n_simulations=n_sims, method="random", seed=0)
    names = scheduler.param_names
    roles.world.Barrier()
    t_start = time.time()

    if not roles.is_trainer:
        builtin = solver_simulation(solver, n_steps=n_steps, dt=DT)

        def users_loop(task, client):
            """A user's loop: one array, overwritten after each send (so the client copies
            each sample, copy=True being the default)."""
            u, _ = solver.sample(1, task.seed)
            params = {k: torch.tensor([v]) for k, v in task.params.items()}
            buf = np.empty((1, N_POINTS), np.float32)
            for k in range(n_steps + 1):
                if k:
                    u = solver.advance(u, params, DT)
                buf[...] = u[0].numpy()
                client.send(buf, t=k * DT, step=k)
            buf[...] = np.nan  # a pack goes at close(): these must not be what it sends

        # window: the copies are what back-pressure must bound too
        simulate = users_loop if SCENARIO == "window" else builtin

        def flaky(task, client):
            if task.sim_id == 2 and task.attempt == 0:  # sends 2 samples, then "diverges"
                client.send(np.zeros((1, N_POINTS), np.float32), t=0.0, step=0)
                client.send(np.zeros((1, N_POINTS), np.float32), t=DT, step=1)
                raise SolverDivergedError(solver.name, 0, DT, "test")
            (users_loop if task.sim_id == 3 else builtin)(task, client)

        if SCENARIO == "e2e" and rank == roles.solver_ranks[-1]:
            inject_malformed(roles)
        kw = {"backpressure": {"max_in_flight": 2, "credits": 2, "pack_bytes": 0},
              # two messages (header + 128 KiB payload each) fit, a third does not; the window
              # alone bounds the sends (8 in flight and 1000 credits would allow more)
              "window": {"max_in_flight": 8, "credits": 1000, "pack_bytes": 0,
                         "window_bytes": 2 * (HEADER_BYTES + 4 * N_POINTS) + 100},
              # packed: ended simulations wait for the next ones however slow the test runs
              }.get(SCENARIO, {"single": {"pack_bytes": 0},
                               "wait": {"pack_bytes": 0, "wait_large": True},
                               "split": {"split_bytes": 0}}.get(VARIANT, {"chain_s": 60.0}))
        stats = run_solver_rank(roles, flaky if SCENARIO == "e2e" else simulate, names, **kw)
        write(rank, {"role": "solver", "client": stats, "t_finish": time.time() - t_start})
        return

    if SCENARIO == "two_trainers":
        buffer, pairs, batch = FIROBuffer(capacity=16, watermark=2, seed=rank), True, 1
    elif SLOW:
        buffer, pairs, batch = FIFOBuffer(capacity=2), False, 1
    else:
        buffer, pairs, batch = FIFOBuffer(capacity=8), True, 1
    # window: every message's credit goes back as soon as it is taken
    extra = {"credit_bytes": HEADER_BYTES + 4 * N_POINTS} if SCENARIO == "window" else {}
    receiver = Receiver.from_roles(roles, buffer, names, scheduler=scheduler, pairs=pairs,
                                   abort_on_error=True, **extra).start()
    data = BufferDataset(buffer, names, batch_size=batch, sync=receiver.should_continue)
    got, times = [], []
    for item in data:
        if SLOW:
            time.sleep(0.03)  # a slow training step
        times.append(time.time() - t_start)
        got.append({"sim": int(item["sim_id"]), "step": int(item["step"]),
                    "beta": float(item["params"][0])})
        if SCENARIO == "e2e":
            got[-1]["input"], got[-1]["target"] = item["input"].numpy(), item["target"].numpy()
    receiver.join()
    result = {"role": "trainer", "got": [(g["sim"], g["step"]) for g in got], "times": times,
              "receiver": receiver.stats(), "buffer": buffer.stats(), "rounds": receiver.rounds}
    if roles.runs_scheduler:
        result["scheduler"] = scheduler.counts()
        result["done"] = sorted(scheduler.done)
    if SCENARIO == "e2e":
        # every received pair equals the recomputed trajectory of its simulation
        err = 0.0
        for g in got:
            frames = expected_trajectory(solver, scheduler, g["sim"], n_steps)
            err = max(err, float(np.abs(g["input"] - frames[g["step"]]).max()),
                      float(np.abs(g["target"] - frames[g["step"] + 1]).max()),
                      abs(g["beta"] - scheduler.params_of(g["sim"])["beta"]))
        result["max_error"] = err
    write(rank, result)


for spec in sys.argv[1].split(","):
    start(spec, os.path.join(sys.argv[2], spec))
    main()
