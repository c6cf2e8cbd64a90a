"""Losses on batched fields ``(B, ...)``."""

from __future__ import annotations

import torch

EPS = 1e-12


def precise_dtype(device: torch.device) -> torch.dtype:
    """The dtype metrics are summed and compared in on ``device``: float64, or float32 on
    Apple's MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def relative_l2(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
                ) -> torch.Tensor:
    """``||pred - target||_2 / ||target||_2`` per sample, the norm over every axis but the first.

    Args:
        pred, target: ``(B, ...)`` of equal shape.
        reduction: ``"mean"`` (a scalar, mean over the batch) or ``"none"`` (``(B,)``).

    A zero target norm is floored at ``1e-12`` (so the loss stays finite).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    diff = torch.linalg.vector_norm((pred - target).flatten(1), dim=1)
    norm = torch.linalg.vector_norm(target.flatten(1), dim=1).clamp_min(EPS)
    err = diff / norm
    return err.mean() if reduction == "mean" else err
