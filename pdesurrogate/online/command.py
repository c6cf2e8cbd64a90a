"""The command ``pdesurrogate online`` (:func:`cmd_online`): parse and check the settings, then
start the MPI job (outside one) or run this rank's part (inside it: :func:`rank_settings`
parses what the rank's role needs)."""

from __future__ import annotations

import argparse
import os

from pdesurrogate.online.errors import UsageError
from pdesurrogate.online.launcher import WORKER_ENV, launch
from pdesurrogate.online.parser import _check, _parse
from pdesurrogate.online.rank import run_rank
from pdesurrogate.online.rank_settings import CONFIG_ERROR, rank_settings

MPI_ENV = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


def _under_mpi() -> bool:
    return os.environ.get(WORKER_ENV) == "1" or any(k in os.environ for k in MPI_ENV)


def cmd_online(argv) -> int:
    try:
        if _under_mpi():
            settings = rank_settings(list(argv))
            return CONFIG_ERROR if settings is None else run_rank(*settings)
        parser, cfg, argv = _parse(list(argv))
        _check(cfg)
        return launch(parser, cfg, argv)
    except UsageError as e:
        # printed without the type name, as a parse error is (any other error, e.g. a
        # constructor's ValueError, keeps it: cli prints its root cause)
        raise argparse.ArgumentError(None, str(e)) from None
