"""Physics-informed neural networks for high-dimensional PDEs, trained with SDGD.

* :mod:`.problems`: Poisson, Allen–Cahn and sine-Gordon on the unit ball in d dimensions with
  the exact solution of Hu, Shukla, Karniadakis and Kawaguchi (2024).
* :mod:`.mlp`: :class:`PINNMLP`, an MLP with second-order forward mode (``taylor2``).
* :mod:`.derivatives`: second directional derivatives of any network (torch.func fallback).
* :mod:`.laplacian`: Laplacian estimators: :class:`FullLaplacian`, :class:`SDGD`,
  :class:`Hutchinson`.
* :mod:`.points`: uniform sampling of the ball and sphere; :class:`BallPoints` (DataModule).
* :mod:`.module`: :class:`PINNModule` (LightningModule; SDGD variants).
* :mod:`.export`: export to config.json + model.safetensors; ``pdesurrogate.load`` returns a
  :class:`PINNSurrogate` that evaluates u at points.
"""

from .derivatives import func_second_derivatives, second_derivatives
from .export import PINNSurrogate, export_pinn, load_pinn
from .laplacian import ESTIMATORS, SDGD, FullLaplacian, Hutchinson, LaplacianEstimator
from .mlp import PINNMLP
from .module import PINNModule
from .points import BallPoints, sample_ball, sample_sphere
from .problems import PROBLEMS, AllenCahn, BallProblem, Poisson, SineGordon

__all__ = ["ESTIMATORS", "PROBLEMS", "SDGD", "AllenCahn", "BallPoints", "BallProblem",
           "FullLaplacian", "Hutchinson", "LaplacianEstimator", "PINNMLP", "PINNModule",
           "PINNSurrogate", "Poisson", "SineGordon", "export_pinn", "func_second_derivatives",
           "load_pinn", "sample_ball", "sample_sphere", "second_derivatives"]
