"""``FiniteWeights``: a fit whose weights become NaN or inf stops with one clear error, before
any checkpoint holds them.

A loss that turns NaN or infinite (a learning rate far too large, an overflow) gives NaN
gradients, and one AdamW step with them makes every weight NaN for good. Lightning went on:
all remaining epochs trained and validated NaN (``train/loss`` and ``val/rel_l2`` nan in
``metrics.csv``), ``last.ckpt`` was overwritten with NaN weights each epoch, and the fit exited
0. This callback checks the weights on the batches whose step metrics the loggers write (the
rule of :func:`.step_logs.step_logs_due`: every ``log_every_n_steps`` optimiser steps and an
epoch's first and last batch) and whenever a checkpoint is about to be written
(``on_save_checkpoint``, before the file is opened), and raises :class:`NonFiniteWeights`. The
error names where the NaN was found, the last step at which the weights were finite, the loss,
and the newest checkpoint (its weights passed the check) or that none was written.

Not every batch: the check is a fused norm over the parameters and, on a GPU, a wait for the
device (the result must reach the host), about 0.5 ms a step for ``configs/fit/fno_burgers.yaml``
on a 2-core CPU, where ``pdesurrogate fit``'s whole overhead over a bare loop is meant to stay
under 5 %. Checked on the logged steps, where Lightning syncs for the loggers anyway, a NaN
costs at most ``log_every_n_steps`` wasted steps.

The weights, not the loss, are checked: they are the same on every DDP rank (so all ranks stop
at the same batch, where one rank's loss alone could differ), and with a gradient scaler
(``16-mixed``) a step whose gradients overflowed is skipped and the weights stay finite, as
they should: such a fit goes on.
"""

from __future__ import annotations

import json
import math
import os

import torch
from lightning.pytorch import Callback

from .step_logs import logged_step

CLASS_PATH = "pdesurrogate.training.finite_weights.FiniteWeights"


class NonFiniteWeights(RuntimeError):
    """The fit's weights became NaN or infinite (see :mod:`.finite_weights`)."""


def weights_finite(module: torch.nn.Module) -> bool:
    """Whether every floating-point parameter of ``module`` is finite (one fused norm per
    device and dtype: NaN or inf anywhere makes it non-finite)."""
    params = [p.detach() for p in module.parameters() if p.is_floating_point() and p.numel()]
    if not params:
        return True
    norms = torch._foreach_norm(params, float("inf"))
    return bool(torch.isfinite(torch.stack([n.float().cpu() for n in norms])).all())


class FiniteWeights(Callback):
    """Raises :class:`NonFiniteWeights` on the first logged batch after which, or at the first
    checkpoint before which, the module's weights are not finite (module docstring)."""

    def __init__(self, online_checkpoint: str | None = None) -> None:
        """``online_checkpoint``: in ``pdesurrogate online``, the run's checkpoint folder
        (``OUT/checkpoint``), which the error names, with advice for an online config; None (a
        fit): the error names the newest file of the fit's ``ModelCheckpoint``."""
        if online_checkpoint is not None and not isinstance(online_checkpoint, str):
            raise TypeError(f"FiniteWeights: online_checkpoint must be a folder path (str) or "
                            f"None, got {online_checkpoint!r}")
        self.online_checkpoint = online_checkpoint
        self._finite_step: int | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._finite_step = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if logged_step(trainer, batch_idx, trainer.global_step):
            self._check(trainer, pl_module, f"after epoch {trainer.current_epoch}, batch "
                        f"{batch_idx} (global step {trainer.global_step}; training loss there: "
                        f"{_loss(outputs)})")

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self._check(trainer, pl_module, f"as a checkpoint was about to be written at global step "
                    f"{trainer.global_step} (it was not written)")

    def _check(self, trainer, pl_module, where: str) -> None:
        if weights_finite(pl_module):
            self._finite_step = trainer.global_step
            return
        since = ("at no check before" if self._finite_step is None else
                 f"at global step {self._finite_step}, the check before")
        found = f"the weights were found NaN or infinite {where}; they were finite {since}."
        lr = _lr(pl_module)
        if self.online_checkpoint is not None:
            raise NonFiniteWeights(
                f"{found} The run stopped, exporting nothing: every later step would train NaN. "
                f"{_last_online(self.online_checkpoint)}. In the config, lower the learning rate "
                f"(model.init_args.lr{f', it was {lr}' if lr else ''}) or clip the gradients "
                "(trainer.gradient_clip_val: 1.0), and start a new run")
        raise NonFiniteWeights(
            f"{found} The fit stopped: every later step would train NaN. {_last_good(trainer)}; "
            f"lower the learning rate{f' (it was {lr}: --model.init_args.lr)' if lr else ''}, "
            "or clip the gradients (--trainer.gradient_clip_val 1.0)")


def _loss(outputs) -> str:
    loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        return f"{float(loss):g}"
    return "not reported"


def _lr(pl_module) -> str:
    """The module's learning rate as its hyperparameters give it, or "" if they do not."""
    lr = getattr(pl_module, "hparams", {}).get("lr")
    if isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr):
        return f"{lr:g}"
    return ""


def _last_good(trainer) -> str:
    """Where the newest checkpoint of this fit is, whose weights passed the check."""
    writer = trainer.checkpoint_callback
    last = getattr(writer, "last_model_path", "") or getattr(writer, "best_model_path", "")
    if last and os.path.isfile(last):
        return (f"The newest checkpoint, written before this, has finite weights: {last} "
                "(resume with --ckpt_path, or export it)")
    return "No checkpoint was written before this"


def _last_online(folder: str) -> str:
    """Where an online run's newest complete checkpoint is (its manifest is written last)."""
    try:
        with open(os.path.join(folder, "manifest.json")) as f:
            step = json.load(f)["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return "No checkpoint was written before this"
    return (f"The newest checkpoint, written at global step {step} before this, has finite "
            f"weights: {folder}")
