"""``FiniteWeights``: a fit stops, with one clear error, the batch its weights become NaN or inf.

A loss that turns NaN or infinite (a learning rate far too large, an overflow) gives NaN
gradients, and one AdamW step with them makes every weight NaN for good. Lightning went on:
all remaining epochs trained and validated NaN (``train/loss`` and ``val/rel_l2`` nan in
``metrics.csv``), ``last.ckpt`` was overwritten with NaN weights each epoch, and the fit exited
0. This callback checks the weights after every optimizer step (``on_train_batch_end``, which
Lightning calls before any checkpoint of that batch or epoch is written: the fit's callbacks
come before its checkpoint writers) and raises :class:`NonFiniteWeights`, which names the
epoch, batch and loss, and the newest checkpoint written before it (its weights are finite:
every earlier batch passed this check), or says that none was.

The weights, not the loss, are checked: they are the same on every DDP rank (so all ranks stop
at the same batch, where one rank's loss alone could differ), and with a gradient scaler
(``16-mixed``) a step whose gradients overflowed is skipped and the weights stay finite, as
they should: such a fit goes on. Checking costs one fused norm over the parameters per batch.
"""

from __future__ import annotations

import math
import os

import torch
from lightning.pytorch import Callback

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
    """Raises :class:`NonFiniteWeights` at the end of the first training batch after which the
    module's weights are not finite (module docstring)."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if weights_finite(pl_module):
            return
        raise NonFiniteWeights(
            f"the weights became NaN or infinite in epoch {trainer.current_epoch}, batch "
            f"{batch_idx} (global step {trainer.global_step}; training loss there: "
            f"{_loss(outputs)}), so the fit stopped: every later step would train NaN. "
            f"{_last_good(trainer)}; lower the learning rate{_lr(pl_module)}, or clip the "
            "gradients (--trainer.gradient_clip_val 1.0)")


def _loss(outputs) -> str:
    loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        return f"{float(loss):g}"
    return "not reported"


def _lr(pl_module) -> str:
    lr = getattr(pl_module, "hparams", {}).get("lr")
    if isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr):
        return f" (it was {lr:g}: --model.init_args.lr)"
    return ""


def _last_good(trainer) -> str:
    """Where the newest checkpoint of this fit is, whose weights passed the check."""
    writer = trainer.checkpoint_callback
    last = getattr(writer, "last_model_path", "") or getattr(writer, "best_model_path", "")
    if last and os.path.isfile(last):
        return (f"The newest checkpoint, written before this, has finite weights: {last} "
                "(resume with --ckpt_path, or export it)")
    return "No checkpoint was written before this"
