"""The command ``pdesurrogate online`` (:func:`cmd_online`): parse and check the settings, then
start the MPI job (outside one) or run this rank's part (inside it: :func:`rank_settings`
parses what the rank's role needs)."""

from __future__ import annotations

import argparse
import os
import sys

from pdesurrogate.online.errors import UsageError
from pdesurrogate.online.launched import launcher_mark
from pdesurrogate.online.launcher import WORKER_ENV, launch
from pdesurrogate.online.parser import _check, _parse
from pdesurrogate.online.rank import run_rank
from pdesurrogate.online.rank_settings import CONFIG_ERROR, rank_settings
from pdesurrogate.online.solver_change import check_solver_change


def _under_mpi() -> bool:
    """Whether this process is a rank of the job: our launcher's (:data:`WORKER_ENV`) or any
    MPI launcher's (:data:`~pdesurrogate.online.launched.MPI_ENV`)."""
    return os.environ.get(WORKER_ENV) == "1" or launcher_mark(os.environ) is not None


def cmd_online(argv) -> int:
    try:
        if _under_mpi():
            settings = rank_settings(list(argv))
            return CONFIG_ERROR if settings is None else run_rank(*settings)
        parser, cfg, argv = _parse(list(argv))
        _check(cfg)
        warning = check_solver_change(argv, cfg.solver.init_args)
        if warning:
            print(f"pdesurrogate online: warning: {warning}", file=sys.stderr)
        return launch(parser, cfg, argv)
    except UsageError as e:
        # printed without the type name, as a parse error is (any other error, e.g. a
        # constructor's ValueError, keeps it: cli prints its root cause)
        raise argparse.ArgumentError(None, str(e)) from None
