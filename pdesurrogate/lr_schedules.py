"""The learning-rate schedules of our LightningModules' ``configure_optimizers``."""

from __future__ import annotations

import math
import warnings

import torch
from lightning.pytorch import LightningModule

SCHEDULERS = ("cosine", "none")


def with_schedule(module: LightningModule, opt: torch.optim.Optimizer, scheduler: str):
    """What ``configure_optimizers`` returns for ``opt`` under ``scheduler``: ``"none"``, the
    optimizer alone (constant learning rate); ``"cosine"``, cosine annealing to zero over all of
    training, stepped every optimiser step (falls back to a constant rate, with a warning, when
    the trainer has no ``max_epochs`` or ``max_steps`` to tell how long that is)."""
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")
    if scheduler == "none":
        return opt
    total = module.trainer.estimated_stepping_batches
    if not math.isfinite(total) or total < 1:
        warnings.warn("cosine schedule needs max_epochs or max_steps; using a constant lr",
                      stacklevel=3)
        return opt
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(total))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
