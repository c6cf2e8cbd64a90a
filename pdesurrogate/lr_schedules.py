"""The learning-rate schedules of our LightningModules' ``configure_optimizers``."""

from __future__ import annotations

import math
import warnings

import torch
from lightning.pytorch import LightningModule

SCHEDULERS = ("cosine", "none")


class RunCosine(torch.optim.lr_scheduler.LambdaLR):
    """Cosine annealing to zero over the ``total_steps`` optimiser steps of the current run:
    ``lr(s) = base_lr (1 + cos(pi min(s, T) / T)) / 2`` (the closed form of torch's
    ``CosineAnnealingLR`` with ``eta_min = 0``), stepped every optimiser step.

    A checkpoint restores the step count (and the base rates), never the horizon: a fit
    resumed with a larger budget (``max_epochs`` 2, then 4) anneals over the new one, from where
    the step count is on it, instead of keeping the first run's horizon (past which torch's
    recursive cosine climbs back to the peak). Its ``state_dict`` saves no function, and
    ``load_state_dict`` also takes a ``CosineAnnealingLR``'s state (checkpoints written before
    this schedule), whose ``T_max`` it ignores.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int):
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps must be an int >= 1, got {total_steps!r}")

        def factor(step: int) -> float:  # a plain function: LambdaLR saves none of its state
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))

        self.total_steps = total_steps
        super().__init__(optimizer, factor)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state.pop("total_steps", None)  # the run that loads it has its own
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        for key in ("last_epoch", "_step_count", "base_lrs"):
            if key in state_dict:
                setattr(self, key, state_dict[key])
        # the rate of the step the run continues from, on this run's curve: the optimiser's
        # restored rate followed the horizon of the run that saved it
        rates = [base * fn(self.last_epoch)
                 for base, fn in zip(self.base_lrs, self.lr_lambdas, strict=True)]
        for group, lr in zip(self.optimizer.param_groups, rates, strict=True):
            group["lr"] = lr
        self._last_lr = rates


def scheduled_steps(trainer, estimate: float) -> float:
    """The optimiser steps of ``trainer``'s run: Lightning's ``estimate``
    (``estimated_stepping_batches``), unless a ``GradientAccumulationScheduler`` changes the
    accumulation as epochs start. Lightning's estimate counts every epoch at the first one's
    (1 before that callback's first epoch starts), so a cosine over it would stop short of 0;
    here each epoch ``e`` takes ``ceil(batches / accumulation(e))`` steps (an epoch's last
    batches step however few they are), at most ``max_steps``."""
    from lightning.pytorch.callbacks import GradientAccumulationScheduler

    schedule = next((c for c in trainer.callbacks
                     if isinstance(c, GradientAccumulationScheduler)), None)
    batches = trainer.num_training_batches
    if schedule is None or not math.isfinite(estimate) or not math.isfinite(batches) \
            or trainer.max_epochs is None or trainer.max_epochs < 1:
        return estimate
    steps = sum(math.ceil(batches / schedule.get_accumulate_grad_batches(e))
                for e in range(trainer.max_epochs))
    return min(steps, trainer.max_steps) if trainer.max_steps != -1 else steps


def with_schedule(module: LightningModule, opt: torch.optim.Optimizer, scheduler: str):
    """What ``configure_optimizers`` returns for ``opt`` under ``scheduler``: ``"none"``, the
    optimizer alone (constant learning rate); ``"cosine"``, cosine annealing to zero over all of
    the current run's training (:class:`RunCosine`; a resumed run's budget, not the first
    run's), stepped every optimiser step (falls back to a constant rate, with a warning, when
    the trainer has no ``max_epochs`` or ``max_steps`` to tell how long that is)."""
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")
    if scheduler == "none":
        return opt
    total = scheduled_steps(module.trainer, module.trainer.estimated_stepping_batches)
    if not math.isfinite(total) or total < 1:
        warnings.warn("cosine schedule needs max_epochs or max_steps; using a constant lr",
                      stacklevel=3)
        return opt
    sched = RunCosine(opt, total_steps=int(total))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
