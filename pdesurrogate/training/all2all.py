"""all2all training (Poseidon, Herde et al. 2024) of models conditioned on a lead time.

A trajectory stored at times ``t_0 < ... < t_K`` holds not only the ``K`` one-step pairs but
all ``(K + 1)(K + 2) / 2`` pairs ``(u(t_i), u(t_j))`` with ``i <= j`` (the identity pairs
``i = j`` included): by the semigroup property of a time-dependent PDE each one is a valid
input/target pair for the lead time ``t_j - t_i``. A model ``f(u, p, lead_time)`` (e.g.
:class:`~pdesurrogate.models.ScOT`) trained on all of them predicts the state at any lead time
in one call, and can still step autoregressively with a fixed lead time.

:class:`All2AllDataModule` delivers the pairs (``pairs="all2all"``, the dataset's
:class:`~pdesurrogate.datasets.AllPairs`) or only consecutive ones (``pairs="one_step"``: the
same model and module trained one-step, the ablation). Online, the streamed pairs carry their
``dt``, which is used as the lead time.

:class:`All2AllModule` trains in normalised space (per-channel statistics of the training
split, as :class:`~pdesurrogate.training.NextStepModule`, whose normalisation, checkpoint and
optimiser handling it reuses) with Poseidon's loss, the relative L1 error per channel group::

    loss = mean_batch sum_g ||pred_g - target_g||_1 / ||target_g||_1

(a group is a set of channels that form one physical quantity, e.g. the two velocity
components; by default every channel is its own group).

Validation and test take whole trajectories and log, in physical units, the relative L2 error
of the direct prediction from ``t_0`` to each stored ``t_j`` (``val/rel_l2_lead_j``; their mean
``val/rel_l2``) and of the autoregressive rollout with the data's step (``val/rel_l2_ar``). The
test also logs the PDEBench-style errors of that autoregressive rollout in physical units
(``test/nrmse_ar``, ``test/rmse_ar``, ...: :mod:`~pdesurrogate.training.rollout_errors`).
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from torch.utils.data import DataLoader

from pdesurrogate.datasets import AllPairs, OneStepPairs

from .datamodule import FieldDataModule
from .losses import EPS, evaluation_relative_l2
from .next_step import NextStepModule, keep_own_hparams
from .rollout_errors import add_rollout_errors

PAIRS = ("all2all", "one_step")


def relative_l1(pred: torch.Tensor, target: torch.Tensor,
                groups: list[list[int]] | None = None, reduction: str = "mean") -> torch.Tensor:
    """Sum over channel groups of ``||pred_g - target_g||_1 / ||target_g||_1`` per sample.

    Args:
        pred, target: ``(B, C, *grid)`` of equal shape.
        groups: lists of channel indices (None: one group per channel).
        reduction: ``"mean"`` (scalar, mean over the batch) or ``"none"`` (``(B,)``).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    groups = [[c] for c in range(pred.shape[1])] if groups is None else groups
    err = pred.new_zeros(pred.shape[0])
    for g in groups:
        diff = (pred[:, g] - target[:, g]).abs().flatten(1).sum(1)
        norm = target[:, g].abs().flatten(1).sum(1).clamp_min(EPS)
        err = err + diff / norm
    return err.mean() if reduction == "mean" else err


class All2AllDataModule(FieldDataModule):
    """:class:`FieldDataModule` whose training items are all2all pairs with their lead time.

    Args (as :class:`FieldDataModule`, plus):
        pairs: ``"all2all"``: every pair ``t_i <= t_j`` of every stored time
            (``(K + 1)(K + 2) / 2`` per trajectory of ``K + 1`` times; ``k`` is not used for
            them); ``"one_step"``: the pairs ``(t_j, t_{j+k})`` only.

    Training items: ``input``, ``target`` ``(C, *grid)``, ``params`` ``(P,)``, ``lead_time`` (or
    ``dt`` for one-step pairs). Validation and test: whole trajectories every ``k``-th time.
    """

    def __init__(self, path: str, batch_size: int = 32, k: int = 1,
                 fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0,
                 num_workers: int = 0, max_train_trajectories: int | None = None,
                 pairs: str = "all2all", pin_memory: bool = False):
        if pairs not in PAIRS:
            raise ValueError(f"pairs must be one of {PAIRS}, got {pairs!r}")
        super().__init__(path, batch_size=batch_size, k=k, fractions=fractions, seed=seed,
                         num_workers=num_workers, max_train_trajectories=max_train_trajectories,
                         pin_memory=pin_memory)
        self.pairs = pairs
        self.save_hyperparameters()
        keep_own_hparams(self)

    def train_dataset(self):
        """The training pairs (after ``setup``)."""
        if self.data is None:
            raise RuntimeError("call setup() first")
        if self.pairs == "all2all":
            return AllPairs(self.data, indices=self.train_indices)
        return OneStepPairs(self.data, k=self.k, indices=self.train_indices)

    def train_dataloader(self) -> DataLoader:
        return self._train_loader(self.train_dataset())


class All2AllModule(NextStepModule):
    """Train a lead-time-conditioned model on (all2all) pairs; relative L1 per channel group.

    Args:
        model: ``forward(u: (B, C, *grid), params: (B, P) | None, lead_time: (B,)) ->
            (B, C, *grid)`` (lead times in the data's time units), e.g. ``ScOT``. May be omitted
            when ``model_spec`` is given (checkpoint reloading).
        lr: AdamW learning rate; weight_decay: AdamW weight decay.
        scheduler: ``"cosine"`` (per optimiser step, to 0) or ``"none"``.
        residual: the model predicts the increment ``u(t + lead) - u(t)`` (normalised).
        channel_groups: channel index groups of the loss (None: one per channel); every
            channel in exactly one group.
        model_spec: ``{"class", "init_args"}`` (:func:`pdesurrogate.models.model_spec`);
            filled in from ``model``.
        init_weights: start the fit from a trained model's weights (fine-tuning): an export
            folder or a Lightning checkpoint (:class:`NextStepModule`'s ``init_weights``).

    Batches: ``input``, ``target``, ``params`` and ``lead_time`` (or ``dt``, as one-step and
    streamed pairs carry), or validation/test trajectories ``u``, ``params``, ``times`` (without
    ``times``: evenly spaced by the data's step).
    """

    # conditioned on the lead time: evaluated at any stride k, not only its training one
    steps_at_k = False

    def __init__(self, model: nn.Module | None = None, lr: float = 5e-4,
                 weight_decay: float = 1e-6, scheduler: str = "cosine", residual: bool = False,
                 channel_groups: list[list[int]] | None = None, model_spec: dict | None = None,
                 init_weights: str | None = None):
        super().__init__(model=model, lr=lr, weight_decay=weight_decay, scheduler=scheduler,
                         residual=residual, model_spec=model_spec, init_weights=init_weights)
        if "lead_time" not in inspect.signature(self.model.forward).parameters:
            raise ValueError(f"All2AllModule needs a model conditioned on the lead time, "
                             f"forward(u, params, lead_time); {type(self.model).__name__} is not")
        c = getattr(self.model, "out_channels", None)
        if channel_groups is not None:
            flat = [i for g in channel_groups for i in g] if all(
                isinstance(g, (list, tuple)) and g for g in channel_groups) else None
            if flat is None or any(isinstance(i, bool) or not isinstance(i, int) for i in flat) \
                    or (c is not None and sorted(flat) != list(range(c))):
                raise ValueError(f"channel_groups must be non-empty lists of channel indices "
                                 f"with every channel 0..{(c or 1) - 1} in exactly one group, "
                                 f"got {channel_groups!r}")
            channel_groups = [list(g) for g in channel_groups]
        self.channel_groups = channel_groups
        keep_own_hparams(self)

    def forward(self, u: torch.Tensor, params: torch.Tensor | None = None,
                lead_time: torch.Tensor | float | None = None) -> torch.Tensor:
        """One prediction in normalised space at ``lead_time`` (``(B,)`` or a number;
        default: the data's step)."""
        if lead_time is None:
            lead_time = self.step_time()
        out = self.model(u, params, lead_time)
        return u + out if self.residual else out

    def step_time(self) -> float:
        """The data's time step (``k`` stored steps), the default lead time."""
        dt = (self.data_info or {}).get("dt")
        if dt is None:
            raise ValueError("no default lead time: the data's times are not evenly spaced (or "
                             "unknown); pass lead_time")
        return float(dt)

    @staticmethod
    def _lead_of(batch: dict) -> torch.Tensor:
        for key in ("lead_time", "dt"):
            if key in batch:
                return batch[key]
        raise ValueError(f"All2AllModule needs pairs with 'lead_time' or 'dt', got keys "
                         f"{sorted(batch)}")

    def train_metric_names(self) -> list[str] | None:
        if type(self).training_step is not All2AllModule.training_step:
            return None
        return ["train/loss", "train/rel_l1"]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        x, y = self.normalize(batch["input"]), self.normalize(batch["target"])
        p = self.normalize_params(batch["params"])
        pred = self(x, p, self._lead_of(batch).to(x.dtype))
        loss = relative_l1(pred, y, self.channel_groups)
        bs = x.shape[0]
        self.log("train/rel_l1", loss, prog_bar=True, batch_size=bs)
        self.log("train/loss", loss, batch_size=bs)
        return loss

    @torch.no_grad()
    def predict_at(self, u0: torch.Tensor, params: torch.Tensor,
                   lead_time: torch.Tensor | float) -> torch.Tensor:
        """Direct prediction in physical units: ``(B, C, *grid)`` at ``lead_time`` (``(B,)`` or
        a number) ``-> (B, C, *grid)``, one model call."""
        x = self(self.normalize(u0), self.normalize_params(params), lead_time)
        return self.denormalize(x)

    @torch.no_grad()
    def rollout(self, u0: torch.Tensor, params: torch.Tensor, steps: int,
                lead_time: float | None = None) -> torch.Tensor:
        """Autoregressive rollout in physical units, each step ``lead_time`` (default: the
        data's step): ``(B, C, *grid) -> (B, steps + 1, C, *grid)`` (``u0`` first)."""
        lead = self.step_time() if lead_time is None else lead_time
        x, p = self.normalize(u0), self.normalize_params(params)
        out = [u0]
        for _ in range(steps):
            x = self(x, p, lead)
            out.append(self.denormalize(x))
        return torch.stack(out, dim=1)

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0
                     ) -> torch.Tensor:
        """The autoregressive rollout that validation and test score (``rel_l2_ar``), stepping
        by the batch's time step (``times``; without: the data's): ``batch["u"]`` ``(B, T, C,
        *grid)`` -> ``(B, T, C, *grid)``."""
        u, p = self._predict_batch(batch)
        step = None
        if "times" in batch:
            times = batch["times"].reshape(u.shape[0], -1)
            step = float(times[0, 1] - times[0, 0])
        return self.rollout(u[:, 0], p, u.shape[1] - 1, lead_time=step)

    def _evaluate(self, batch: dict, prefix: str) -> torch.Tensor:
        u, p = batch["u"], batch["params"]
        b, t = u.shape[:2]
        if t < 2:
            raise ValueError(f"{prefix}: trajectories need at least 2 frames, got {t}")
        if "times" in batch:
            times = batch["times"].reshape(b, t).to(u.dtype)
        else:  # streamed validation trajectories are evenly spaced by the data's step
            times = (torch.arange(t, device=u.device) * self.step_time()).to(u.dtype).expand(b, t)
        # all lead times t_j - t_0 in one call: the batch repeated (t - 1) times
        u0 = u[:, 0].repeat(t - 1, *(1,) * (u.ndim - 2))
        leads = (times[:, 1:] - times[:, :1]).T.reshape(-1)
        direct = self.predict_at(u0, p.repeat(t - 1, 1), leads)
        direct = direct.reshape(t - 1, b, *u.shape[2:]).transpose(0, 1)
        errs = torch.stack([evaluation_relative_l2(direct[:, j], u[:, j + 1])
                            for j in range(t - 1)], dim=1)  # (B, T - 1)
        for j in range(t - 1):
            self._means.add(f"{prefix}/rel_l2_lead_{j + 1}", errs[:, j])
        step = float(times[0, 1] - times[0, 0])
        ar = self.rollout(u[:, 0], p, t - 1, lead_time=step)
        ar_err = torch.stack([evaluation_relative_l2(ar[:, j], u[:, j])
                              for j in range(1, t)], dim=1)
        self._means.add(f"{prefix}/rel_l2_ar", ar_err.mean(dim=1))
        if prefix == "test":
            # of the autoregressive rollout, as predict rolls an export out: _ar like rel_l2_ar
            add_rollout_errors(self._means, prefix, ar, u, suffix="_ar")
        self._means.add(f"{prefix}/rel_l2", errs.mean(dim=1), prog_bar=True)
        return errs.mean()
