"""Your own simulation data, trained on through the command line: arrays from a solver of your
own (here a few lines of numpy: the heat equation by explicit finite differences, one
diffusivity per trajectory) written with ``DatasetWriter``, then ``pdesurrogate fit``,
``export`` and ``predict`` on a held-out file of the same kind.

    python examples/own_data.py --out /tmp/own_data_example          # about a minute
    python examples/own_data.py --out /tmp/own_data_example --tiny   # what the tests run

What the file needs: ``u`` as an ``(N, T, C, *grid)`` array (``N`` trajectories, ``T`` saved
times, ``C`` channels, a 1-D to 3-D grid: 2-D is ``(N, T, C, Y, X)`` with ``grid=[y, x]``), the
``T`` saved times, one coordinate array per grid axis, and one value per trajectory of each
parameter the model takes (``n_params``). The commands are run as you would type them (each is
printed); the script prints the validation error per epoch (from the fit's ``metrics.csv``) and
the held-out relative L2 error of the rollout ``predict`` wrote, next to copying the first state
forward (a model that learnt nothing).
"""

import argparse
import csv
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

from pdesurrogate.datasets import DatasetWriter, open_dataset
from pdesurrogate.metrics import field_errors


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True,
                   help="folder for the data files, run folder, export and rollout (created)")
    p.add_argument("--samples", type=int, default=96, help="training trajectories")
    p.add_argument("--heldout", type=int, default=8, help="held-out trajectories")
    p.add_argument("--n-points", type=int, default=128, help="grid points")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--width", type=int, default=32, help="FNO hidden channels")
    p.add_argument("--tiny", action="store_true",
                   help="a few seconds' training (what the tests use): 24 trajectories, "
                        "64 points, 6 epochs, width 16")
    args = p.parse_args(argv)
    if args.tiny:
        args.samples, args.heldout, args.n_points, args.epochs, args.width = 24, 4, 64, 6, 16
    return args


def solve_heat(n: int, n_points: int, times: np.ndarray, seed: int):
    """``n`` solutions of u_t = kappa u_xx on the periodic [0, 1), each with its own
    diffusivity ``kappa`` in [0.005, 0.02] and a random sum of the first four Fourier modes as
    its initial state, by explicit finite differences (the stand-in for your solver).

    Returns ``u (n, T, 1, n_points)`` at ``times``, the grid ``x (n_points,)``, ``kappa (n,)``.
    """
    rng = np.random.default_rng(seed)
    x = np.arange(n_points) / n_points
    kappa = rng.uniform(0.005, 0.02, n)
    k = np.arange(1, 5)
    a, b = rng.normal(size=(2, n, 4)) / k  # smoother states: less of the higher modes
    state = (a @ np.sin(2 * np.pi * np.outer(k, x)) + b @ np.cos(2 * np.pi * np.outer(k, x)))
    dx = 1.0 / n_points
    u = np.empty((n, len(times), 1, n_points))
    u[:, 0, 0] = state
    for j in range(1, len(times)):
        interval = times[j] - times[j - 1]
        # explicit Euler is stable for dt <= dx^2 / (2 kappa); 0.4 leaves a margin
        sub = int(np.ceil(interval / (0.4 * dx**2 / kappa.max())))
        dt = interval / sub
        for _ in range(sub):
            lap = (np.roll(state, 1, axis=-1) - 2 * state + np.roll(state, -1, axis=-1)) / dx**2
            state = state + dt * kappa[:, None] * lap
        u[:, j, 0] = state
    return u, x, kappa


def pdesurrogate_cmd(*args: str, env: dict) -> str:
    """Runs ``pdesurrogate ARGS`` as typed in a shell (printed first) and returns its stderr,
    where the commands say what they wrote; stops the script if it fails."""
    print("$ pdesurrogate " + shlex.join(args), flush=True)
    # python -m pdesurrogate: the console script's command, whatever PATH holds
    proc = subprocess.run([sys.executable, "-m", "pdesurrogate", *args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"pdesurrogate {args[0]} failed (exit status {proc.returncode})")
    return proc.stdout + proc.stderr


def main(argv=None):
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    # one thread: a network this small gains nothing from more, and on a machine other jobs
    # share they stall each other (README, "Performance notes (CPU)")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    # 1. Data from your solver. 11 saved times over t in [0, 0.5]; the held-out trajectories
    # have other initial states and diffusivities (another seed).
    times = np.linspace(0.0, 0.5, 11)
    train_file, heldout_file = out / "heat_train.nc", out / "heat_heldout.nc"
    # block by block, as a solver that does not hold every trajectory in memory would write
    # them: the writer is told the sizes and names up front, and renames its temporary file
    # to heat_train.nc only when every sample was written
    with DatasetWriter(train_file, pde="heat1d_own", grid=[np.arange(args.n_points)
                                                          / args.n_points],
                       grid_names=["x"], times=times, channel_names=["u"],
                       param_names=["kappa"], n_samples=args.samples) as writer:
        for start in range(0, args.samples, 8):
            block = min(8, args.samples - start)
            u, _, kappa = solve_heat(block, args.n_points, times, seed=start)
            writer.write(start, u, {"kappa": kappa})
    # all at once, from arrays in memory: names it can tell default (x, the channel u)
    u, x, kappa = solve_heat(args.heldout, args.n_points, times, seed=10**6)
    DatasetWriter.write_arrays(heldout_file, u, times, [x], {"kappa": kappa}, pde="heat1d_own")
    print(f"wrote {train_file.name} ({args.samples} trajectories) and {heldout_file.name} "
          f"({args.heldout}): u (N, {len(times)}, 1, {args.n_points}), parameter kappa")

    # 2. Fit: the shipped FNO config, pointed at the file. It already takes 1 channel on a
    # 1-D grid and 1 parameter, as this data has (a 2-D file: --model.init_args.model.init_args
    # .n_modes '[12, 12]'; more channels: in_channels and out_channels).
    config = pdesurrogate_cmd("configs", "--path", "fit/fno_burgers", env=env).split("\n")[0]
    log = pdesurrogate_cmd(
        "fit", "--config", config, "--data.path", str(train_file),
        "--data.init_args.batch_size", "16", "--trainer.max_epochs", str(args.epochs),
        "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
        "--trainer.log_every_n_steps", "5", "--trainer.default_root_dir", str(out / "runs"),
        "--model.init_args.lr", "0.003",
        "--model.init_args.model.init_args.hidden_channels", str(args.width), env=env)
    found = re.search(r"^fit: run folder (.+); checkpoint (.+\.ckpt)", log, re.MULTILINE)
    if not found:
        sys.exit("fit did not name its run folder and checkpoint")
    run_dir, ckpt = Path(found.group(1)), found.group(2)
    with open(run_dir / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("val/rel_l2"):  # validation rows; the others hold training steps
                print(f"epoch {row['epoch']}: val/rel_l2 {float(row['val/rel_l2']):.4f}")

    # 3. Export, and roll the export out on the held-out file from its first states.
    export_dir, pred_file = out / "model", out / "heat_pred.nc"
    pdesurrogate_cmd("export", ckpt, str(export_dir), "--overwrite", env=env)
    pdesurrogate_cmd("predict", "--model", str(export_dir), "--input", str(heldout_file),
                     "--out", str(pred_file), "--overwrite", env=env)

    # 4. The rollout against the truth, and against copying the first state forward, by
    # the relative L2 error predict itself reports (pdesurrogate.metrics' nrmse: per frame,
    # the mean over trajectories), averaged over the steps after the first state
    with open_dataset(heldout_file) as held, open_dataset(pred_file) as rollout:
        truth, pred = held.u[:], rollout.u[:]
    copy = np.repeat(truth[:, :1], truth.shape[1], axis=1)
    model_err = field_errors(pred, truth)["nrmse"][1:].mean()
    copy_err = field_errors(copy, truth)["nrmse"][1:].mean()
    print(f"held-out mean rel L2 over {truth.shape[1] - 1} steps: {model_err:.4f} "
          f"(copying the first state: {copy_err:.4f})")

if __name__ == "__main__":
    main()
