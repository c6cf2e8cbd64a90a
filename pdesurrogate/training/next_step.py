"""``NextStepModule``: train any model of our interface to advance a state by one saved step.

Everything happens in normalised space: states ``(u - mean_c) / std_c`` per channel and
parameters ``(p - mean_p) / std_p``, with the statistics of the training split held as buffers
(saved in checkpoints, exported). A module without statistics takes the datamodule's ``stats``:
in ``setup`` of a fit (before callbacks such as the learning-rate finder train; a resumed
fit's checkpoint then replaces them), at the start of a validation or test (after its
checkpoint is restored, so ``test --ckpt_path`` never makes the datamodule compute its own).
A module with statistics keeps them: those its weights were trained with.

Training loss, for a window ``u_0, ..., u_R`` (``R = rollout_steps``) of one trajectory::

    loss = 1/R sum_{s=1..R} rel(f(x_{s-1}, p), u_s)
         [+ w_aux 1/R sum_{s=1..R} rel(CAPE(x_{s-1}, p), u_s)   (CAPE models only)]

``rel`` the module's ``loss``: the relative L2 error (``"rel_l2"``, logged ``train/rel_l2``) or
neuraloperator's relative H1 error (``"rel_h1"``, logged ``train/rel_h1``:
:class:`~pdesurrogate.training.losses.RelativeH1`, its derivatives periodic where the data's PDE
is, ``data_info["pde"]``), per sample, mean over the batch.

with ``x_0 = u_0`` and ``x_s`` either the truth ``u_s`` (teacher forcing) or the model's own
prediction (autoregressive; gradients flow through the chain). Without curriculum every step
after the first is autoregressive. With ``curriculum`` the first ``n_tf(e)`` inputs are the
truth and the rest autoregressive (CAPE's bridge from teacher forcing to autoregression)::

    rho(e)  = (tanh(g (e / E - 1/2)) + tanh(g / 2)) / (2 tanh(g / 2)),  g = 4, clipped to [0, 1]
    n_tf(e) = R - round(rho(e) (R - 1))

``e`` the epoch, ``E = curriculum_epochs``: ``rho`` rises smoothly and monotonically from 0 (all
``R`` inputs are the truth: teacher forcing) to 1 at ``e >= E`` (only ``u_0``: autoregressive).
``round`` is Python's, which rounds a half to the even integer. A tie happens at ``e = E / 2``
(``rho`` is exactly 1/2 there) with ``R`` even: ``R = 2`` keeps both inputs true (``n_tf = 2``),
``R = 4`` gives 2, ``R = 6`` gives 4 and ``R = 8`` gives 4. CAPE's own code counts the
autoregressive steps with ``int`` (rounding down, i.e. towards teacher forcing) on its own
scale, so neither rule is the paper's exactly.

Validation and test roll out autoregressively from the first frame of whole trajectories and
log the relative L2 error in physical units per step (``val/rel_l2_step_k``, ``k = 1..``) and its
mean over steps (``val/rel_l2``; ``test/...`` likewise), whatever the training loss, so that
runs trained with either compare; a module trained with ``"rel_h1"`` also logs the relative H1
error of the same rollout, mean over steps (``val/rel_h1``, ``test/rel_h1``). The test also
logs the PDEBench-style errors of :mod:`pdesurrogate.metrics` of the same rollout, in physical
units (``test/nrmse``, ``test/rmse``, ``test/max_error``, ...:
:mod:`~pdesurrogate.training.rollout_errors`).

Precision: ``32-true``, ``bf16-mixed`` and ``16-mixed`` run every model. The ``*-true``
precisions that cast the model whole are checked at setup against the dtypes it runs in
(``weight_dtypes``; e.g. FNO and CAPE run in float32 only, a refiner with refinement steps in
float32 and float64); ``16-true`` is refused for training, where AdamW's updates are NaN.
"""

from __future__ import annotations

import inspect
import math
import os
import warnings

import torch
from lightning.pytorch import LightningModule
from torch import nn

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.lr_schedules import SCHEDULERS, with_schedule
from pdesurrogate.models import build_model, missing_models, qualified_name
from pdesurrogate.models import model_spec as spec_of
from pdesurrogate.models._precision import check_precision

from ..fit_metrics import VALIDATION_KEY, LastValidation
from ..run_record import CHECKPOINT_KEY, claim_fit_seed
from .data_source import EARLIER_KEY, check_source, resumed_record
from .evaluation import TrajectoryMeans
from .fit_checks import (
    check_checkpoint_folders,
    check_training_monitors,
    check_validation_monitors,
)
from .init_weights import INIT_KEY, load_trained_weights, read_trained_weights
from .losses import RelativeH1, check_loss, evaluation_relative_l2, precise_dtype, relative_l2
from .rollout_errors import add_rollout_errors
from .step_logs import step_logs_due

CURRICULUM_SHARPNESS = 4.0

# the weight dtypes training cannot use whatever the model (check_precision)
OPTIMIZER_REFUSES = {torch.float16: "AdamW's eps (1e-8) is 0 in float16, so its first update "
                                    "divides 0 by 0 and the weights become NaN"}


def curriculum_fraction(epoch: float, curriculum_epochs: int) -> float:
    """``rho(e)`` in [0, 1]: 0 = teacher forcing, 1 = fully autoregressive (module docstring)."""
    if curriculum_epochs <= 0:
        return 1.0
    x = min(max(epoch / curriculum_epochs, 0.0), 1.0)
    h = math.tanh(CURRICULUM_SHARPNESS / 2)
    return min(max((math.tanh(CURRICULUM_SHARPNESS * (x - 0.5)) + h) / (2 * h), 0.0), 1.0)


def teacher_forced_steps(rollout_steps: int, fraction: float) -> int:
    """``n_tf = R - round(rho (R - 1))``: how many of the ``R`` inputs are ground truth, from
    ``R`` (``rho = 0``) down to 1 (``rho = 1``); a half rounds to even (``R = 2``, ``rho = 1/2``:
    ``round(0.5) = 0``, so 2; ``R = 4``: ``round(1.5) = 2``, so 2)."""
    return rollout_steps - round(fraction * (rollout_steps - 1))


def keep_own_hparams(module: LightningModule) -> None:
    """Drop from ``module``'s hyperparameters the constructor arguments a parent class's
    ``save_hyperparameters`` recorded, so a checkpoint reloads with ``module``'s own signature.

    Keys starting with ``_`` stay: LightningCLI stores ``_class_path`` and ``_instantiator``
    there, and needs them to rebuild the module from a checkpoint (``test``, resuming ``fit``).
    """
    own = set(inspect.signature(type(module).__init__).parameters) - {"self"}
    for hp in (module.hparams, getattr(module, "_hparams_initial", None) or {}):
        for key in [k for k in hp if k not in own and not k.startswith("_")]:
            del hp[key]


class NextStepModule(LightningModule):
    """Next-step training of ``model`` (relative L2 or H1, normalised space).

    Args:
        model: ``forward(u: (B, C, *grid), params: (B, P) | None) -> (B, C, *grid)``. May be
            omitted when ``model_spec`` is given (this is how checkpoints are reloaded).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        scheduler: ``"cosine"`` (per optimiser step, to 0 at the end of training) or ``"none"``.
        rollout_steps: ``R``, steps per training window (1: one-step pairs). The datamodule must
            deliver windows of at least ``R + 1`` frames.
        curriculum: move from teacher forcing to autoregressive over ``curriculum_epochs``
            (needs ``rollout_steps >= 2``).
        curriculum_epochs: ``E`` in the schedule above.
        aux_weight: weight of the CAPE auxiliary loss after the warm-up (models without
            ``cape_output`` have none).
        aux_warmup_epochs: epochs at the start that use ``aux_warmup_weight`` instead.
        aux_warmup_weight: the auxiliary weight during warm-up (larger: CAPE learns a useful
            next-step guess first).
        residual: the model predicts the increment ``u_{t+1} - u_t`` (normalised).
        model_spec: ``{"class", "init_args"}`` (:func:`pdesurrogate.models.model_spec`);
            filled in from ``model``.
        init_weights: start a new fit from the weights of a trained model of the same class
            and shapes (fine-tuning): an export folder or a Lightning checkpoint
            (:mod:`~pdesurrogate.training.init_weights`). Read once per module, as the fit makes
            its optimizer (after a resumed fit's checkpoint is restored, before any batch); a
            resumed fit (``ckpt_path``) and a module loaded from a checkpoint keep the
            checkpoint's weights and neither read nor need the path, which may be gone by then.
            The optimizer, schedule, step count and normalisation are the new fit's own.
        loss: the training loss of each step, ``"rel_l2"`` (relative L2) or ``"rel_h1"``
            (neuraloperator's relative H1: the error and its gradient, relative to the
            target's; module docstring). Validation and test score relative L2 either way.
    """

    # one model step advances k saved times: a checkpoint tested at another k would be scored
    # against other times than it learned (All2AllModule, conditioned on the lead time, is not)
    steps_at_k = True

    def __init__(self, model: nn.Module | None = None, lr: float = 1e-3,
                 weight_decay: float = 1e-4, scheduler: str = "cosine", rollout_steps: int = 1,
                 curriculum: bool = False, curriculum_epochs: int = 50, aux_weight: float = 1.0,
                 aux_warmup_epochs: int = 0, aux_warmup_weight: float = 10.0,
                 residual: bool = False, model_spec: dict | None = None,
                 init_weights: str | None = None, loss: str = "rel_l2"):
        super().__init__()
        self._means = TrajectoryMeans()
        self.last_validation = LastValidation()
        if model is None:
            if model_spec is None:
                raise ValueError("give a model (nn.Module) or a model_spec")
            own = missing_models(model_spec)
            if own:
                # the class is the caller's to hand: a name in a checkpoint is never imported
                raise ValueError(
                    f"model_spec names {own[0]!r}, a model of your own code, which is never "
                    "imported from a checkpoint; hand the model: "
                    f"{type(self).__name__}.load_from_checkpoint(PATH, "
                    f"model={own[0].rsplit('.', 1)[-1]}(...))")
            model = build_model(model_spec, "model_spec")
        elif not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        for name, v in (("lr", lr), ("weight_decay", weight_decay), ("aux_weight", aux_weight),
                        ("aux_warmup_weight", aux_warmup_weight)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 \
                    or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {list(SCHEDULERS)}, got {scheduler!r}")
        for name, v, low in (("rollout_steps", rollout_steps, 1),
                             ("curriculum_epochs", curriculum_epochs, 0),
                             ("aux_warmup_epochs", aux_warmup_epochs, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        if init_weights is not None and (not isinstance(init_weights, (str, os.PathLike))
                                         or not str(init_weights)):
            raise ValueError("init_weights must be the path of an export folder or a Lightning "
                             f"checkpoint, or None, got {init_weights!r}")
        self.loss = check_loss(loss)
        # built from data_info as a fit sets up (or at the first step without one)
        self._h1: RelativeH1 | None = None
        if curriculum and rollout_steps < 2:
            raise ValueError("curriculum needs rollout_steps >= 2 (it moves from teacher forcing "
                             f"to autoregression within a window), got {rollout_steps}")
        self.model = model
        self.lr, self.weight_decay, self.scheduler = float(lr), float(weight_decay), scheduler
        self.rollout_steps, self.curriculum = rollout_steps, bool(curriculum)
        self.curriculum_epochs = curriculum_epochs
        self.aux_weight, self.aux_warmup_epochs = float(aux_weight), aux_warmup_epochs
        self.aux_warmup_weight, self.residual = float(aux_warmup_weight), bool(residual)
        self.init_weights = None if init_weights is None else str(init_weights)
        # what this fit records of init_weights once read (init_weights.TrainedWeights.record);
        # _weights_set: the model holds weights it must keep (those read, or a checkpoint's)
        self._init_record: dict | None = None
        self._weights_set = False
        self.save_hyperparameters(ignore=["model"])
        try:
            # a model of the user's own code is recorded under its qualified name
            self.model_spec = spec_of(model)
        except ValueError as e:
            self.model_spec = None
            warnings.warn(
                f"{qualified_name(type(model))} is not in pdesurrogate.models.MODELS and cannot "
                f"be recorded ({e}): checkpoints record no model_spec, so they cannot rebuild "
                "it and pdesurrogate export refuses them. Follow the contract of 'Adding a "
                "model' in pdesurrogate/models/__init__.py (each constructor argument stored "
                "as an attribute of the same name, plain values or models) to make them "
                "exportable", stacklevel=2)
        # saved again, not only set in self.hparams: the loggers write hparams_initial, the
        # copy save_hyperparameters takes (hparams.yaml had model_spec: null)
        # (and init_weights as a string: a Path would make checkpoints unreadable weights-only)
        self.save_hyperparameters({**self.hparams, "model_spec": self.model_spec,
                                   "init_weights": self.init_weights})
        # normalisation, shaped (C,) and (P,); empty = identity until stats are set
        self.register_buffer("u_mean", torch.zeros(0), persistent=False)
        self.register_buffer("u_std", torch.ones(0), persistent=False)
        self.register_buffer("p_mean", torch.zeros(0), persistent=False)
        self.register_buffer("p_std", torch.ones(0), persistent=False)
        self.stats: ChannelStats | None = None
        # this trainer run already has its statistics (from the checkpoint it restored, or
        # taken from the datamodule); reset in setup, which starts every run
        self.data_info: dict | None = None
        # the seed_everything of the fit that trained this module from its start
        # (claim_fit_seed; a resumed fit's comes from its checkpoint), saved with checkpoints
        # and exported, so a published number can be traced to its run; None: not seeded
        self.seed_everything: int | None = None

    # -- normalisation --------------------------------------------------------------------------
    def set_normalization(self, stats: ChannelStats | dict | None) -> None:
        """Use ``stats`` (a :class:`ChannelStats` or its ``to_dict()``; None: identity)."""
        if isinstance(stats, dict):
            stats = ChannelStats.from_dict(stats)
        self.stats = stats
        if stats is None:
            values = {"u_mean": [], "u_std": [], "p_mean": [], "p_std": []}
        else:
            values = {"u_mean": stats.mean, "u_std": [s if s > 0 else 1.0 for s in stats.std],
                      "p_mean": stats.param_mean,
                      "p_std": [s if s > 0 else 1.0 for s in stats.param_std]}
        for name, v in values.items():
            # in place: the statistics can arrive in on_fit_start, after DDP kept references to
            # the buffers it broadcasts, or in on_test_start, where a new tensor would be an
            # inference-mode tensor that a later fit cannot backpropagate through
            buf = getattr(self, name)
            buf.resize_(len(v)).copy_(torch.tensor(v, dtype=torch.float32))

    def _channel_view(self, v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        # u is (..., C, *grid) with the model's spatial dims
        dim = self.stats.spatial_dims
        return v.to(u.dtype).reshape(-1, *(1,) * dim)

    def normalize(self, u: torch.Tensor) -> torch.Tensor:
        if self.u_mean.numel() == 0:
            return u
        return (u - self._channel_view(self.u_mean, u)) / self._channel_view(self.u_std, u)

    def denormalize(self, u: torch.Tensor) -> torch.Tensor:
        """Physical units, in at least the statistics' dtype: under 16-bit mixed precision a
        model's float16 output would otherwise be scaled in float16, which rounds a field of
        mean 1000 to steps of 0.5 and overflows one above 65504 (a pressure in Pa) to inf."""
        if self.u_mean.numel() == 0:
            return u
        u = u.to(torch.promote_types(u.dtype, self.u_mean.dtype))
        return u * self._channel_view(self.u_std, u) + self._channel_view(self.u_mean, u)

    def normalize_params(self, p: torch.Tensor) -> torch.Tensor:
        if self.p_mean.numel() == 0 or p.shape[-1] == 0:
            return p
        return (p - self.p_mean.to(p.dtype)) / self.p_std.to(p.dtype)

    def check_trainer_precision(self, precision, stage: str) -> None:
        """Refuse Lightning's ``precision`` (``trainer.precision``, e.g. ``"bf16-true"``) with
        a ValueError naming it, where it casts the weights to a dtype the model cannot run in,
        or (``stage`` ``"fit"``) one AdamW cannot train in (:data:`OPTIMIZER_REFUSES`): such a
        run would fail deep in a layer with a dtype error, or train on NaN. Called by
        :meth:`setup`, and by ``pdesurrogate fit``/``test`` before the Trainer makes the run
        folder."""
        check_precision(precision, self.model, OPTIMIZER_REFUSES if stage == "fit" else None)

    # -- Lightning hooks ------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if self._trainer is not None:
            # before anything runs (pdesurrogate fit/test check earlier, before the run folder
            # exists; this is for a Trainer of the user's own)
            self.check_trainer_precision(self.trainer.precision, stage)
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        info = getattr(dm, "data_info", None)
        if info is not None:
            self.data_info = dict(info)
        if stage == "fit" and self._trainer is not None:
            check_checkpoint_folders(self.trainer)
            check_training_monitors(self.trainer, type(self).__name__,
                                    self.train_metric_names())
            self._warn_schedules_outlast(self.trainer.max_epochs)
        if stage == "fit":
            # taken once per fit, whether or not this module keeps it: a module fit again
            # (after a learning-rate finder's fit, say) keeps its first fit's seed
            seed = claim_fit_seed()
            if self.seed_everything is None:
                self.seed_everything = seed
            # here, not in on_fit_start: callbacks' on_fit_start runs first, and the learning
            # rate and batch size finders train in it (a resumed fit's checkpoint, restored
            # after setup, then replaces them). A test or validate waits for its checkpoint:
            # computing them here would cost a pass over the training split it throws away.
            self._take_datamodule_stats()
            if self.loss == "rel_h1" and info is not None:
                # here, so a grid too small for its derivatives is refused before a batch
                self._h1 = RelativeH1.for_data(self.data_info, len(info.get("grid_shape", ())))

    # -- losses ---------------------------------------------------------------------------------
    def _relative_h1(self, dim: int) -> RelativeH1:
        """The relative H1 loss for fields of ``dim`` axes of this module's data."""
        if self._h1 is None or len(self._h1.periodic) != dim:
            self._h1 = RelativeH1.for_data(self.data_info, dim)
        return self._h1

    def step_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss ``loss`` of one step: ``(B, C, *grid)`` twice -> mean over the
        batch of the per-sample relative error (normalised space)."""
        if self.loss == "rel_h1":
            return self._relative_h1(pred.ndim - 2)(pred, target)
        return relative_l2(pred, target)

    def evaluation_relative_h1(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(B,)`` relative H1 errors of ``pred`` against ``target`` ``(B, C, *grid)`` in
        :func:`~pdesurrogate.training.losses.precise_dtype`, as validation and test log
        them."""
        dtype = precise_dtype(pred.device)
        return self._relative_h1(pred.ndim - 2)(pred.to(dtype), target.to(dtype),
                                                reduction="none")

    def _start_from_init_weights(self) -> None:
        """Copy ``init_weights`` into the model, once, from :meth:`configure_optimizers`: the
        first hook of a fit after a resumed fit's checkpoint is restored (Lightning restores it
        after ``setup``, where a resume cannot yet be told) and before the callbacks'
        ``on_fit_start`` (where learning-rate finders train). Each DDP rank reads the same file
        into its wrapped model's own parameters. A resumed fit (its checkpoint restored:
        :meth:`on_load_checkpoint` marks the weights set), a module that already holds a
        checkpoint's weights (``load_from_checkpoint``) or fit before keeps its own and reads
        nothing, so the path may have moved since. (A strategy that restores the checkpoint
        after making the optimizer, as DeepSpeed and FSDP do, would read it; pdesurrogate uses
        none.) Records the source in ``data_info``, which checkpoints save and exports write as
        provenance."""
        if self.init_weights is not None and not self._weights_set:
            weights = read_trained_weights(self.init_weights)
            load_trained_weights(self.model, self.model_spec, self.residual, weights)
            self._init_record = weights.record()
        self._weights_set = True
        info = dict(self.data_info or {})
        # a fit again without a datamodule (whose record replaces data_info) has it already
        if self._init_record is not None and info.get(INIT_KEY) != self._init_record[INIT_KEY]:
            earlier = [*self._init_record[EARLIER_KEY], *info.get(EARLIER_KEY, [])]
            self.data_info = {**info, **self._init_record, EARLIER_KEY: earlier}

    def _take_datamodule_stats(self) -> None:
        """Use the datamodule's ``stats`` (their first access computes them:
        :attr:`~pdesurrogate.training.datamodule.FieldDataModule.stats`) unless the module has
        statistics already: restored from a checkpoint, or those it was trained with (a module
        validated again after its fit, or loaded with ``load_from_checkpoint``), which its weights
        need."""
        if self.stats is not None:
            return
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        stats = getattr(dm, "stats", None)
        if stats is not None:
            self.set_normalization(stats)

    # after the checkpoint is restored, before the first batch
    def on_validation_start(self) -> None:
        self._take_datamodule_stats()

    def on_test_start(self) -> None:
        self._take_datamodule_stats()

    def on_predict_start(self) -> None:
        self._take_datamodule_stats()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # plain types only, so torch.load(weights_only=True) reads the checkpoint
        checkpoint[CHECKPOINT_KEY] = {
            "normalization": None if self.stats is None else self.stats.to_dict(),
            "data_info": self.data_info,
            "seed_everything": self.seed_everything,
            VALIDATION_KEY: self.last_validation.record(self._trainer),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restore normalisation, ``data_info`` and the seed. In ``trainer.test``,
        ``validate`` and a resumed ``fit`` Lightning calls this after the datamodule's
        ``setup``, so the data the checkpoint was fit on is compared with the data read now
        (:func:`~pdesurrogate.training.data_source.check_source`): other data, or another split
        of it, is refused before a number is computed on the wrong trajectories."""
        extra = checkpoint.get(CHECKPOINT_KEY) or {}
        # its weights are the ones to keep: init_weights are never read over them
        self._weights_set = True
        saved = extra.get("data_info")
        trainer = self._trainer
        current = getattr(getattr(trainer, "datamodule", None), "data_info", None)
        stage = getattr(getattr(trainer, "state", None), "fn", None)
        stage = getattr(stage, "value", stage)
        if stage in ("fit", "validate", "test"):
            check_source(saved, current, trainer.ckpt_path, stage, self.steps_at_k)
        if extra.get("normalization") is not None:
            self.set_normalization(extra["normalization"])
        if saved is not None:
            # the same file perhaps moved, or a stream's weights fine-tuned on a file:
            # resumed_record says which source this run records
            self.data_info = resumed_record(saved, current, stage)
        if extra.get("seed_everything") is not None:
            self.seed_everything = int(extra["seed_everything"])
        self.last_validation.restore(extra.get(VALIDATION_KEY))

    # -- stepping -------------------------------------------------------------------------------
    def forward(self, u: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        """One step in normalised space: ``(B, C, *grid) -> (B, C, *grid)``."""
        out = self.model(u, params)
        return u + out if self.residual else out

    def _warn_schedules_outlast(self, max_epochs) -> None:
        """Warn, as a fit starts, where ``max_epochs`` ends training before the curriculum
        has reached one teacher-forced input, or inside the auxiliary loss's warm-up (a CAPE
        model): the run is valid, but seen only in its results, at the end, otherwise."""
        if not isinstance(max_epochs, int) or max_epochs < 1:
            return  # unbounded or by steps: no last epoch to tell
        last = max_epochs - 1
        n_tf = self.teacher_forced_steps(last)
        if self.curriculum and n_tf > 1:
            warnings.warn(f"curriculum_epochs ({self.curriculum_epochs}) outlasts "
                          f"trainer.max_epochs ({max_epochs}): the last epoch still feeds "
                          f"{n_tf} of {self.rollout_steps} inputs of a window from the data, "
                          "never training the whole rollout on the model's own predictions; "
                          "lower curriculum_epochs or raise max_epochs", UserWarning,
                          stacklevel=2)
        if hasattr(self.model, "cape_output") and self.aux_warmup_epochs > last \
                and self.aux_warmup_weight != self.aux_weight:
            warnings.warn(f"aux_warmup_epochs ({self.aux_warmup_epochs}) outlasts "
                          f"trainer.max_epochs ({max_epochs}): the auxiliary loss keeps its "
                          f"warm-up weight ({self.aux_warmup_weight:g}) to the end and never "
                          f"takes aux_weight ({self.aux_weight:g}); lower aux_warmup_epochs or "
                          "raise max_epochs", UserWarning, stacklevel=2)

    def aux_weight_at(self, epoch: int) -> float:
        """The CAPE auxiliary weight in ``epoch`` (warm-up weight for the first epochs)."""
        return self.aux_warmup_weight if epoch < self.aux_warmup_epochs else self.aux_weight

    def teacher_forced_steps(self, epoch: int) -> int:
        """How many inputs of a training window are the truth in ``epoch`` (at least 1)."""
        if not self.curriculum:
            return 1
        return teacher_forced_steps(self.rollout_steps,
                                    curriculum_fraction(epoch, self.curriculum_epochs))

    def _window(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if "u" in batch:
            u = batch["u"]
        else:
            u = torch.stack([batch["input"], batch["target"]], dim=1)
        if u.shape[1] < self.rollout_steps + 1:
            raise ValueError(f"rollout_steps={self.rollout_steps} needs windows of "
                             f"{self.rollout_steps + 1} frames, the batch has {u.shape[1]}; set "
                             "the datamodule's rollout_steps to the same value")
        return u[:, : self.rollout_steps + 1], batch["params"]

    def train_metric_names(self) -> list[str] | None:
        """The ``train/`` metrics :meth:`training_step` may log, as this module is configured
        (what a callback's ``monitor`` may name); None for a subclass with a training step of
        its own that does not say (its monitors are then not checked before training)."""
        if type(self).training_step is not NextStepModule.training_step:
            return None
        cape = hasattr(self.model, "cape_output")
        return ["train/loss", f"train/{self.loss}",
                *([f"train/aux_{self.loss}", "train/aux_weight"] if cape else []),
                *(["train/teacher_forced_steps"] if self.curriculum else [])]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """The loss of the module docstring on one batch: windows ``batch["u"]`` ``(B, T, C,
        *grid)`` from a file (:class:`~pdesurrogate.training.datamodule.FieldDataModule`), or the
        pairs ``batch["input"]``, ``batch["target"]`` ``(B, C, *grid)`` of a stream
        (``StreamDataModule``); with ``batch["params"]`` ``(B, P)``, in physical units (normalised
        here)."""
        u, p = self._window(batch)
        u, p = self.normalize(u), self.normalize_params(p)
        n_tf = self.teacher_forced_steps(self.current_epoch)
        x = u[:, 0]
        loss = aux = u.new_zeros(())
        has_aux = False
        for s in range(self.rollout_steps):
            if s < n_tf:
                x = u[:, s]
            pred = self(x, p)
            loss = loss + self.step_loss(pred, u[:, s + 1])
            c = getattr(self.model, "cape_output", None)
            if c is not None:
                has_aux = True
                aux = aux + self.step_loss(c, u[:, s + 1])
            x = pred
        loss = loss / self.rollout_steps
        total = loss
        if has_aux:
            aux = aux / self.rollout_steps
            w = self.aux_weight_at(self.current_epoch)
            total = loss + w * aux
        if step_logs_due(self, batch_idx):
            bs = u.shape[0]
            self.log(f"train/{self.loss}", loss, prog_bar=True, batch_size=bs)
            if has_aux:
                self.log(f"train/aux_{self.loss}", aux, batch_size=bs)
                self.log("train/aux_weight", w, batch_size=bs)
            if self.curriculum:
                self.log("train/teacher_forced_steps", float(n_tf), batch_size=bs)
            self.log("train/loss", total, batch_size=bs)
        if hasattr(self.model, "cape_output"):
            self.model.cape_output = None  # do not keep the graph alive
        return total

    @torch.no_grad()
    def rollout(self, u0: torch.Tensor, params: torch.Tensor, steps: int) -> torch.Tensor:
        """Autoregressive rollout in physical units: ``(B, C, *grid) -> (B, steps + 1, C, *grid)``
        (``u0`` first)."""
        x = self.normalize(u0)
        p = self.normalize_params(params)
        out = [u0]
        for _ in range(steps):
            x = self(x, p)
            out.append(self.denormalize(x))
        if hasattr(self.model, "cape_output"):
            self.model.cape_output = None
        return torch.stack(out, dim=1)

    def _evaluate(self, batch: dict, prefix: str) -> torch.Tensor:
        u, p = batch["u"], batch["params"]
        steps = u.shape[1] - 1
        if steps < 1:
            raise ValueError(f"{prefix}: trajectories need at least 2 frames, got {u.shape[1]}")
        pred = self.rollout(u[:, 0], p, steps)
        errs = torch.stack([evaluation_relative_l2(pred[:, s], u[:, s])
                            for s in range(1, steps + 1)], dim=1)  # (B, steps)
        for s in range(steps):
            self._means.add(f"{prefix}/rel_l2_step_{s + 1}", errs[:, s])
        self._means.add(f"{prefix}/rel_l2", errs.mean(dim=1), prog_bar=True)
        if self.loss == "rel_h1":
            h1 = torch.stack([self.evaluation_relative_h1(pred[:, s], u[:, s])
                              for s in range(1, steps + 1)], dim=1)
            self._means.add(f"{prefix}/rel_h1", h1.mean(dim=1))
        if prefix == "test":
            add_rollout_errors(self._means, prefix, pred, u)
        return errs.mean()

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._evaluate(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._evaluate(batch, "test")

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0
                     ) -> torch.Tensor:
        """``trainer.predict``: the rollout that validation and test score, in physical units,
        of each trajectory ``batch["u"]`` ``(B, T, C, *grid)`` from its first frame (with
        ``batch["params"]`` ``(B, P)``) -> ``(B, T, C, *grid)``, frame 0 the given one.
        A :class:`~pdesurrogate.training.datamodule.FieldDataModule` hands its test split."""
        u, p = self._predict_batch(batch)
        return self.rollout(u[:, 0], p, u.shape[1] - 1)

    def _predict_batch(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch``'s trajectories and parameters, or a ValueError saying what
        ``predict_step`` takes (Lightning's default would call ``forward(batch)``)."""
        if not isinstance(batch, dict) or not isinstance(batch.get("u"), torch.Tensor) \
                or batch["u"].ndim < 3 or batch["u"].shape[1] < 2 or "params" not in batch:
            got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise ValueError(f"{type(self).__name__}.predict_step rolls out trajectories: it "
                             "takes batches {'u': (B, T >= 2, C, *grid), 'params': (B, P)} "
                             f"(a FieldDataModule's test split), got {got}")
        return batch["u"], batch["params"]

    def _check_half_batch(self, batch, stage: str) -> None:
        """Refuse an evaluation or prediction batch that float16 cannot hold, naming the
        precision.

        ``16-true`` makes Lightning cast every batch to float16 before any hook of the module
        sees it (``precision_plugin.convert_input``), so a field above 65504 in magnitude (a
        pressure in Pa) is inf already and the metrics would be NaN, a prediction inf or NaN.
        Keeping the statistics in float32 cannot help: the data itself is lost. Subclasses'
        evaluations and predictions inherit it.
        """
        u = batch.get("u") if isinstance(batch, dict) else None
        if isinstance(u, torch.Tensor) and u.dtype == torch.float16 and \
                not bool(torch.isfinite(u).all()):
            raise ValueError(
                f"{stage}: this batch's states are not finite in float16 (the largest float16 "
                "is 65504; the trainer's precision, e.g. --trainer.precision 16-true, casts "
                "every batch to float16 before the model sees it); evaluate or predict with "
                "precision 32-true, 16-mixed or bf16-mixed")

    def on_validation_batch_start(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._check_half_batch(batch, "validation")

    def on_test_batch_start(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._check_half_batch(batch, "test")

    def on_predict_batch_start(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        # the truth frames too, which predict_step does not read: its output is float16 as
        # well, so where the truth lies beyond float16 a right prediction would be inf
        self._check_half_batch(batch, "predict")

    # the errors are means over the split's trajectories, over all ranks (evaluation.py)
    def on_validation_epoch_start(self) -> None:
        self._means.reset()

    def on_validation_epoch_end(self) -> None:
        self._means.log(self)
        self.last_validation.validated(self._trainer)

    def on_validation_end(self) -> None:
        if self._trainer is not None and self.trainer.sanity_checking:
            check_validation_monitors(self.trainer)

    def on_test_epoch_start(self) -> None:
        self._means.reset()

    def on_test_epoch_end(self) -> None:
        self._means.log(self)

    def configure_optimizers(self):
        self._start_from_init_weights()
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        return with_schedule(self, opt, self.scheduler)
