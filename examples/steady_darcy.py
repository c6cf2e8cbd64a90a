"""A steady map from Python: Darcy flow, permeability ``a`` -> pressure ``u`` (the FNO
paper's Darcy problem, smaller). Solve a few samples, train an FNO on ``a -> u``, export it,
load it and predict the pressure of samples it never saw.

    python examples/steady_darcy.py --out /tmp/darcy_example          # about a minute
    python examples/steady_darcy.py --out /tmp/darcy_example --tiny   # what the tests run

It prints the validation error before and after training and, for the held-out samples, the
relative L2 error of the predicted pressure, next to the error of predicting the training mean
(a model that ignores ``a``); it writes the export ``OUT/model`` and ``OUT/darcy.png``.
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
from pdesurrogate.training import SteadyDataModule, SteadyModule

matplotlib.use("Agg")  # a file, not a window: runs on a cluster node or in CI as well
import matplotlib.pyplot as plt  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True,
                   help="folder for the data files, the export and the plot (created)")
    p.add_argument("--samples", type=int, default=200, help="samples to train on (80 %%), "
                   "validate and test")
    p.add_argument("--heldout", type=int, default=20, help="held-out samples")
    p.add_argument("--n", type=int, default=32, help="grid points per side")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--width", type=int, default=24, help="FNO hidden channels")
    p.add_argument("--tiny", action="store_true",
                   help="about ten seconds (what the tests use): 80 samples on 16x16, "
                        "15 epochs, width 12")
    args = p.parse_args(argv)
    if args.tiny:
        args.samples, args.heldout, args.n, args.epochs, args.width = 80, 8, 16, 15, 12
    return args


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    # a model this small gains nothing from more threads, and on a machine other jobs share
    # they stall each other (README, "Performance notes (CPU)")
    torch.set_num_threads(1)
    lightning.seed_everything(0, verbose=False)

    # 1. Data: each sample is one solve, stored as channels [a, u] at the single time 0.
    # tuner="fixed": a few batches are too few solves for the default bandit to learn the SOR
    # factor from (configs/data/darcy2d.yaml says the same); the fixed Poisson optimum is fast.
    solver = make_solver("darcy2d", n=args.n, tuner="fixed")
    train_file, heldout_file = args.out / "darcy_train.nc", args.out / "darcy_heldout.nc"
    generate_dataset(solver, train_file, args.samples, times=[0.0], seed=0, workers=1,
                     overwrite=True)
    generate_dataset(solver, heldout_file, args.heldout, times=[0.0], seed=1, workers=1,
                     overwrite=True)

    # 2. Training: SteadyDataModule pairs the channels by name (a -> u), SteadyModule fits the
    # relative L2 in normalised units and validates it on u in physical units.
    data = SteadyDataModule(str(train_file), inputs=["a"], targets=["u"], batch_size=10)
    # n_params=0: a_pos and a_neg are the two values a takes, already in the input field
    model = FNO(in_channels=1, out_channels=1, n_modes=[8, 8], hidden_channels=args.width,
                n_layers=4, n_params=0)
    module = SteadyModule(model, lr=3e-3)
    # the export is made from the module in memory, so no checkpoints; no logger either: the
    # errors this script needs come back from validate() below
    trainer = lightning.Trainer(max_epochs=args.epochs, accelerator="cpu", logger=False,
                                enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, default_root_dir=args.out)
    # validate() before fit(): the untrained network's error, the figure training must beat
    before = trainer.validate(module, datamodule=data, verbose=False)[0]["val/rel_l2"]
    trainer.fit(module, datamodule=data)
    after = trainer.validate(module, datamodule=data, verbose=False)[0]["val/rel_l2"]
    print(f"val/rel_l2 of u: {before:.4f} untrained, {after:.4f} after {args.epochs} epochs")

    # 3. Export, load: a SteadySurrogate, whose predict maps a to u.
    export_dir = pdesurrogate.export_surrogate(module, args.out / "model", overwrite=True)
    sur = pdesurrogate.load(export_dir)

    held = open_dataset(heldout_file)
    fields = held.u[:, 0]  # (N, 2, n, n): channels a, u
    a, u = fields[:, :1], fields[:, 1:]
    pred = sur.predict(a)  # (N, 1, n, n)

    def rel_l2(p, t):  # one number per sample
        return np.linalg.norm((p - t).reshape(len(t), -1), axis=1) / np.linalg.norm(
            t.reshape(len(t), -1), axis=1)

    err = rel_l2(pred, u)
    train_mean = open_dataset(train_file).u[:, 0, 1:].mean(axis=0, keepdims=True)
    mean_err = rel_l2(np.broadcast_to(train_mean, u.shape), u)
    print(f"held-out rel L2 of u over {len(u)} samples: mean {err.mean():.4f}, "
          f"max {err.max():.4f} (predicting the training mean: {mean_err.mean():.4f})")

    # 4. One held-out sample: a, the true u, the predicted u, and the error.
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    panels = [(a[0, 0], "a"), (u[0, 0], "u (solver)"), (pred[0, 0], "u (surrogate)"),
              (pred[0, 0] - u[0, 0], f"error (rel L2 {err[0]:.3f})")]
    for ax, (img, title) in zip(axes, panels, strict=True):
        fig.colorbar(ax.imshow(img, origin="lower"), ax=ax, shrink=0.8)
        ax.set(title=title, xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(args.out / "darcy.png", dpi=100)
    print(f"wrote {export_dir} and {args.out / 'darcy.png'}")


if __name__ == "__main__":
    main()
