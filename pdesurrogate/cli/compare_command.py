"""``pdesurrogate compare``: roll several exported surrogates out over one dataset file (or a
folder of them read as one) and print their leaderboard."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pdesurrogate.cli.conventions import EXIT_STATUS, NO_ABBREVIATIONS
from pdesurrogate.cli.messages import _own_warnings_prefixed, console
from pdesurrogate.cli.option_types import _channel_pairs, _names, _path
from pdesurrogate.cli.own_models import MODEL_CLASS_HELP, _own_models


def _label_pair(text: str) -> tuple[str, str]:
    """``"fno=models/fno"`` -> ``("fno", "models/fno")`` (``--label``)."""
    name, eq, folder = text.partition("=")
    if not eq or not name.strip() or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {text!r}")
    return name.strip(), folder


def cmd_compare(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="pdesurrogate compare", **NO_ABBREVIATIONS,
        description="Roll several exported surrogates out over the same dataset file, each "
                    "exactly as pdesurrogate predict does (no rollout file is kept), and print "
                    "a leaderboard: one row per model, sorted by the mean relative L2 error vs "
                    "truth over the model steps (best first, marked *), with predict's "
                    "PDEBench-style errors (means over the steps; max_error the maximum), the "
                    "parameter count and predict's seconds per trajectory. Every model is "
                    "checked against the file before any rollout; one that cannot run on it "
                    "(PDE, grid, channels, parameters, time spacing), or models that would "
                    "compare different frames of the file (another dt), or a steady map among "
                    "time-steppers, is an error naming the model's folder. A model whose "
                    "rollout reaches NaN or inf is ranked last, with NaN errors (null in "
                    "--json, with diverged_at_step and failure) and a note under the table; the "
                    "exit status is 0 while at least one model was scored, 2 when every model "
                    "diverged (then nothing is written). --input may be a folder of dataset "
                    "files, compared as one file holding all their trajectories (in the order "
                    "of the file names; every file of the same times, grid, channels and "
                    "parameters); a folder split into train/, valid/ (or val/) and test/ "
                    "folders, as The Well's data/ is, is compared on its test/ folder alone, "
                    "the held-out part (a line says so; pass FOLDER/train to score that part).",
        epilog="Example: pdesurrogate compare --input data/burgers1d_heldout.nc --model "
               "models/fno_burgers --model models/unet_burgers --label cape=models/cape_burgers "
               "--plot compare.png --json compare.json. The table goes to stdout (plain aligned "
               "text where stdout is not a terminal); progress and notes to stderr. " + EXIT_STATUS)
    p.add_argument("--input", required=True, type=_path,
                   help="dataset file (ours, PDEBench, The Well) or a folder of them; a "
                        "train/ valid/ test/ folder: its test/ part")
    p.add_argument("--model", action="append", type=_path, default=[], metavar="DIR",
                   help="an exported surrogate directory; give one per model (labelled by "
                        "its folder's name)")
    p.add_argument("--label", action="append", type=_label_pair, default=[], metavar="NAME=DIR",
                   help="the model in DIR, labelled NAME (added if no --model names it)")
    p.add_argument("--steps", type=int, default=None,
                   help="model steps (default: as many as the input's stored times cover)")
    p.add_argument("--samples", type=int, default=None, help="first N trajectories only")
    p.add_argument("--batch-size", "--batch_size", type=int, default=None,
                   help="trajectories rolled out together (default: predict's)")
    p.add_argument("--plot", default=None, type=_path, metavar="PNG",
                   help="image of every model's relative L2 vs rollout step, log y")
    p.add_argument("--json", default=None, type=_path, metavar="OUT.json",
                   help="the leaderboard as JSON, with each model's errors per step")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --plot and --json if they exist (default: refuse)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--any-grid", "--any_grid", action="store_true",
                   help="as predict --any-grid, for every model")
    p.add_argument("--channels", type=_channel_pairs, default=None,
                   metavar="FILE_CHANNEL=MODEL_CHANNEL",
                   help="steady maps only, as predict --channels, for every model")
    p.add_argument("--model-class", "--model_class", type=_names, metavar="MODULE.CLASS",
                   help=MODEL_CLASS_HELP)
    args = p.parse_args(argv)
    # after parsing: --help needs no torch
    from pdesurrogate.compare import compare_models, render_rich, render_text

    labels: dict[str, str] = {}
    for name, folder in args.label:
        if name in labels:
            raise argparse.ArgumentError(None, f"--label {name}= is given twice")
        labels[name] = folder
    with _own_warnings_prefixed("compare"):
        rep = compare_models(args.input, args.model, labels, steps=args.steps,
                             samples=args.samples, batch_size=args.batch_size, plot=args.plot,
                             json_path=args.json, device=args.device, overwrite=args.overwrite,
                             any_grid=args.any_grid, channels=args.channels,
                             models=_own_models(args.model_class))
    if rep.note:
        console().print(f"pdesurrogate compare: {rep.note}", markup=False)
    for r in rep.results:
        for line in (r.note or "").splitlines():
            warned = line.startswith("warning: ")
            console().print(f"pdesurrogate compare: {'warning: ' * warned}{r.label}: "
                            f"{line.removeprefix('warning: ')}", markup=False)
        if r.test_split_line:  # the note above says it is reported
            console().print(f"pdesurrogate compare: {r.label}: {r.test_split_line}",
                            markup=False)
    if sys.stdout.isatty():
        from rich.console import Console

        Console().print(render_rich(rep))
    else:
        print(render_text(rep))
    for flag, path in (("plot", rep.plot), ("json", rep.json)):
        if path:
            console().print(f"{flag}: {path}", markup=False)
    return 0
