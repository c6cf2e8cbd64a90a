"""``pdesurrogate predict``: roll an exported surrogate out over a dataset file (or a folder of
them read as one), write the rollout, and print its errors against the file's truth."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pdesurrogate.cli.conventions import EXIT_STATUS, NO_ABBREVIATIONS
from pdesurrogate.cli.messages import _markup_free, _own_warnings_prefixed, console
from pdesurrogate.cli.option_types import _channel_pairs, _names, _path
from pdesurrogate.cli.own_models import MODEL_CLASS_HELP, _own_models


def cmd_predict(argv: Sequence[str]) -> int:
    from pdesurrogate.predict_budget import BATCH_MEMORY, MAX_BATCH

    p = argparse.ArgumentParser(
        prog="pdesurrogate predict", **NO_ABBREVIATIONS,
        description="Roll an exported surrogate out from the initial states of a dataset file "
                    "and write the rollout as netCDF; where the file holds the truth, the "
                    "relative L2 error per step is printed and stored in the output's "
                    "attribute rel_l2_vs_truth, and PDEBench-style errors (RMSE, nRMSE, The "
                    "Well's VRMSE, max, cRMSE, bRMSE, fRMSE by Fourier band; "
                    "pdesurrogate.metrics) in <name>_vs_truth. --input may be a folder of "
                    "dataset files, rolled out as one file holding all their trajectories (in "
                    "the order of the file names; every file of the same times, grid, channels "
                    "and parameters) into one --out, whose attributes source_files and "
                    "source_file_trajectories name the files and how many trajectories each "
                    "gave; a folder split into train/, valid/ (or val/) and test/ folders, as "
                    "The Well's data/ is, is rolled out from its test/ folder alone, the "
                    "held-out part (a line says so; pass FOLDER/train for that part).",
        epilog="Example: pdesurrogate predict --model models/fno_burgers --input "
               "data/burgers1d_heldout.nc --out pred.nc --plot pred.png (the input: a file "
               "of pdesurrogate generate with the training data's solver settings and another "
               "--seed, or a PDEBench or The Well file). It writes --out and --plot alone "
               "(each under a temporary name, renamed when complete); the progress, the lines "
               "naming them and the errors vs truth go to stderr, stdout stays empty. "
               + EXIT_STATUS)
    p.add_argument("--model", required=True, type=_path, help="exported surrogate directory")
    p.add_argument("--input", required=True, type=_path,
                   help="dataset file (ours, PDEBench, The Well) or a folder of them; a "
                        "train/ valid/ test/ folder: its test/ part")
    p.add_argument("--out", required=True, type=_path, help="output netCDF file for the rollout")
    p.add_argument("--steps", type=int, default=None,
                   help="model steps (default: as many as the input's stored times cover; "
                        "refused for a steady map, e.g. Darcy a -> u, which predicts its "
                        "targets once per sample)")
    p.add_argument("--samples", type=int, default=None, help="first N trajectories only")
    p.add_argument("--batch-size", "--batch_size", type=int, default=None,
                   help="trajectories rolled out together (default: as many as fit in about "
                        f"{BATCH_MEMORY // 2**20} MiB for their rollout, their truth and the "
                        "model's activations, measured on the first trajectory; at most "
                        f"{MAX_BATCH}: on a 128x128 grid a few, on a small one {MAX_BATCH}). "
                        "Only the model's float32 kernels may round a trajectory differently "
                        "in another batch size (~1e-7)")
    p.add_argument("--plot", default=None, type=_path,
                   help="PNG of prediction vs truth and error vs time")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--lead-time", "--lead_time", type=float, default=None,
                   help="lead-time models (scOT) only: the time of one rollout step "
                        "(default: the dt it was trained at), e.g. the input's spacing")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out and --plot if they exist (default: refuse)")
    p.add_argument("--any-grid", "--any_grid", action="store_true",
                   help="roll a model other than an FNO out on a file whose grid is not its "
                        "training grid (default: refused, since its convolutions or patches "
                        "span grid cells, not lengths; an FNO runs on any grid without it), "
                        "and any model on a file over another domain than the training "
                        "file's (config.json's grid_extent; default: refused, since there "
                        "it solves another problem: an FNO's zero-shot super-resolution is a "
                        "finer grid over the same domain)")
    p.add_argument("--compression", choices=("gzip", "lzf"), default=None,
                   help="compress the rollout's states u as generate --compression does: gzip "
                        "(ncdump reads it) or lzf (faster, weaker); default: uncompressed")
    p.add_argument("--compression-level", "--compression_level", type=int, default=None,
                   help="with --compression gzip: 0 (stored) to 9 (smallest); default 4")
    p.add_argument("--model-class", "--model_class", type=_names, metavar="MODULE.CLASS",
                   help=MODEL_CLASS_HELP)
    p.add_argument("--channels", type=_channel_pairs, default=None,
                   metavar="FILE_CHANNEL=MODEL_CHANNEL",
                   help="steady maps only: read the file's channel under the model's name, "
                        "e.g. --channels nu=a for a model trained on darcy2d (coefficient a) "
                        "and a PDEBench 2D_DarcyFlow file (coefficient nu); several "
                        "comma-separated. A time-dependent model takes the file's channels by "
                        "position and refuses it")
    args = p.parse_args(argv)
    # after parsing: --help needs no torch
    from pdesurrogate.predict import metrics_table, predict_file

    models = _own_models(args.model_class)
    with _own_warnings_prefixed("predict"):
        rep = predict_file(args.model, args.input, args.out, steps=args.steps,
                           samples=args.samples, batch_size=args.batch_size, plot=args.plot,
                           device=args.device, overwrite=args.overwrite,
                           lead_time=args.lead_time, models=models,
                           compression=args.compression,
                           compression_level=args.compression_level,
                           any_grid=args.any_grid, channels=args.channels)
    if rep.steps == 0:  # a steady map: one prediction per sample
        console().print(f"[green]wrote[/green] {_markup_free(rep.out)}: the targets of "
                        f"{rep.samples} samples, predicted {rep.batch_size} at a time, in "
                        f"{rep.seconds:.1f} s")
    else:
        rate = rep.samples * rep.steps / max(rep.seconds, 1e-9)
        console().print(f"[green]wrote[/green] {_markup_free(rep.out)}: {rep.samples} "
                        f"trajectories x {rep.steps} steps, rolled out {rep.batch_size} at a "
                        f"time, in {rep.seconds:.1f} s ({rate:,.0f} trajectory steps/s)")
    for line in (rep.note or "").splitlines():
        # the API's note says "warning: ..."; the command's lines say whose, as fit's do
        console().print(f"pdesurrogate predict: {line}" if line.startswith("warning: ")
                        else line, markup=False)
    if rep.rel_l2_samples is not None:
        import numpy as np

        r = rep.rel_l2_samples
        console().print(f"relative L2 vs truth over {r.size} samples: mean {r.mean():.4g}, "
                        f"median {np.median(r):.4g}, max {r.max():.4g} (sample "
                        f"{int(r.argmax())})")
    elif rep.rel_l2 is not None:
        console().print(f"relative L2 vs truth: first step {rep.rel_l2[1]:.4g}, "
                      f"last step {rep.rel_l2[-1]:.4g}, mean {rep.rel_l2[1:].mean():.4g}")
    if rep.metrics is not None:
        err = console()
        # a terminal folds a row wider than it cell by cell: a narrow one gets short lines
        err.print(metrics_table(rep.metrics, rep.samples, None if err.soft_wrap else err.width),
                  markup=False, highlight=False)
    if rep.rel_l2_test is not None and rep.steps == 0:
        console().print(f"relative L2 vs truth on the held-out test split alone "
                        f"({len(rep.test_indices)} "
                        f"{'sample' if len(rep.test_indices) == 1 else 'samples'}): mean "
                        f"{rep.rel_l2_test[0]:.4g}")
    elif rep.rel_l2_test is not None:  # the input was the training file (the note says so)
        r = rep.rel_l2_test
        console().print(f"relative L2 vs truth on the held-out test split alone "
                        f"({len(rep.test_indices)} "
                        f"{'trajectory' if len(rep.test_indices) == 1 else 'trajectories'}): "
                        f"first step {r[1]:.4g}, "
                        f"last step {r[-1]:.4g}, mean {r[1:].mean():.4g}")
    if rep.plot:
        console().print(f"plot: {rep.plot}", markup=False)
    return 0
