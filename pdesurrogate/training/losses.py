"""Losses on batched fields ``(B, ...)``."""

from __future__ import annotations

import torch

# floors the target norm of the training loss: a constant channel normalises to zero, and a
# smaller floor (the metrics' 1e-30) would make its loss, and the gradients, overflow
EPS = 1e-12


def precise_dtype(device: torch.device) -> torch.dtype:
    """The dtype metrics are summed and compared in on ``device``: float64, or float32 on
    Apple's MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def relative_l2(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean",
                floor: float = EPS) -> torch.Tensor:
    """``||pred - target||_2 / ||target||_2`` per sample, the norm over every axis but the first.

    Args:
        pred, target: ``(B, ...)`` of equal shape.
        reduction: ``"mean"`` (a scalar, mean over the batch) or ``"none"`` (``(B,)``).
        floor: the smallest target norm divided by (default :data:`EPS`, 1e-12, so that the
            loss stays finite).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    diff = torch.linalg.vector_norm((pred - target).flatten(1), dim=1)
    norm = torch.linalg.vector_norm(target.flatten(1), dim=1).clamp_min(floor)
    err = diff / norm
    return err.mean() if reduction == "mean" else err


def evaluation_relative_l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B,)`` relative L2 errors of :func:`relative_l2` as validation and test report them:
    in :func:`precise_dtype`, the target norm floored at the metrics' ``NORM_FLOOR`` (1e-30),
    so that ``test/rel_l2`` is :func:`pdesurrogate.metrics.trajectory_errors`' ``rel_l2``, which
    ``predict`` prints, also for a frame whose norm is below :data:`EPS` (a decayed
    trajectory, a field in small units): floored at ``EPS``, its error came out too small."""
    from pdesurrogate.metrics import NORM_FLOOR

    dtype = precise_dtype(pred.device)
    return relative_l2(pred.to(dtype), target.to(dtype), reduction="none", floor=NORM_FLOOR)


#: the training losses a module's ``loss`` argument names
LOSSES = ("rel_l2", "rel_h1")
#: our solvers (a file's ``pde`` attribute, ``data_info["pde"]``) whose domain is periodic in
#: every axis; the others of ``pdesurrogate.solvers.SOLVERS`` have walls (zero Dirichlet data)
PERIODIC_PDES = frozenset({"advection1d", "burgers1d", "ks1d", "navier_stokes2d"})
WALLED_PDES = frozenset({"heat2d", "darcy2d"})
# neuraloperator's one-sided boundary stencil reads four points along an axis
MIN_WALLED_POINTS = 4


def check_loss(loss) -> str:
    """``loss`` if it is one of :data:`LOSSES`, else a ValueError listing them."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {loss!r}")
    return loss


class RelativeH1:
    """Relative H1 (Sobolev) error per sample, ``sqrt(||e||^2 + sum_i ||d_i e||^2) /
    sqrt(||y||^2 + sum_i ||d_i y||^2)`` with ``e = pred - target``, ``y = target``, the norms
    over every channel and grid point of a sample: neuraloperator's ``H1Loss`` (its
    derivatives and its quadrature) with :func:`relative_l2`'s reduction.

    The derivatives are ``neuralop.losses.H1Loss``'s: second-order central differences, wrapped
    around a periodic axis, third-order one-sided differences at the two ends of a walled one,
    with its default ``measure`` of 1 per axis, i.e. spacing ``1 / n`` for ``n`` points (each
    axis read as the unit interval, whatever the file's length units: the unit square of
    Darcy, Navier-Stokes and heat, the unit interval of Burgers and advection as shipped).
    ``H1Loss`` itself normalises each (sample, channel) pair apart and averages them; here one
    sample's channels share one norm, as in :func:`relative_l2`, so it calls only its
    ``compute_terms``.

    Args:
        periodic: one bool per spatial axis, in the fields' axis order (1 to 3 axes).
        floor: the smallest target H1 norm divided by (default :data:`EPS`).
    """

    def __init__(self, periodic, floor: float = EPS):
        periodic = tuple(periodic)
        if not 1 <= len(periodic) <= 3 or not all(isinstance(p, bool) for p in periodic):
            raise ValueError("periodic must be one bool per spatial axis (1 to 3 axes), got "
                             f"{periodic!r}")
        from neuralop.losses import H1Loss

        self.periodic, self.floor = periodic, float(floor)
        names = ("periodic_in_x", "periodic_in_y", "periodic_in_z")[: len(periodic)]
        flags = dict(zip(names, periodic, strict=True))
        self._h1 = H1Loss(d=len(periodic), **flags)

    @classmethod
    def for_data(cls, data_info: dict | None, dim: int) -> RelativeH1:
        """The loss for fields of ``dim`` spatial axes of the data ``data_info`` describes:
        periodic in every axis for a PDE of :data:`PERIODIC_PDES`, walled in every axis for
        anything else. A file that does not say (PDEBench, The Well, a solver of one's own)
        gets walls: their one-sided differences are right on a periodic field too, whereas
        wrapping a walled field would differentiate a jump that is not there. A walled grid
        needs :data:`MIN_WALLED_POINTS` points an axis (a ValueError naming the grid)."""
        info = data_info or {}
        periodic = info.get("pde") in PERIODIC_PDES
        grid = info.get("grid_shape")
        if not periodic and grid and min(grid) < MIN_WALLED_POINTS:
            raise ValueError(f"loss 'rel_h1' on the non-periodic grid {tuple(grid)} of "
                             f"{info.get('pde')!r} needs {MIN_WALLED_POINTS} points or more along "
                             "each axis (neuraloperator's one-sided differences at the walls); "
                             "use loss 'rel_l2'")
        return cls((periodic,) * dim)

    def __call__(self, pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
                 ) -> torch.Tensor:
        """``pred``, ``target`` ``(B, C, *grid)``, ``len(grid)`` the axes of ``periodic`` ->
        the mean over the batch, or ``(B,)`` with ``reduction="none"``."""
        d = len(self.periodic)
        if pred.shape != target.shape or pred.ndim != d + 2:
            raise ValueError(f"pred and target must both be (B, C, *grid) with {d} grid axes, "
                             f"got {tuple(pred.shape)} and {tuple(target.shape)}")
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        walled = [n for n, p in zip(pred.shape[2:], self.periodic, strict=True) if not p]
        if walled and min(walled) < MIN_WALLED_POINTS:
            raise ValueError(f"relative H1 on a non-periodic axis needs {MIN_WALLED_POINTS} "
                             f"points or more, got the grid {tuple(pred.shape[2:])}")
        # the terms are linear in the field: the error's are those of pred minus target's
        quadrature = self._h1.uniform_quadrature(target)
        err, ref = self._h1.compute_terms(pred - target, target, quadrature)
        diff = sum(t.flatten(1).square().sum(dim=1) for t in err.values()).sqrt()
        norm = sum(t.flatten(1).square().sum(dim=1) for t in ref.values()).sqrt()
        out = diff / norm.clamp_min(self.floor)
        return out.mean() if reduction == "mean" else out
