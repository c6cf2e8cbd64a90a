"""How :func:`~pdesurrogate.cli.main` reports a user's mistake: jsonargparse's nested errors
condensed to their innermost lines, the hints added below them, and which exceptions are
printed as one line rather than a traceback."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence


def _missing_config_hint(message: str) -> str | None:
    """For a ``--config configs/KIND/NAME.yaml`` that does not exist (jsonargparse: ``File
    does not exist: '...'``), where the shipped configs are: a pip install has no such folder."""
    missing = re.search(r"File does not exist: '([^']*)'", message)
    if not missing or not re.search(r"(^|/)configs/(data|fit|online)/[^/]+$",
                                    missing.group(1).replace(os.sep, "/")):
        return None
    return ("the configs ship with the package: pdesurrogate configs --copy . writes them to "
            "./configs/ (pdesurrogate configs lists them)")


# what a command that needs a config says when given no arguments at all
_FIRST_RUN = {
    "generate": "pdesurrogate generate --config configs/data/burgers1d.yaml --out "
                "data/burgers1d.nc",
    "online": "pdesurrogate online --config configs/online/burgers_fno.yaml --out runs/demo",
}


def _first_run_hint(argv: Sequence[str]) -> str | None:
    """For ``generate`` or ``online`` given no arguments (jsonargparse only names the
    required keys, which a config gives): an example run and where its config comes from."""
    if len(argv) != 1 or argv[0] not in _FIRST_RUN:
        return None
    return (f"e.g. {_FIRST_RUN[argv[0]]} (pdesurrogate configs lists the shipped configs, "
            "pdesurrogate configs --copy . writes them to ./configs/)")


def _missing_module_hint(message: str) -> str | None:
    """For a class_path whose module does not import (``No module named 'x'``): where Python
    looks. The ``pdesurrogate`` command has no current folder on its import path."""
    missing = re.search(r"No module named '([^'.]+)", message)
    if not missing or missing.group(1) in ("pdesurrogate", "lightning", "torch"):
        return None
    return (f"a module of yours named by class_path must be importable: put the folder that "
            f"holds {missing.group(1)}.py on PYTHONPATH (e.g. PYTHONPATH=. for the current "
            "folder)")


# lines of jsonargparse's union errors that repeat what the innermost error already says
_PARSE_NOISE = ("Does not validate against any of the Union subtypes", "Subtypes:", "Errors:",
                "Given value type:", "Given value:", "Expected a <class 'NoneType'>")


def condense_parse_error(message: str) -> str:
    """jsonargparse's error for a nested class (``Parser key "model": ... Errors: - Problem
    with given class_path ...``, dozens of lines with the whole value printed twice) reduced
    to its innermost errors, each prefixed by the path of keys and classes that leads to it."""
    path: list[tuple[int, str]] = []
    leaves = []
    for line in message.splitlines():
        text = line.strip()
        if not text or text.removeprefix("- ").startswith(_PARSE_NOISE):
            continue
        indent = len(line) - len(line.lstrip())
        while path and path[-1][0] >= indent:
            path.pop()
        key = re.fullmatch(r'Parser key "([^"]+)":', text)
        cls = re.fullmatch(r"- Problem with given class_path '([^']+)':", text)
        if key or cls:
            path.append((indent, key.group(1) if key else f"({cls.group(1)})"))
            continue
        where = " > ".join(p for _, p in path)
        leaves.append(f"{where}: {text.removeprefix('- ')}" if where else text)
    return "\n".join(leaves) or message


def _condensed_errors() -> tuple[type[Exception], ...]:
    """The exceptions ``main`` prints as one line: the usual types of a user's mistake, and
    Lightning's MisconfigurationException (contradicting Trainer settings), if Lightning is
    loaded (it is only imported by the commands that train)."""
    errors: tuple[type[Exception], ...] = (ValueError, TypeError, OSError, RuntimeError)
    lightning = sys.modules.get("lightning.fabric.utilities.exceptions")
    misconfigured = getattr(lightning, "MisconfigurationException", None)
    return errors if misconfigured is None else (*errors, misconfigured)
