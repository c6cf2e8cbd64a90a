"""pdesurrogate: numerical PDE solvers -> datasets or MPI streams -> neural surrogates.

    >>> import pdesurrogate
    >>> sur = pdesurrogate.load("runs/demo/model")        # config.json + model.safetensors
    >>> traj = sur.rollout(u0, params, steps=10)            # (B, 11, C, *grid)

Subpackages: ``solvers``, ``datasets``, ``streaming``, ``models``, ``training``, ``pinn``;
``online`` is the ``pdesurrogate online`` command (trainer and solver ranks of one MPI job) and
``cli`` the other commands.
"""

import typing as _typing

__version__ = "0.1.0"

if _typing.TYPE_CHECKING:
    # what __getattr__ below returns at run time, spelt out for type checkers and IDEs (they
    # do not run __getattr__, and without this `pdesurrogate.load(...)` is typed Any)
    # (`X as X`: the form that re-exports a name from a typed package)
    from . import datasets as datasets
    from . import models as models
    from . import pinn as pinn
    from . import solvers as solvers
    from . import streaming as streaming
    from . import training as training
    from .export import export_surrogate as export_surrogate
    from .loading import load as load
    from .surrogate import Surrogate as Surrogate


def _map_checkout_subpackages() -> None:
    # In a source checkout solvers/, datasets/, streaming/ and configs/ sit beside this folder;
    # pyproject's package-dir maps them to pdesurrogate.* only at install. Python started in
    # the checkout's root finds this folder before any installed copy, and without this
    # `pdesurrogate.solvers` would fail there (or come from another installed tree).
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    if (not os.path.isdir(os.path.join(here, "solvers"))
            and os.path.isfile(os.path.join(root, "solvers", "__init__.py"))
            and root not in __path__):
        __path__.append(root)


_map_checkout_subpackages()

_LAZY = {"load": "pdesurrogate.loading", "export_surrogate": "pdesurrogate.export",
         "Surrogate": "pdesurrogate.surrogate"}
_SUBPACKAGES = ("solvers", "datasets", "streaming", "models", "training", "pinn")


def __getattr__(name: str) -> _typing.Any:
    # lazy: `import pdesurrogate` stays cheap; torch/neuralop/Lightning load on first use, so
    # `pdesurrogate.solvers` works without an explicit `import pdesurrogate.solvers`
    if name in _LAZY or name in _SUBPACKAGES:
        import importlib

        if name in _SUBPACKAGES:
            # import_module also binds the subpackage as an attribute of this module
            return importlib.import_module(f"pdesurrogate.{name}")
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pdesurrogate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))


__all__ = ["load", "export_surrogate", "Surrogate", "__version__"]
