"""``RefinerModule``: train a :class:`~pdesurrogate.models.PDERefiner` (Lippe et al. 2023).

Each training pair ``(u_prev, u)`` (normalised; ``u - u_prev`` when ``residual``) gets its own
refinement step ``k`` drawn uniformly from ``0..K``, and all of them go through the backbone in
one batched call::

    k = 0:  loss = || f(u_prev, 0, p, 0) - u ||^2                    (predict the next state)
    k >= 1: loss = || f(u_prev, u + sigma_k eps, p, k) - eps ||^2     (predict the noise)

with ``sigma_k = sigma_min ** (k / K)`` and ``eps ~ N(0, I)``; the loss is the mean squared
error over the batch. ``K = 0`` trains only the first term: a plain one-step MSE model of the
same backbone, the baseline PDE-Refiner is compared against.

Inference is the model's own ``forward`` (``K + 1`` backbone calls per step, stochastic for
``K >= 1``). :meth:`RefinerModule.rollout` takes a ``generator`` for reproducible noise and
:meth:`RefinerModule.sample_rollouts` draws several rollouts from different seeds; their
spread is the uncertainty estimate.

Validation and test roll out whole trajectories from their first frame and log the relative
L2 error (``val/rel_l2``, mean over steps) and the high-correlation time (``val/corr_time``: how
long the Pearson correlation with the truth stays at or above 0.8, mean over trajectories). The
test also logs the PDEBench-style errors of the same rollout in physical units (``test/nrmse``,
``test/rmse``, ...: :mod:`~pdesurrogate.training.rollout_errors`).

Their refinement noise is fixed per trajectory: trajectory ``i`` draws it from its own generator,
seeded from :data:`~pdesurrogate.models.refiner.EVAL_NOISE_SEED` and the bytes of its first
frame and parameters (:func:`~pdesurrogate.models.refiner.trajectory_generators`). So ``val/`` and
``test/`` numbers are one fixed noise sample per trajectory (not an average over samples;
``sample_rollouts`` gives the spread): the same for any batch size, number of processes or RNG
history (up to the backbone's own batched round-off, about 1e-6 relative for a U-Net on CPU), the
same in every validation epoch, and validation never draws from torch's global generator (which
would shift the training noise and shuffle that come after it).

Training draws the steps ``k`` on the host and the noise on the training device, from
generators seeded for each batch from the run's seed, the process's rank, the epoch and the
batch's index in it (:func:`~pdesurrogate.training.draw_seeds.batch_seed`; the run's seed is
kept in the checkpoint). So the ranks of a DDP run draw different steps and noise, and a fit
resumed from a checkpoint, at an epoch's end or in its middle, draws what the unbroken fit
would have drawn. A module stepped outside a fit draws from torch's global generators.
"""

from __future__ import annotations

import torch
from torch import nn

from pdesurrogate.models import PDERefiner
from pdesurrogate.models.refiner import rollout_samples
from pdesurrogate.run_record import CHECKPOINT_KEY

from .draw_seeds import batch_seed, run_seed
from .losses import evaluation_relative_l2, precise_dtype
from .next_step import NextStepModule, keep_own_hparams
from .rollout_errors import add_rollout_errors
from .step_logs import step_logs_due

CORRELATION_THRESHOLD = 0.8


def pearson_correlation(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of ``pred`` and ``target`` per sample over every axis but the first:
    ``(B, ...) -> (B,)``. A constant field has correlation 0 with anything. Computed in float64
    where the device has it (Apple's MPS has not: float32 there)."""
    dtype = precise_dtype(pred.device)
    a = pred.flatten(1).to(dtype)
    b = target.flatten(1).to(dtype)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    den = (a.norm(dim=1) * b.norm(dim=1)).clamp_min(torch.finfo(dtype).tiny)
    return ((a * b).sum(1) / den).to(pred.dtype)


def high_correlation_time(corr: torch.Tensor, times: torch.Tensor,
                          threshold: float = CORRELATION_THRESHOLD) -> torch.Tensor:
    """How long a rollout stays correlated with the truth: ``corr`` ``(..., T)`` at ``times``
    ``(T,)`` (time since the rollout's start, ``times[0] = 0``) ``-> (...)``, the last time
    before the correlation first drops below ``threshold`` (``times[-1]`` if it never does)."""
    if corr.shape[-1] != times.shape[-1]:
        raise ValueError(f"corr has {corr.shape[-1]} times, times {times.shape[-1]}")
    below = corr < threshold
    # index of the first drop (T if none), then the step before it
    first = torch.where(below.any(-1), below.float().argmax(-1), corr.shape[-1])
    return times.to(corr.dtype)[(first - 1).clamp_min(0)]


class RefinerModule(NextStepModule):
    """Train a :class:`PDERefiner` with the PDE-Refiner objective (module docstring).

    Args:
        model: the :class:`PDERefiner` (its backbone, ``K`` and ``sigma_min``). May be omitted
            when ``model_spec`` is given (checkpoint reloading).
        lr: AdamW learning rate; weight_decay: AdamW weight decay.
        scheduler: ``"cosine"`` (per optimiser step, to 0) or ``"none"``.
        residual: refine the increment ``u - u_prev`` instead of the state (normalised).
        model_spec: ``{"class", "init_args"}``; filled in from ``model``.
        init_weights: start the fit from a trained model's weights (fine-tuning): an export
            folder or a Lightning checkpoint (:class:`NextStepModule`'s ``init_weights``).

    Batches: one-step pairs ``input``, ``target``, ``params`` (files or streams) or windows
    ``u`` (the first two frames are used); validation/test trajectories ``u``, ``params``,
    ``times`` (optional: streamed ones are evenly spaced by the data's ``dt``).
    """

    def __init__(self, model: nn.Module | None = None, lr: float = 1e-3,
                 weight_decay: float = 1e-5, scheduler: str = "cosine", residual: bool = False,
                 model_spec: dict | None = None,
                 init_weights: str | None = None):
        super().__init__(model=model, lr=lr, weight_decay=weight_decay, scheduler=scheduler,
                         residual=residual, model_spec=model_spec, init_weights=init_weights)
        if not isinstance(self.model, PDERefiner):
            raise ValueError(f"RefinerModule trains a PDERefiner, got {type(self.model).__name__}"
                             " (wrap the backbone: PDERefiner(backbone, n_refine_steps, "
                             "sigma_min))")
        keep_own_hparams(self)
        # the training draws: seeded for each batch in a fit (on_fit_start makes them; None:
        # torch's global generators). Steps on the host, noise on the device
        self._step_generator: torch.Generator | None = None
        self._noise_generator: torch.Generator | None = None
        # the run's seed of those draws: from its first fit, then from its checkpoints
        self._draw_seed: int | None = None

    def train_metric_names(self) -> list[str] | None:
        if type(self).training_step is not RefinerModule.training_step:
            return None
        # mse_step0 and mse_noise: on the steps whose batch holds that task
        return ["train/loss", "train/mse", "train/mse_step0", "train/mse_noise"]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if "u" in batch:
            prev, nxt = batch["u"][:, 0], batch["u"][:, 1]
        else:
            prev, nxt = batch["input"], batch["target"]
        x, y = self.normalize(prev), self.normalize(nxt)
        p = self.normalize_params(batch["params"])
        target = y - x if self.residual else y
        b = x.shape[0]
        m: PDERefiner = self.model
        # the steps on the host: which tasks the batch holds is known without waiting for the
        # device (no sync per step), and sigma's float64 arithmetic stays off the device (MPS
        # has no float64)
        self._seed_draws(batch_idx)
        k = torch.randint(0, m.n_refine_steps + 1, (b,), generator=self._step_generator)
        n_first = int((k == 0).sum())
        view = (b, *(1,) * (x.ndim - 1))
        sigma = m.sigma(k).to(x.device, x.dtype).reshape(view)
        eps = torch.randn(target.shape, generator=self._noise_generator, device=target.device,
                          dtype=target.dtype)
        k = k.to(x.device)
        first = (k == 0).reshape(view)
        estimate = torch.where(first, torch.zeros_like(target), target + sigma * eps)
        want = torch.where(first, target, eps)
        per = (m.network(x, estimate, p, k, refining=n_first < b) - want
               ).pow(2).flatten(1).mean(1)  # (B,)
        loss = per.mean()
        if step_logs_due(self, batch_idx):
            self.log("train/mse", loss, prog_bar=True, batch_size=b)
            self.log("train/loss", loss, batch_size=b)
            # the two tasks separately: next-state MSE (k = 0) and noise MSE (k >= 1)
            w = first.reshape(b).to(per.dtype)
            if n_first:
                self.log("train/mse_step0", (w * per).sum() / n_first, batch_size=n_first)
            if n_first < b:
                self.log("train/mse_noise", ((1 - w) * per).sum() / (b - n_first),
                         batch_size=b - n_first)
        return loss

    def on_fit_start(self) -> None:
        super().on_fit_start()
        if self._draw_seed is None:  # a fit from step 0 (a resumed one has its checkpoint's)
            self._draw_seed = run_seed(self.trainer.world_size)
        self._step_generator = torch.Generator()
        self._noise_generator = self._step_generator if self.device.type == "cpu" else \
            torch.Generator(device=self.device)

    def _seed_draws(self, batch_idx: int) -> None:
        """Seed the generators of training batch ``batch_idx`` (its index in the epoch) from
        (the run's seed, rank, epoch, batch_idx); outside a fit nothing is seeded."""
        trainer = self._trainer
        if trainer is None or self._step_generator is None:
            return
        seed = batch_seed(self._draw_seed, int(trainer.global_rank),
                          int(trainer.current_epoch), int(batch_idx))
        self._step_generator.manual_seed(seed)
        if self._noise_generator is not self._step_generator:
            self._noise_generator.manual_seed(seed)

    def on_fit_end(self) -> None:
        super().on_fit_end()
        self._step_generator = self._noise_generator = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint.setdefault(CHECKPOINT_KEY, {})["draw_seed"] = self._draw_seed

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        seed = (checkpoint.get(CHECKPOINT_KEY) or {}).get("draw_seed")
        if seed is not None:
            self._draw_seed = int(seed)

    @torch.no_grad()
    def step(self, u: torch.Tensor, params: torch.Tensor | None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """One refined step in physical units: ``(B, C, *grid) -> (B, C, *grid)``."""
        x = self.normalize(u)
        out = self.model(x, self.normalize_params(params), generator=generator)
        return self.denormalize(x + out if self.residual else out)

    @torch.no_grad()
    def rollout(self, u0: torch.Tensor, params: torch.Tensor, steps: int,
                generator: torch.Generator | list[torch.Generator] | None = None
                ) -> torch.Tensor:
        """Autoregressive rollout in physical units: ``(B, C, *grid) -> (B, steps + 1, C,
        *grid)`` (``u0`` first); the refinement noise comes from ``generator`` (one, or one
        per sample; None: torch's global one)."""
        x, p = self.normalize(u0), self.normalize_params(params)
        out = [u0]
        for _ in range(steps):
            y = self.model(x, p, generator=generator)
            x = x + y if self.residual else y
            out.append(self.denormalize(x))
        return torch.stack(out, dim=1)

    @torch.no_grad()
    def sample_rollouts(self, u0: torch.Tensor, params: torch.Tensor, steps: int,
                        n_samples: int, seed: int = 0) -> torch.Tensor:
        """``n_samples`` rollouts from noise seeds ``seed, seed + 1, ...``: ``(n_samples, B,
        steps + 1, C, *grid)``. Their standard deviation over the first axis is the spread."""
        return rollout_samples(self.step, u0, params, steps, n_samples, seed)

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0
                     ) -> torch.Tensor:
        """The rollout that validation and test score (each trajectory's noise from its own
        inputs): ``batch["u"]`` ``(B, T, C, *grid)`` -> ``(B, T, C, *grid)``."""
        u, p = self._predict_batch(batch)
        return self.rollout(u[:, 0], p, u.shape[1] - 1,
                            generator=self.model.evaluation_noise(u[:, 0], p))

    def _evaluate(self, batch: dict, prefix: str) -> torch.Tensor:
        u, p = batch["u"], batch["params"]
        b, t = u.shape[:2]
        if t < 2:
            raise ValueError(f"{prefix}: trajectories need at least 2 frames, got {t}")
        # noise per trajectory, from its own inputs (module docstring), as an exported
        # surrogate draws it, so that predict reproduces this number
        gens = self.model.evaluation_noise(u[:, 0], p)
        pred = self.rollout(u[:, 0], p, t - 1, generator=gens)
        errs = torch.stack([evaluation_relative_l2(pred[:, j], u[:, j])
                            for j in range(1, t)], dim=1)
        corr = torch.stack([pearson_correlation(pred[:, j], u[:, j]) for j in range(t)], dim=1)
        if "times" in batch:
            lead = batch["times"].reshape(b, t)[0] - batch["times"].reshape(b, t)[0, 0]
        else:  # streamed validation trajectories: in steps unless the data's dt is known
            dt = (self.data_info or {}).get("dt") or 1.0
            lead = torch.arange(t, device=u.device) * dt
        corr_time = high_correlation_time(corr, lead)
        self._means.add(f"{prefix}/corr_time", corr_time)
        self._means.add(f"{prefix}/rel_l2", errs.mean(dim=1), prog_bar=True)
        if prefix == "test":
            add_rollout_errors(self._means, prefix, pred, u)
        return errs.mean()
