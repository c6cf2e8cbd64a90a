"""Where a benchmark's results go: ``--json`` files (and figures) are written whole or not at
all, into folders made on the spot, and the paths are checked when the options are parsed, so
a long run is not lost at its end to a missing folder or a typo."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def check_output(parser: argparse.ArgumentParser, option: str, path: str | None) -> None:
    """Before the run: ``path`` (the value of ``option``; None: not asked for) must name a file
    whose folder exists or can be made; else a usage error naming the option."""
    if path is None:
        return
    p = Path(path)
    if not str(path).strip() or p.is_dir():
        parser.error(f"{option} {path!r}: expected a file name")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        parser.error(f"{option} {path!r}: cannot create its folder: {e.strerror or e}")


def write_json(path: str | os.PathLike, obj, **dump_kw) -> str:
    """Write ``obj`` as JSON (``indent=2`` unless given) to ``path`` through a temporary file
    in the same folder and a rename, so an interruption leaves the old file or the new one,
    never half of one. Missing folders are made."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    dump_kw.setdefault("indent", 2)
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, **dump_kw)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return str(p)

