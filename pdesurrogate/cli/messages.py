"""What the commands print on stderr, and how: a rich console (imported late, see
:func:`console`), a file name made safe for rich markup, and the package's own warnings as
``pdesurrogate COMMAND: warning: ...`` lines."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path


def _markup_free(path) -> str:
    """``path`` as text for a rich line with markup: a file name such as ``a[/b].nc`` or
    ``[bold]x.nc`` is a markup tag to rich (an error, or a name printed without it)."""
    from rich.markup import escape

    return escape(str(path))


def console():
    """A rich console on stderr. Imported late on purpose: typing caches unions and hands out
    the first of ``Union[float, int]`` / ``Union[int, float]`` for both, and with rich imported
    first Lightning's Trainer arguments come out ``Union[float, int]``, so jsonargparse parsed
    ``--trainer.limit_train_batches 1`` as 1.0 (every batch). Lightning must load first."""
    from rich.console import Console

    from pdesurrogate.datasets.progress import redraws

    err = Console(stderr=True)
    # a log file (Slurm's, a pipe, CI, also with FORCE_COLOR): rich would fold lines at 80
    # columns, mid-path and mid-number; whole lines there, for grep and for copying a path
    err.soft_wrap = not redraws(err)
    return err


@contextlib.contextmanager
def _own_warnings_prefixed(command: str):
    """Within it, a warning raised in this package's own files is printed to stderr as
    ``pdesurrogate COMMAND: warning: MESSAGE``, as fit and generate print theirs, not in
    Python's ``FILE:LINE: UserWarning: MESSAGE`` with the source line; another library's is
    shown as before (its file and line say where it comes from)."""
    import importlib.util

    # each package's own folder: in a source checkout pdesurrogate's __path__ also holds the
    # checkout's root, and with it a .venv inside it, whose libraries are not ours
    ours = tuple(str(Path(importlib.util.find_spec(name).origin).resolve().parent) + os.sep
                 for name in ("pdesurrogate", "pdesurrogate.datasets", "pdesurrogate.solvers",
                              "pdesurrogate.streaming"))
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if str(Path(filename).resolve()).startswith(ours):
            print(f"pdesurrogate {command}: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
