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
