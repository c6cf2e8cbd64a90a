"""``pdesurrogate info``: what an export folder, a dataset file or a checkpoint holds, without
loading it."""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Sequence

from pdesurrogate.cli.conventions import EXIT_STATUS, NO_ABBREVIATIONS


def cmd_info(argv: Sequence[str]) -> int:
    from pdesurrogate.checkpoint_info import JSON_KEYS as CHECKPOINT_JSON_KEYS
    from pdesurrogate.info import JSON_KEYS, describe, render

    p = argparse.ArgumentParser(
        prog="pdesurrogate info", **NO_ABBREVIATIONS,
        description=textwrap.fill(
            "Say what an exported surrogate folder, a dataset file or a training "
            "checkpoint holds, without "
            "running or loading it (as ncdump -h or h5ls, for our layouts). An export "
            "(config.json + model.safetensors; a time-stepping surrogate, a steady map "
            "or a PINN): its model class and constructor arguments, number of "
            "parameters (from the safetensors header), PDE, channels, parameters with "
            "their training range, grid, dt, normalisation, the data and run it was "
            "trained on, how it was trained (module, loss, learning rate, schedule, "
            "batch size) and the versions that wrote it; it is checked as "
            "pdesurrogate.load checks it. A dataset file (ours, PDEBench, The Well): "
            "its layout, PDE, shape and dimensions, channels, each parameter's min and "
            "max over the file, times, grid extents, size and global attributes; its "
            "fields are never read. A folder of dataset files (The Well's data/ folder, "
            "with train/ valid/ test/): the same of all its files as one dataset, and "
            "its files with their trajectories. A Lightning checkpoint (.ckpt) of "
            "pdesurrogate fit or online, read weights-only (never unpickled): which run "
            "wrote it, its LightningModule, model class and constructor arguments, "
            "parameters, epoch and global step, its ModelCheckpoint's monitored metric and "
            "best score, the data it was trained on (file, split and fingerprint, or the "
            "online stream), channels, parameters, grid, normalisation, hyper-parameters, "
            "last validation metrics, the Lightning version, and the test and export "
            "commands to run on it; a checkpoint of another program shows Lightning's "
            "own keys.", 88),
        epilog="Examples:\n  pdesurrogate info models/fno_burgers\n  pdesurrogate info "
               "data/burgers1d.nc --json | jq .params\n  pdesurrogate info "
               "runs/fno_burgers/csv/version_0/checkpoints/last.ckpt\n\n"
               + "\n\n".join(textwrap.fill(text, 88) for text in (
                   *JSON_KEYS, *CHECKPOINT_JSON_KEYS,
                   "The description goes to stdout, errors to stderr. " + EXIT_STATUS)),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH",
                   help="an exported surrogate folder, a dataset file or a folder of them, "
                        "or a Lightning checkpoint (.ckpt)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (keys below) instead of the aligned text")
    args = p.parse_args(argv)
    info = describe(args.path)
    print(json.dumps(info, indent=2) if args.json else render(info))
    return 0
