"""``pdesurrogate --version``: the versions of the package and the libraries it runs on."""

from __future__ import annotations

import sys

# what decides the behaviour of a run, in the order a bug report wants them
_REPORTED = ("torch", "lightning", "neuraloperator", "numpy", "mpi4py", "mpich", "h5py",
             "xarray", "safetensors")


def version_report() -> str:
    """``pdesurrogate X (Python Y; torch Z, ...)``: read from the installed packages' metadata,
    so nothing heavy is imported; a library that is not installed shows as ``-``."""
    from importlib import metadata

    from pdesurrogate import __version__

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "-"

    libs = ", ".join(f"{d} {version(d)}" for d in _REPORTED)
    return f"pdesurrogate {__version__} (Python {sys.version.split()[0]}; {libs})"
