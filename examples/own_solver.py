"""Online training from your own time loop: stream its states into a training buffer on the
fly, without any file, and train a small torch model on them as they arrive.

    mpiexec -n 3 python examples/own_solver.py     # 1 trainer rank + 2 solver ranks

(on one machine with the MPICH wheel: ``mpiexec -launcher fork -n 3 ...``). The first rank
trains (and hands out simulations); every other rank runs simulations.
"""

import sys
import traceback

import numpy as np
import torch

from pdesurrogate.streaming import (
    Receiver,
    ReservoirBuffer,
    Scheduler,
    collate_items,
    run_solver_rank,
    split_roles,
)

N_POINTS, N_SAVES, SUBSTEPS, DT_SAVE = 64, 20, 20, 0.05
BATCH, LR = 8, 1e-2


def heat_1d(kappa: float, seed: int):
    """The user's solver, plain numpy: u_t = kappa u_xx on a periodic grid of [0, 2 pi),
    explicit finite differences; yields (t, u) every DT_SAVE (steps 0..N_SAVES)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 2 * np.pi, N_POINTS, endpoint=False)
    u = sum(rng.normal() / k * np.sin(k * x + rng.uniform(0, 2 * np.pi)) for k in range(1, 6))
    r = kappa * (DT_SAVE / SUBSTEPS) / (x[1] - x[0]) ** 2  # explicit Euler: stable for r <= 1/2
    for n in range(N_SAVES + 1):
        yield n * DT_SAVE, u
        for _ in range(SUBSTEPS):
            u = u + r * (np.roll(u, 1) - 2 * u + np.roll(u, -1))


def simulate(task, client):
    """One simulation for ``run_solver_rank``: ``task`` holds the parameters the scheduler drew
    (and a seed for the initial state); every saved state goes to ``client.send``."""
    for step, (t, u) in enumerate(heat_1d(task.params["kappa"], task.seed)):
        # fields are (channels, *grid); the trainer pairs step k with step k + 1
        client.send(u[None].astype(np.float32), t=t, step=step)


def train(roles, scheduler, names):
    # a reservoir keeps drawing (with repetition) while solvers are slow, and holds them back
    # (no credits) while full of samples never drawn, so memory stays bounded
    buffer = ReservoirBuffer(capacity=256, watermark=64, seed=0)
    # the receiver thread takes the stream into the buffer; on rank 0 it also serves the
    # scheduler, so pass it on every trainer rank
    receiver = Receiver.from_roles(roles, buffer, names, scheduler=scheduler).start()
    # input: the state and kappa as a second channel; output: the change over one save step
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(2, 16, 5, padding=2, padding_mode="circular"), torch.nn.GELU(),
        torch.nn.Conv1d(16, 1, 5, padding=2, padding_mode="circular"))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    losses = []
    # should_continue: False once the stream has ended and the buffer cannot fill a batch (and,
    # with several trainer ranks, keeps them in step); it also re-raises receiver errors
    while receiver.should_continue(BATCH):
        batch = collate_items(buffer.get_many(BATCH), names)  # Pair items -> dict of tensors
        u, kappa = batch["input"], batch["params"]  # (B, 1, 64), (B, 1)
        pred = u + model(torch.cat([u, kappa[:, :, None].expand_as(u)], dim=1))
        loss = torch.nn.functional.mse_loss(pred, batch["target"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if len(losses) % 20 == 0:
            print(f"step {len(losses)}: loss {losses[-1]:.3e}", flush=True)
    receiver.join()  # the stream has ended: every solver rank said it is done
    got = receiver.stats()
    print(f"received {got['sims_committed']} simulations, {got['samples']} samples; "
          f"{len(losses)} steps, loss {losses[0]:.3e} -> {losses[-1]:.3e}", flush=True)


def main(n_simulations=24):
    torch.set_num_threads(1)  # the ranks share the machine's cores
    roles = split_roles(n_trainers=1)  # collective: on every rank; the first ranks train
    # every rank builds the same scheduler: solvers need its parameter names and their order
    scheduler = Scheduler({"kappa": (0.1, 1.0)}, n_simulations=n_simulations, method="halton")
    names = scheduler.param_names
    try:
        if roles.is_trainer:
            train(roles, scheduler, names)
        else:
            # asks for tasks until the budget is spent; a simulation that raises
            # SolverDivergedError, or sends NaN/inf, is dropped on the trainer and rerun with
            # another seed. At the end it calls client.shutdown(), which tells the trainer this
            # rank is done; a loop driving StreamClient itself must call it too, or the trainer
            # waits for this rank forever
            run_solver_rank(roles, simulate, names)
    except BaseException:
        # other ranks would wait forever on this one: end the whole job
        traceback.print_exc()
        sys.stderr.flush()
        roles.world.Abort(1)


if __name__ == "__main__":
    main()
