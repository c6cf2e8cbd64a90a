"""FNO accuracy on Burgers, the FNO paper's setup (Li et al. 2021, Table 1: 0.0160 at s = 1024).

Data from our ``burgers1d``: nu = 0.1, the FNO Gaussian-random-field initial condition
N(0, 625(-Δ+25I)^-2) on [0, 1), 1024 points; the operator learned is u(·, 0) -> u(·, 1).
1000 training and 200 test trajectories (plus 100 for validation). The model is our
``pdesurrogate.models.FNO`` (neuraloperator) trained by the same ``NextStepModule`` /
``FieldDataModule`` that ``pdesurrogate fit`` uses, with one step from t = 0 to t = 1.

Printed: test relative L2 (mean over test trajectories), the paper's figure and the ratio, the
epochs and the wall time. ``--quick`` is a small variant for ``make test-all``.

Run: ``python benchmarks/fno_burgers.py [--epochs 150] [--quick] [--json out.json]`` (the
default: about 47 minutes on one CPU core, test relative L2 0.0009 in the run of 2026-12-03;
0.26 s per step of 20 samples).

At nu = 0.1 the field at t = 1 is strongly damped (its rms is ~1.6 % of the initial field's:
the first Fourier mode decays by exp(-4 pi^2 nu) ~ 0.019), so the relative L2 is measured
against a small target; the map is close to a per-mode multiplier in Fourier space, which the
FNO's spectral layers represent directly.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from options import check_at_least
from outputs import check_output, run_line, write_json

PAPER = 0.0160


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=(
            "FNO accuracy on Burgers, the FNO paper's setup.\n\n"
            "Measures: test relative L2 (mean over test trajectories) of our FNO, trained as\n"
            "`pdesurrogate fit` trains (NextStepModule, FieldDataModule), on burgers1d with\n"
            "nu = 0.1, GRF initial conditions and 1024 points, learning u(., 0) -> u(., 1)\n"
            "from 1000 training trajectories (100 validation, 200 test).\n"
            "Reference: the FNO paper (Li et al. 2021, Table 1): 0.0160 at s = 1024.\n"
            "Prints: the test relative L2, the paper's figure and their ratio, the epochs and\n"
            "the wall time; --json also writes them to a file. The data set is generated once\n"
            "and cached (--data), the training logs go to --out.\n"
            "Runtime: the default run took about 47 minutes on one CPU core (0.26 s per step\n"
            "of 20 samples); --quick is a small variant for `make test-all`."),
        epilog="See the module docstring for the setup.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=150,
                    help="training epochs (default: %(default)s)")
    ap.add_argument("--train", type=int, default=1000,
                    help="training trajectories (default: %(default)s)")
    ap.add_argument("--val", type=int, default=100,
                    help="validation trajectories, checked every 10 epochs "
                         "(default: %(default)s)")
    ap.add_argument("--test", type=int, default=200,
                    help="test trajectories (default: %(default)s)")
    ap.add_argument("--points", type=int, default=1024,
                    help="grid points on [0, 1) (default: %(default)s)")
    ap.add_argument("--width", type=int, default=64,
                    help="FNO hidden channels (default: %(default)s)")
    ap.add_argument("--modes", type=int, default=16,
                    help="Fourier modes of the FNO's 4 layers (default: %(default)s)")
    ap.add_argument("--batch-size", type=int, default=20,
                    help="trajectories per batch (default: %(default)s)")
    ap.add_argument("--lr", type=float, default=1e-3,
                    help="AdamW learning rate, cosine schedule (default: %(default)s)")
    ap.add_argument("--data", default="runs/bench/burgers_fno_{points}_{n}.nc",
                    help="data set file, generated if missing; {points} and {n} (all "
                         "trajectories) are filled in (default: %(default)s)")
    ap.add_argument("--out", default="runs/bench/fno_burgers",
                    help="folder for the CSV training logs (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="200/50/50 trajectories, 256 points, 30 epochs, width 32")
    ap.add_argument("--json", default=None,
                    help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    check_output(ap, "--json", args.json)
    check_at_least(ap, {"--epochs": (args.epochs, 1), "--train": (args.train, 1),
                        "--test": (args.test, 1), "--width": (args.width, 1),
                        "--batch-size": (args.batch_size, 1)})
    if args.points < 8 or args.points % 2:
        ap.error(f"--points must be an even integer >= 8 (the spectral solver's grid), got "
                 f"{args.points}")
    if args.quick:
        args.train, args.val, args.test, args.points = 200, 50, 50, 256
        args.epochs, args.width = 30, 32

    from pdesurrogate.allocator import tune_malloc

    tune_malloc()  # as the pdesurrogate command does
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger

    from pdesurrogate.datasets import generate_dataset
    from pdesurrogate.models import FNO
    from pdesurrogate.solvers import Burgers1D
    from pdesurrogate.training import FieldDataModule, NextStepModule
    from pdesurrogate.training.progress import rich_progress_bar

    n = args.train + args.val + args.test
    path = args.data.format(points=args.points, n=n)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    t0 = time.perf_counter()
    if not os.path.exists(path):
        solver = Burgers1D(n_points=args.points, length=1.0, nu_range=(0.1, 0.1), ic="grf")
        generate_dataset(solver, path, samples=n, times=np.array([0.0, 1.0]), seed=0,
                         batch_size=64)
    gen_s = time.perf_counter() - t0

    pl.seed_everything(0)
    fractions = (args.train / n, args.val / n, args.test / n)
    data = FieldDataModule(path, batch_size=args.batch_size, k=1, fractions=fractions, seed=0)
    model = FNO(in_channels=1, out_channels=1, n_modes=[args.modes],
                hidden_channels=args.width, n_layers=4, n_params=0)
    module = NextStepModule(model, lr=args.lr, weight_decay=1e-4, scheduler="cosine")
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="auto", devices=1,
                         logger=CSVLogger(args.out, name="logs"), enable_checkpointing=False,
                         callbacks=[rich_progress_bar()], check_val_every_n_epoch=10,
                         log_every_n_steps=25)
    t1 = time.perf_counter()
    trainer.fit(module, datamodule=data)
    train_s = time.perf_counter() - t1
    res = trainer.test(module, datamodule=data, verbose=False)[0]
    rel = float(res["test/rel_l2"])
    row = {"test_rel_l2": rel, "paper": PAPER, "ratio_to_paper": rel / PAPER, "seed": 0,
           "epochs": args.epochs, "train_seconds": train_s, "generate_seconds": gen_s,
           "train": args.train, "test": args.test, "points": args.points,
           "width": args.width, "modes": args.modes,
           "parameters": sum(p.numel() for p in model.parameters())}
    print(f"\nFNO on burgers1d (nu=0.1, {args.points} points, {args.train} train / "
          f"{args.test} test): test relative L2 {rel:.4f}  (paper {PAPER:.4f}, ratio "
          f"{rel / PAPER:.2f}); {args.epochs} epochs in {train_s:.0f} s; data {gen_s:.0f} s")
    print(run_line(), flush=True)
    if args.json:
        write_json(args.json, row, args=args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
