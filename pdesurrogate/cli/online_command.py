"""``pdesurrogate online``: the platform check, then :func:`pdesurrogate.online.cmd_online`."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

from pdesurrogate.cli.solver_names import _solver_names_to_class_paths
from pdesurrogate.yaml_aliases import bound_yaml_aliases


def cmd_online(argv: Sequence[str]) -> int:
    import importlib.util

    # the launcher stops and checkpoints the job by signalling its process group, and locks
    # the run folder: without these (Windows) it failed in a traceback ("No module named
    # 'fcntl'", "module 'signal' has no attribute 'SIGUSR1'")
    lacks = [name for name, there in (
        ("fcntl", importlib.util.find_spec("fcntl") is not None),
        ("signal.SIGUSR1", hasattr(signal, "SIGUSR1")),
        ("signal.SIGHUP", hasattr(signal, "SIGHUP")),
        ("os.killpg", hasattr(os, "killpg"))) if not there]
    if lacks:
        print(f"pdesurrogate online: error: it runs on Linux and macOS only: this platform lacks "
              f"{', '.join(lacks)}, which its launcher needs (on Windows, run it under WSL)",
              file=sys.stderr)
        return 2
    from pdesurrogate.online import cmd_online as run

    bound_yaml_aliases()
    # names on the command line only: online passes the --config path on to the ranks as
    # given, and its own parser translates a name in the file as it reads it
    return run(_solver_names_to_class_paths(argv, configs=False))
