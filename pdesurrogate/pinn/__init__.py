"""Physics-informed neural networks for high-dimensional PDEs, trained with SDGD.

* :mod:`.problems`: Poisson, Allen–Cahn and sine-Gordon on the unit ball in d dimensions with
  the exact solution of Hu, Shukla, Karniadakis and Kawaguchi (2024).
* :mod:`.mlp`: :class:`PINNMLP`, an MLP with second-order forward mode (``taylor2``).
* :mod:`.derivatives`: second directional derivatives of any network (torch.func fallback).
* :mod:`.laplacian`: Laplacian estimators: :class:`FullLaplacian`, :class:`SDGD`,
  :class:`Hutchinson`.
* :mod:`.sampling`: uniform sampling of the ball and sphere.
* :mod:`.points`: :class:`BallPoints` (DataModule).
* :mod:`.module`: :class:`PINNModule` (LightningModule; SDGD variants).
* :mod:`.export`: export to config.json + model.safetensors; ``pdesurrogate.load`` returns a
  :class:`PINNSurrogate` that evaluates u at points.

:class:`PINNModule` and :class:`BallPoints` are imported on first use: they bring in Lightning
(seconds), which loading an export, sampling or the estimators do not need.
"""

import typing as _typing

from .derivatives import func_second_derivatives, second_derivatives
from .export import PINNSurrogate, export_pinn, load_pinn
from .laplacian import ESTIMATORS, SDGD, FullLaplacian, Hutchinson, LaplacianEstimator
from .mlp import PINNMLP
from .problems import PROBLEMS, AllenCahn, BallProblem, Poisson, SineGordon
from .sampling import sample_ball, sample_sphere

# name -> submodule, for the Lightning-bound names (PEP 562 module __getattr__)
_LAZY = {"PINNModule": "module", "BallPoints": "points"}

if _typing.TYPE_CHECKING:  # for type checkers and IDEs, which do not run __getattr__
    from .module import PINNModule as PINNModule
    from .points import BallPoints as BallPoints


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["ESTIMATORS", "PROBLEMS", "SDGD", "AllenCahn", "BallPoints", "BallProblem",
           "FullLaplacian", "Hutchinson", "LaplacianEstimator", "PINNMLP", "PINNModule",
           "PINNSurrogate", "Poisson", "SineGordon", "export_pinn", "func_second_derivatives",
           "load_pinn", "sample_ball", "sample_sphere", "second_derivatives"]
