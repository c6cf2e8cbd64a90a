"""``SteadyModule``: train a model as the operator of a steady problem, input channels ->
target channels (Darcy flow's coefficient ``a`` -> pressure ``u``: the FNO paper's section 5.2,
PDEBench's DarcyFlow).

There is no time and no rollout: one model call maps the inputs of a sample to its targets.
Its own module (beside :class:`~pdesurrogate.training.NextStepModule`, whose states map onto
themselves) because input and target are different channels, normalised each with its own
statistics; it is one (a subclass), and keeps its statistics buffers, checkpoint record
(normalisation, ``data_info``, seed), fit checks and optimiser.

Everything trains in normalised space, per channel: ``x = (a - mean_a) / std_a`` and
``y = (u - mean_u) / std_u`` with the training split's statistics of the file's channels
(:class:`~pdesurrogate.training.SteadyDataModule`'s ``stats``), parameters likewise. The loss
is the relative L2 error ``||f(x, p) - y||_2 / ||y||_2`` per sample, mean over the batch
(``loss="rel_l2"``, ``train/rel_l2``; ``train/loss`` the same number), or neuraloperator's
relative H1 error, which adds the gradients' to both norms (``loss="rel_h1"``,
``train/rel_h1``: :class:`~pdesurrogate.training.losses.RelativeH1`; walled for Darcy and heat,
periodic for the periodic solvers, walled for files that do not say). Validation and test log
the relative L2 error of the prediction in physical units, ``||u_pred - u||_2 / ||u||_2``, mean
over the split's samples (``val/rel_l2``, ``test/rel_l2``), the FNO paper's figure, whatever the
loss; a module trained with ``"rel_h1"`` also logs its relative H1 error (``val/rel_h1``,
``test/rel_h1``).
"""

from __future__ import annotations

import torch
from torch import nn

from .losses import evaluation_relative_l2
from .next_step import NextStepModule, keep_own_hparams
from .step_logs import step_logs_due


class SteadyModule(NextStepModule):
    """Fit ``model`` to map input channels to target channels (relative L2 or H1, normalised
    space).

    Args:
        model: ``forward(x: (B, C_in, *grid), params: (B, P) | None) -> (B, C_out, *grid)``.
            May be omitted when ``model_spec`` is given (checkpoint reloading).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        scheduler: ``"cosine"`` (per optimiser step, to 0 at the end of training) or ``"none"``.
        model_spec: ``{"class", "init_args"}`` (:func:`pdesurrogate.models.model_spec`);
            filled in from ``model``.
        init_weights: start the fit from a trained model's weights (fine-tuning): an export
            folder or a Lightning checkpoint (:class:`NextStepModule`'s ``init_weights``).
        loss: ``"rel_l2"`` or ``"rel_h1"`` (module docstring).

    Which channels are inputs and targets comes from the data: ``data_info["inputs"]`` and
    ``["targets"]`` (names among ``data_info["channel_names"]``), set by a
    :class:`~pdesurrogate.training.SteadyDataModule` and saved in checkpoints. Batches:
    ``input``, ``target`` and ``params`` in physical units.
    """

    # no time steps: a checkpoint is evaluated whatever k a datamodule records
    steps_at_k = False

    def __init__(self, model: nn.Module | None = None, lr: float = 1e-3,
                 weight_decay: float = 1e-4, scheduler: str = "cosine",
                 model_spec: dict | None = None,
                 init_weights: str | None = None, loss: str = "rel_l2"):
        super().__init__(model=model, lr=lr, weight_decay=weight_decay, scheduler=scheduler,
                         model_spec=model_spec, init_weights=init_weights, loss=loss)
        keep_own_hparams(self)

    def channel_indices(self) -> tuple[list[int], list[int]]:
        """Positions of the inputs and targets among the data's channels (``data_info``)."""
        info = self.data_info or {}
        names, inputs, targets = (info.get(k) for k in ("channel_names", "inputs", "targets"))
        if not (names and inputs and targets):
            raise ValueError("SteadyModule does not know its input and target channels: train "
                             "or evaluate it with a SteadyDataModule (its data_info names them)")
        return [names.index(n) for n in inputs], [names.index(n) for n in targets]

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is not None and getattr(dm, "data_info", None) is not None \
                and "inputs" not in dm.data_info:
            raise ValueError(f"SteadyModule maps input channels to target channels: give it a "
                             f"SteadyDataModule, not {type(dm).__name__}")
        super().setup(stage)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """As :class:`NextStepModule`'s, and refuse a datamodule whose inputs or targets differ
        from those the checkpoint was fit on."""
        super().on_load_checkpoint(checkpoint)
        now = getattr(getattr(self._trainer, "datamodule", None), "data_info", None) or {}
        for key in ("inputs", "targets"):
            had = (self.data_info or {}).get(key)
            if now.get(key) is not None and had is not None and now[key] != had:
                raise ValueError(f"the checkpoint was fit with {key} {had}; the datamodule "
                                 f"gives {now[key]}: set the datamodule's {key} to {had}")

    def _channel_stats(self, which: list[int], x: torch.Tensor):
        if self.u_mean.numel() == 0:
            return None
        mean = self._channel_view(self.u_mean[which], x)
        std = self._channel_view(self.u_std[which], x)
        return mean, std

    def normalize_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs ``(B, C_in, *grid)`` in physical units -> normalised."""
        ms = self._channel_stats(self.channel_indices()[0], x)
        return x if ms is None else (x - ms[0]) / ms[1]

    def normalize_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Targets ``(B, C_out, *grid)`` in physical units -> normalised."""
        ms = self._channel_stats(self.channel_indices()[1], y)
        return y if ms is None else (y - ms[0]) / ms[1]

    def denormalize_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Normalised targets -> physical units, in at least the statistics' dtype (as
        :meth:`NextStepModule.denormalize`)."""
        if self.u_mean.numel() == 0:
            return y
        y = y.to(torch.promote_types(y.dtype, self.u_mean.dtype))
        mean, std = self._channel_stats(self.channel_indices()[1], y)
        return y * std + mean

    def forward(self, x: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        """The map in normalised space: ``(B, C_in, *grid) -> (B, C_out, *grid)``."""
        return self.model(x, params)

    @torch.no_grad()
    def predict_targets(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Targets in physical units of inputs ``x`` ``(B, C_in, *grid)`` in physical units."""
        return self.denormalize_targets(self(self.normalize_inputs(x),
                                             self.normalize_params(params)))

    def rollout(self, u0, params, steps: int):
        raise ValueError("SteadyModule is a steady map (input channels -> target channels), "
                         "which has no time steps to roll out: use predict_targets")

    def train_metric_names(self) -> list[str] | None:
        if type(self).training_step is not SteadyModule.training_step:
            return None
        return ["train/loss", f"train/{self.loss}"]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        x, y = self.normalize_inputs(batch["input"]), self.normalize_targets(batch["target"])
        loss = self.step_loss(self(x, self.normalize_params(batch["params"])), y)
        if step_logs_due(self, batch_idx):
            bs = x.shape[0]
            self.log(f"train/{self.loss}", loss, prog_bar=True, batch_size=bs)
            self.log("train/loss", loss, batch_size=bs)
        return loss

    def _check_half_batch(self, batch, stage: str) -> None:
        """:meth:`NextStepModule._check_half_batch` for both halves of a steady pair:
        ``16-true`` casts ``input`` and ``target`` alike to float16, and either beyond 65504 (a
        pressure in Pa, a coefficient) would make the metrics NaN. The error names the half
        and its channels that float16 cannot hold."""
        if not isinstance(batch, dict):
            return
        info = self.data_info or {}
        for key, side in (("input", "inputs"), ("target", "targets")):
            x = batch.get(key)
            if not isinstance(x, torch.Tensor) or x.dtype != torch.float16 or x.ndim < 2:
                continue
            finite = torch.isfinite(x).transpose(0, 1).flatten(1).all(dim=1).tolist()
            names = info.get(side) or list(range(len(finite)))
            lost = [n for n, ok in zip(names, finite, strict=False) if not ok]
            super()._check_half_batch({"u": x}, f"{stage}, {key} channel(s) {lost}")

    def _evaluate(self, batch: dict, prefix: str) -> torch.Tensor:
        pred = self.predict_targets(batch["input"], batch["params"])
        errs = evaluation_relative_l2(pred, batch["target"])
        self._means.add(f"{prefix}/rel_l2", errs, prog_bar=True)
        if self.loss == "rel_h1":
            self._means.add(f"{prefix}/rel_h1", self.evaluation_relative_h1(pred, batch["target"]))
        return errs.mean()

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0
                     ) -> torch.Tensor:
        """``trainer.predict``: the targets ``(B, C_out, *grid)`` of ``batch["input"]`` (with
        ``batch["params"]``), physical units; a
        :class:`~pdesurrogate.training.steady_data.SteadyDataModule` hands its test split."""
        if not isinstance(batch, dict) or "input" not in batch or "params" not in batch:
            got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise ValueError("SteadyModule.predict_step takes batches {'input': (B, C_in, "
                             f"*grid), 'params': (B, P)}} (a SteadyDataModule's), got {got}")
        return self.predict_targets(batch["input"], batch["params"])
