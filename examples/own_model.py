"""Your own network through the command line: ``pdesurrogate fit`` trains a model of your own
code (``examples/tiny_cnn.py``, a small 1-D CNN standing in for your ``mynet.py``), named in
the fit config by its class path; ``pdesurrogate export`` and ``pdesurrogate.load`` get the
class from you.

    python examples/own_model.py --out /tmp/own_model_example          # about a minute
    python examples/own_model.py --out /tmp/own_model_example --tiny   # what the tests run

The script runs the commands you would type (it prints each one), so that what it shows is
what works in a shell, a Makefile or a Slurm script; only the last step, loading the export,
is Python. It prints the validation error per epoch (from the fit's ``metrics.csv``) and the
held-out relative L2 error of a 10-step rollout next to copying the first state forward.
The same export predicts from the command line too:
``PYTHONPATH=examples pdesurrogate predict --model OUT/model --model-class tiny_cnn.TinyCNN
--input OUT/burgers_heldout.nc --out OUT/pred.nc``.
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
import torch

import pdesurrogate
from pdesurrogate.datasets import open_dataset

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # tiny_cnn.py, when this script is imported rather than run
from tiny_cnn import TinyCNN  # noqa: E402

# the fit config: LightningCLI YAML, as configs/fit/fno_burgers.yaml; what is about your model
# is its class_path, a MODULE.CLASS that Python can import, and its constructor's arguments.
# 4 layers with kernels of 7 points: a state moves up to about 6 of the 128 points in one
# step, and the network must see that far (3 layers with kernels of 5 fit each step, but
# their 10-step rollouts diverged: val/rel_l2 went from 0.39 to 4.5 over 20 epochs)
FIT_CONFIG = """\
seed_everything: 0
trainer:
  max_epochs: {epochs}
  accelerator: cpu
  devices: 1
  log_every_n_steps: 5
  enable_progress_bar: false
  default_root_dir: {runs}
model:
  class_path: pdesurrogate.training.NextStepModule
  init_args:
    model:
      class_path: tiny_cnn.TinyCNN
      init_args:
        in_channels: 1
        out_channels: 1
        n_params: 1
        width: {width}
        kernel_size: 7
        n_layers: 4
    lr: 0.003
    residual: true
data:
  class_path: pdesurrogate.training.FieldDataModule
  init_args: {{path: {data}, batch_size: 16}}
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True,
                   help="folder for the data, config, run folder and export (created)")
    p.add_argument("--samples", type=int, default=96, help="training trajectories")
    p.add_argument("--heldout", type=int, default=8, help="held-out trajectories")
    p.add_argument("--n-points", type=int, default=128, help="grid points")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--width", type=int, default=32, help="channels of the CNN's hidden layers")
    p.add_argument("--tiny", action="store_true",
                   help="a few seconds' training (what the tests use): 24 trajectories, "
                        "64 points, 6 epochs, width 16")
    args = p.parse_args(argv)
    if args.tiny:
        args.samples, args.heldout, args.n_points, args.epochs, args.width = 24, 4, 64, 6, 16
    return args


def pdesurrogate_cmd(*args: str, env: dict) -> str:
    """Runs one ``pdesurrogate`` command, as typed in a shell, and returns its stderr (where
    the commands name what they wrote), after showing it."""
    # python -m pdesurrogate: the same command as the console script, found whatever PATH is
    cmd = [sys.executable, "-m", "pdesurrogate", *args]
    print("$ pdesurrogate " + shlex.join(args), flush=True)
    proc = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"pdesurrogate {args[0]} failed (exit status {proc.returncode})")
    return proc.stderr


def main(argv=None):
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    # PYTHONPATH: how fit's config finds tiny_cnn.TinyCNN and export's --model-class finds it;
    # one thread: a network this small gains nothing from more, and on a machine other jobs
    # share they stall each other (README, "Performance notes (CPU)")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE),
                                                       os.environ.get("PYTHONPATH")]))}
    print(f"$ export PYTHONPATH={shlex.quote(env['PYTHONPATH'])} OMP_NUM_THREADS=1")

    # 1. Data: Burgers on a periodic grid, 11 saved times over t in [0, 0.5]; the held-out
    # file has the same settings and another seed.
    solver = ["--solver", "burgers1d", "--solver.n_points", str(args.n_points),
              "--solver.nu_range", "[0.01, 0.05]", "--t_end", "0.5", "--n_times", "11",
              "--workers", "1", "--overwrite"]
    train_file, heldout_file = out / "burgers_train.nc", out / "burgers_heldout.nc"
    pdesurrogate_cmd("generate", *solver, "--samples", str(args.samples), "--seed", "0",
                     "--out", str(train_file), env=env)
    pdesurrogate_cmd("generate", *solver, "--samples", str(args.heldout), "--seed", "1",
                     "--out", str(heldout_file), env=env)

    # 2. Fit from a config file: a file you keep beside your data records the run (fit also
    # saves the config as run, overrides included, beside its checkpoints).
    config = out / "fit_tiny_cnn.yaml"
    config.write_text(FIT_CONFIG.format(epochs=args.epochs, runs=out / "runs", width=args.width,
                                        data=train_file))
    log = pdesurrogate_cmd("fit", "--config", str(config), env=env)
    # fit's last line on stderr names the run folder and its checkpoint (README)
    found = re.search(r"^fit: run folder (.+); checkpoint (.+\.ckpt)", log, re.MULTILINE)
    if not found:
        sys.exit("fit did not name its run folder and checkpoint")
    run_dir, ckpt = Path(found.group(1)), found.group(2)
    with open(run_dir / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("val/rel_l2"):  # validation rows; the others hold training steps
                print(f"epoch {row['epoch']}: val/rel_l2 {float(row['val/rel_l2']):.4f}")

    # 3. Export: the checkpoint names tiny_cnn.TinyCNN, but pdesurrogate never imports a name
    # it read from a file; --model-class is you saying which module to import.
    export_dir = out / "model"
    pdesurrogate_cmd("export", ckpt, str(export_dir), "--model-class", "tiny_cnn.TinyCNN",
                     "--overwrite", env=env)

    # 4. Load in Python: the class again comes from you, under the name the export records.
    torch.set_num_threads(1)
    sur = pdesurrogate.load(export_dir, models={"tiny_cnn.TinyCNN": TinyCNN})
    held = open_dataset(heldout_file)
    truth = held.u[:]  # (N, T, 1, x)
    pred = sur.rollout(truth[:, 0], {"nu": held.params["nu"]}, steps=truth.shape[1] - 1)

    def rel_l2(a, b):  # mean over trajectories and steps 1.., each frame's norm over the grid
        err = np.linalg.norm((a - b)[:, 1:].reshape(len(a), -1, a[0, 0].size), axis=-1)
        return float((err / np.linalg.norm(b[:, 1:].reshape(len(b), -1, b[0, 0].size),
                                           axis=-1)).mean())

    copy = np.repeat(truth[:, :1], truth.shape[1], axis=1)
    print(f"loaded {type(sur.model).__name__} from {export_dir}")
    print(f"held-out mean rel L2 over {truth.shape[1] - 1} steps: {rel_l2(pred, truth):.4f} "
          f"(copying the first state: {rel_l2(copy, truth):.4f})")


if __name__ == "__main__":
    main()
