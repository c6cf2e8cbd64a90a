"""``pdesurrogate export``: a Lightning checkpoint as a surrogate folder (config.json +
model.safetensors)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from pdesurrogate.cli.conventions import EXIT_STATUS, NO_ABBREVIATIONS
from pdesurrogate.cli.messages import _markup_free, console
from pdesurrogate.cli.option_types import _names, _path
from pdesurrogate.cli.own_models import MODEL_CLASS_HELP, _own_models


def cmd_export(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="pdesurrogate export", **NO_ABBREVIATIONS,
        description="Export a Lightning checkpoint as a shareable surrogate directory "
                    "(config.json + model.safetensors; loading it never unpickles anything).",
        epilog="Example: pdesurrogate export "
               "runs/fno_burgers/csv/version_0/checkpoints/last.ckpt models/fno_burgers (the "
               "checkpoint a fit names at its end); then pdesurrogate predict --model "
               "models/fno_burgers ... or pdesurrogate.load('models/fno_burgers') in Python. "
               "It writes OUTDIR alone (built under a temporary name, renamed when "
               "complete); the line 'exported OUTDIR' goes to stderr, stdout stays empty. "
               + EXIT_STATUS)
    p.add_argument("ckpt", type=_path,
                   help="checkpoint written by `pdesurrogate fit` (e.g. .../last.ckpt)")
    p.add_argument("outdir", type=_path, help="directory to create")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUTDIR if it is an earlier export (a folder holding nothing "
                        "but config.json and model.safetensors); anything else is refused")
    known = p.add_argument_group(
        "what only the training data can tell", "needed for a checkpoint whose module never saw "
        "a FieldDataModule (trained with plain DataLoaders); a fit's checkpoint records them, "
        "and a value that contradicts the record is refused")
    # comma-separated, not nargs="+", which would take CKPT and OUTDIR after it as names
    known.add_argument("--param-names", "--param_names", type=_names, metavar="NAME[,NAME...]",
                       help="the PDE parameters, in the order of the model's params columns")
    known.add_argument("--channel-names", "--channel_names", type=_names,
                       metavar="NAME[,NAME...]", help="the state's channels, in order")
    known.add_argument("--pde", help="the PDE's name (e.g. burgers1d)")
    known.add_argument("--dt", type=float, help="the time one model step advances")
    p.add_argument("--model-class", "--model_class", type=_names, metavar="MODULE.CLASS",
                   help=MODEL_CLASS_HELP + " (a fit records such a model under this name when "
                        "it stores each constructor argument as an attribute of the same name)")
    args = p.parse_args(argv)
    from pdesurrogate.export import export_surrogate

    if not os.path.exists(args.ckpt):
        p.error(f"checkpoint {args.ckpt!r} does not exist")
    models = _own_models(args.model_class)
    out = export_surrogate(args.ckpt, args.outdir, overwrite=args.overwrite,
                           param_names=args.param_names, channel_names=args.channel_names,
                           pde=args.pde, dt=args.dt, models=models)
    console().print(f"[green]exported[/green] {_markup_free(out)}")
    return 0
