"""The whole offline path from Python, no command line: solve Burgers' equation into a file,
train an FNO to step it forward, export it, load the export and roll it out on trajectories
it never saw.

    python examples/train_in_python.py --out /tmp/burgers_example      # about a minute
    python examples/train_in_python.py --out /tmp/burgers_example --tiny  # seconds

It prints the validation error after each epoch, then the held-out relative L2 error per
rollout step (next to copying the first state forward, the error of a model that learnt
nothing), and writes ``OUT/rollout.png`` (prediction against truth) and the export
``OUT/model`` (``config.json`` + ``model.safetensors``), loadable with
``pdesurrogate.load``.
"""

import argparse
from pathlib import Path

import lightning
import matplotlib
import numpy as np
import torch

import pdesurrogate
from pdesurrogate.datasets import generate_dataset, open_dataset
from pdesurrogate.models import FNO
from pdesurrogate.solvers import make_solver
from pdesurrogate.training import FieldDataModule, NextStepModule

matplotlib.use("Agg")  # a file, not a window: runs on a cluster node or in CI as well
import matplotlib.pyplot as plt  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True,
                   help="folder for the data files, the export and the plot (created)")
    p.add_argument("--samples", type=int, default=96, help="training trajectories")
    p.add_argument("--heldout", type=int, default=8, help="held-out trajectories")
    p.add_argument("--n-points", type=int, default=128, help="grid points")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--width", type=int, default=32, help="FNO hidden channels")
    p.add_argument("--tiny", action="store_true",
                   help="a few seconds' run (what the tests use): 24 trajectories, "
                        "64 points, 6 epochs, width 16")
    args = p.parse_args(argv)
    if args.tiny:
        args.samples, args.heldout, args.n_points, args.epochs, args.width = 24, 4, 64, 6, 16
    return args


class PrintValidation(lightning.Callback):
    """Prints ``val/rel_l2`` (a whole-trajectory rollout error, physical units) per epoch."""

    # at the training epoch's end: the module logs val/rel_l2 in its own validation-end hook,
    # which Lightning calls after the callbacks' validation-end hooks
    def on_train_epoch_end(self, trainer, module):
        print(f"epoch {trainer.current_epoch}: val/rel_l2 "
                  f"{float(trainer.callback_metrics['val/rel_l2']):.4f}", flush=True)


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    # a model this small gains nothing from more threads, and on a machine other jobs share
    # they stall each other (README, "Performance notes (CPU)": 25x slower here)
    torch.set_num_threads(1)
    lightning.seed_everything(0, verbose=False)

    # 1. Data. 11 saved times over t in [0, 0.5]: the model learns the 0.05 step between them.
    # The held-out file uses the same solver settings and another seed, so its initial states
    # and viscosities are new to the model.
    solver = make_solver("burgers1d", n_points=args.n_points, nu_range=(0.01, 0.05))
    times = np.linspace(0.0, 0.5, 11).tolist()
    train_file, heldout_file = args.out / "burgers_train.nc", args.out / "burgers_heldout.nc"
    # workers=1: these solves take a second; a process pool would cost more to start
    generate_dataset(solver, train_file, args.samples, times, seed=0, workers=1,
                     overwrite=True)
    generate_dataset(solver, heldout_file, args.heldout, times, seed=1, workers=1,
                     overwrite=True)

    # 2. Training. FieldDataModule splits the file by trajectory (80/10/10) and normalises
    # with the training split's statistics; NextStepModule learns u(t) -> u(t + dt) and
    # validates by rolling each validation trajectory out from its first frame.
    # residual=True: the network predicts the change over one step, which is small next to
    # the state, so it starts close to "nothing happens" instead of from noise.
    data = FieldDataModule(str(train_file), batch_size=16)
    model = FNO(in_channels=1, out_channels=1, n_modes=[16], hidden_channels=args.width,
                n_layers=4, n_params=1)  # n_params=1: the viscosity nu is an input too
    module = NextStepModule(model, lr=3e-3, residual=True)
    # no logger or checkpoints: we export from the module in memory (checkpoints are for
    # resuming a fit, exports for using the model); default_root_dir keeps anything
    # Lightning still writes inside --out
    trainer = lightning.Trainer(max_epochs=args.epochs, accelerator="cpu", logger=False,
                                enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, callbacks=[PrintValidation()],
                                default_root_dir=args.out)
    trainer.fit(module, datamodule=data)

    # 3. Export, then load as any user of the model would: from the folder alone.
    export_dir = pdesurrogate.export_surrogate(module, args.out / "model", overwrite=True)
    sur = pdesurrogate.load(export_dir)

    # 4. Held-out rollout: from each true first state, 10 steps with no look at the truth.
    held = open_dataset(heldout_file)
    truth = held.u[:]  # (N, T, 1, x); small here, so read whole
    pred = sur.rollout(truth[:, 0], {"nu": held.params["nu"]}, steps=truth.shape[1] - 1)

    def rel_l2(a, b):  # per trajectory and step, then mean over trajectories: (T,)
        err = np.linalg.norm((a - b).reshape(*a.shape[:2], -1), axis=-1)
        return (err / np.linalg.norm(b.reshape(*b.shape[:2], -1), axis=-1)).mean(axis=0)

    model_err = rel_l2(pred, truth)
    copy_err = rel_l2(np.repeat(truth[:, :1], truth.shape[1], axis=1), truth)
    print("held-out rollout, relative L2 per step (surrogate | copy of the first state):")
    for s in range(1, truth.shape[1]):
        print(f"  step {s:2d}  t={held.times[s]:.2f}  {model_err[s]:.4f} | {copy_err[s]:.4f}")
    print(f"held-out mean rel L2: {model_err[1:].mean():.4f} "
          f"(copying the first state: {copy_err[1:].mean():.4f})")

    # 5. One held-out trajectory, drawn at a few times.
    x = held.grid[0]
    fig, ax = plt.subplots(figsize=(7, 4))
    for j, colour in zip((0, 5, 10), ("C0", "C1", "C2"), strict=True):
        ax.plot(x, truth[0, j, 0], color=colour, label=f"truth t={held.times[j]:.2f}")
        ax.plot(x, pred[0, j, 0], "--", color=colour, label=f"surrogate t={held.times[j]:.2f}")
    ax.set(xlabel="x", ylabel="u", title=f"Burgers, nu={held.params['nu'][0]:.3f}, held out")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "rollout.png", dpi=100)
    print(f"wrote {export_dir} and {args.out / 'rollout.png'}")


if __name__ == "__main__":
    main()
