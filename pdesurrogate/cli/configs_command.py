"""``pdesurrogate configs``: list the YAML configs that ship with the package, print one's path,
or copy them out."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from pdesurrogate.cli.conventions import EXIT_STATUS, NO_ABBREVIATIONS


def cmd_configs(argv: Sequence[str]) -> int:
    from pdesurrogate import shipped_configs as shipped

    p = argparse.ArgumentParser(
        prog="pdesurrogate configs", **NO_ABBREVIATIONS,
        description="The YAML configs that ship with the package (data: generate; fit: fit; "
                    "online: online). Without options, list them with what each is for.",
        epilog="Then e.g.: pdesurrogate configs --copy . && pdesurrogate generate --config "
               "configs/data/burgers1d.yaml --out data/burgers1d.nc. The list, --path's "
               "file and --copy's line go to stdout, errors to stderr. " + EXIT_STATUS)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--copy", metavar="DIR",
                       help="write them as DIR/configs/{data,fit,online}/NAME.yaml, the paths "
                            "the help texts and the README use (refused, before anything is "
                            "written, if one exists with other content: your edits stay)")
    which.add_argument("--path", metavar="KIND/NAME",
                       help="print the installed file of one, e.g. fit/fno_burgers")
    p.add_argument("--overwrite", action="store_true",
                   help="with --copy: replace existing files of the same names")
    args = p.parse_args(argv)
    if args.overwrite and args.copy is None:
        p.error("--overwrite goes with --copy DIR")
    if args.path is not None:
        print(shipped.installed_path(args.path))
        return 0
    if args.copy is not None:
        written = shipped.copy_configs(args.copy, overwrite=args.overwrite)
        folder = Path(args.copy) / "configs"
        same = len(shipped.shipped_configs()) - len(written)
        kept = f"; {same} already there, identical" if same else ""
        kinds = sorted({f.parent.name + "/" for f in written})
        print(f"wrote {len(written)} configs to {folder}{os.sep}"
              + (f" ({', '.join(kinds)})" if kinds else "") + kept)
        return 0
    configs = shipped.shipped_configs()
    width = max(len(c.key) for c in configs)
    for c in configs:
        print(f"{c.key:<{width}}  {c.description}")
    print("\nUse one with --config $(pdesurrogate configs --path KIND/NAME), or copy them all "
          "to ./configs/ with pdesurrogate configs --copy . (the paths the examples use).")
    return 0
