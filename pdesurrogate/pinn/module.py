"""``PINNModule``: train a :class:`PINNMLP` on a :class:`BallProblem` with SDGD, Hutchinson or
the full Laplacian.

The loss is the mean squared residual ``L = mean_x r(x)²``, ``r = Δu + f(u) - g``, over the
batch (plus ``boundary_weight · mean (u - u*)²`` on the sphere when the boundary condition is
not hard-enforced). Its gradient is ``2 mean_x r ∇_θ r``. With an exact Laplacian that is plain
backpropagation of ``L``. With a random estimate ``r̂`` the naive ``∇ mean r̂²`` is biased
(``E[r̂²] = r² + Var r̂``), so, as in Hu et al. (2024), the two factors are treated separately:

* ``variant="backward"`` (dimensions sampled in the backward pass only): ``r`` is computed
  exactly without a graph (all d dimensions, ``full_chunk`` at a time, so memory stays small),
  and only ``r̂`` carries the graph: ``2 mean r ∇r̂``. Unbiased; the forward pass still costs
  O(d).
* ``variant="forward_backward"`` (sampled in both passes): two independent draws ``r̂_a``
  (no graph) and ``r̂_b`` (graph): ``2 mean r̂_a ∇r̂_b``. Unbiased because the draws are
  independent; the cost per step no longer grows with d beyond the plain forward pass.

The logged ``train/residual`` is ``mean r²`` (backward, full) or ``mean r̂_a r̂_b`` (an unbiased
estimate of it). Validation and test log ``val/rel_l2`` (``test/rel_l2``):
``‖u - u*‖₂ / ‖u*‖₂`` over the datamodule's fixed points.

``fit_output_bias`` (off by default; not in the paper): before the first step, set the output
layer's bias to the constant ``b`` that minimises the mean squared PDE residual at fresh
collocation points (Gauss–Newton on one unknown; for Poisson one linear least-squares step).
Only the PDE and its source are used, never the exact solution. The exact solution is
``u* = (1 - ‖x‖²) s(x)`` with ``s`` a sum of d - 1 terms ``c_i sin(φ_i)``. At large d the
coordinates of a point of the ball are small (about 1/√d), so ``φ_i ≈ 1`` and ``s`` is nearly
the constant ``sin(1) Σ c_i``, of size about √d for a typical seed. ``u*`` itself shrinks
(``1 - ‖x‖² ≈ 2/d`` at most points), but with a hard boundary the network outputs ``s``, while
a freshly initialised network outputs O(1): with the constant fitted, Adam need not spend its
first thousands of steps (at lr 1e-3) just growing the output to that size.
"""

from __future__ import annotations

import math

import torch
from lightning.pytorch import LightningModule

from ..fit_metrics import VALIDATION_KEY, LastValidation
from ..lr_schedules import SCHEDULERS, with_schedule
from ..models._precision import check_precision, full_float32
from ..run_record import CHECKPOINT_KEY, claim_fit_seed
from ..training.draw_seeds import batch_seed
from ..training.fit_checks import check_training_monitors
from .laplacian import SDGD, FullLaplacian, LaplacianEstimator, build_estimator
from .mlp import PINNMLP
from .problems import BallProblem, build_problem

VARIANTS = ("forward_backward", "backward")
# weights cast whole to these (Lightning's bf16-true, 16-true) are refused (check_precision)
PRECISION_REFUSES = {
    torch.bfloat16: "u and its Laplacian carry relative errors of about 3e-3 in bfloat16, "
                    "as large as the residual a trained network leaves (this is why mixed "
                    "precision runs the PINN in float32)",
    torch.float16: "Adam's eps (1e-8) is 0 in float16, so its first update divides 0 by 0 "
                   "and the weights become NaN",
}
BOUNDARIES = ("hard", "loss")


class PINNModule(LightningModule):
    """Physics-informed training of an MLP on the unit-ball problems.

    Args:
        problem: the PDE (:class:`~pdesurrogate.pinn.problems.Poisson`,
            :class:`~pdesurrogate.pinn.problems.AllenCahn`,
            :class:`~pdesurrogate.pinn.problems.SineGordon`).
        estimator: the Laplacian estimator (:class:`SDGD` (default, ``dim_batch=100``),
            :class:`~pdesurrogate.pinn.laplacian.Hutchinson` or :class:`FullLaplacian`).
        variant: ``"forward_backward"`` or ``"backward"`` (module docstring); ignored for the
            exact :class:`FullLaplacian`.
        width, depth, activation: the :class:`PINNMLP`.
        boundary: ``"hard"`` (``u = (1 - ‖x‖²) n(x)``) or ``"loss"`` (a boundary loss on
            points of the sphere; the datamodule must give ``boundary_batch_size > 0``).
        boundary_weight: weight of the boundary loss.
        lr: Adam learning rate.
        scheduler: ``"cosine"`` (to 0 over the run, per step) or ``"none"``.
        seed: seed of the estimator's draws. Each training batch's come from a seed mixed
            from it, the process's rank, the epoch and the batch's index, so each rank of a
            multi-process (DDP) run samples its own dimensions (as
            :class:`~pdesurrogate.pinn.points.BallPoints` gives each its own points) and a
            resumed fit samples those of the unbroken one.
        full_chunk: dimensions per pass of the exact, graph-free residual (variant backward).
        fit_output_bias: fit the output bias to the PDE residual before training (module
            docstring); done in ``on_fit_start`` of a run that starts at step 0.
        problem_spec, estimator_spec: plain descriptions, filled in from ``problem`` and
            ``estimator``; they let a checkpoint rebuild the module.

    Mixed precision (``--trainer.precision bf16-mixed`` or ``16-mixed``): the objective,
    ``forward`` and validation and test (with the exact solution) run with autocast off, in
    the parameters' dtype. In bfloat16 ``u`` and ``Δu`` carry relative errors of about 3e-3
    (measured on a width-128 MLP), not far below the relative L2 of 1e-2 a small-d run
    reaches, and the residual subtracts ``Δu`` from a source of the same size, so once training
    has made it small it would be mostly rounding. For the same reason they run with
    TensorFloat-32 off (``full_float32``): after ``torch.set_float32_matmul_precision("high")``
    (Lightning suggests it on Ampere and later GPUs) CUDA matrix products round their inputs
    to a 10-bit mantissa, errors of about 5e-4 per product, and the MLP is matrix products
    alone. So that setting does not speed up PINN training; it never degrades it either.
    ``bf16-true`` and ``16-true``, which cast the weights themselves, are refused at setup;
    ``64-true`` trains in float64.
    """

    def __init__(self, problem: BallProblem | None = None,
                 estimator: LaplacianEstimator | None = None,
                 variant: str = "forward_backward", width: int = 128, depth: int = 4,
                 activation: str = "tanh", boundary: str = "hard", boundary_weight: float = 1.0,
                 lr: float = 1e-3, scheduler: str = "cosine", seed: int = 0,
                 full_chunk: int = 1024, fit_output_bias: bool = False,
                 problem_spec: dict | None = None, estimator_spec: dict | None = None):
        super().__init__()
        if problem is None:
            if problem_spec is None:
                raise ValueError("give a problem (e.g. Poisson(dim=100)) or a problem_spec")
            problem = build_problem(problem_spec, "problem_spec")
        elif not isinstance(problem, BallProblem):
            raise ValueError(f"problem must be a BallProblem (Poisson, AllenCahn, SineGordon), "
                             f"got {type(problem).__name__}")
        if estimator is None:
            estimator = SDGD() if estimator_spec is None else \
                build_estimator(estimator_spec, "estimator_spec")
        elif not isinstance(estimator, LaplacianEstimator):
            raise ValueError(f"estimator must be a LaplacianEstimator (SDGD, Hutchinson, "
                             f"FullLaplacian), got {type(estimator).__name__}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {list(BOUNDARIES)}, got {boundary!r}")
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {list(SCHEDULERS)}, got {scheduler!r}")
        for name, v in (("lr", lr), ("boundary_weight", boundary_weight)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0 or (name == "lr" and v == 0):
                bound = "> 0" if name == "lr" else ">= 0"
                raise ValueError(f"{name} must be a finite number {bound}, got {v!r}")
        for name, v, low in (("seed", seed, 0), ("full_chunk", full_chunk, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        if not isinstance(fit_output_bias, bool):
            raise ValueError(f"fit_output_bias must be true or false, got {fit_output_bias!r}")
        self.fit_output_bias = fit_output_bias
        self.last_validation = LastValidation()
        self.problem, self.estimator, self.variant = problem, estimator, variant
        self.net = PINNMLP(problem.dim, width, depth, activation, hard_boundary=boundary == "hard")
        self.boundary, self.boundary_weight = boundary, float(boundary_weight)
        self.lr, self.scheduler, self.seed, self.full_chunk = float(lr), scheduler, seed, full_chunk
        self.save_hyperparameters(ignore=["problem", "estimator"])
        # saved again with the specs filled in (under LightningCLI the first call takes the
        # config's values, problem_spec: null), so hparams_initial, the logger's copy
        # (hparams.yaml), holds them as the checkpoint does
        self.save_hyperparameters({**self.hparams, "problem_spec": problem.spec(),
                                   "estimator_spec": estimator.spec()})
        # the estimator's draws (reseeded for every training batch: training_step)
        self._generator = torch.Generator().manual_seed(seed)
        self._full = FullLaplacian(chunk=full_chunk)
        self._sums: dict[str, list[float]] = {}
        # the seed_everything of the fit that trained this module from its start (a resumed
        # fit's comes from its checkpoint), recorded in checkpoints and exports
        self.seed_everything: int | None = None

    @property
    def dim(self) -> int:
        return self.problem.dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``u(x)``: ``(N, d) -> (N,)``, in float32 under mixed precision (see the class)."""
        with full_float32(x.device):
            return self.net(x)

    # -- the objective ---------------------------------------------------------------------------
    def objective(self, x: torch.Tensor, xb: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(objective, logs)`` for interior points ``x`` ``(N, d)`` and boundary points ``xb``.

        ``objective``'s gradient is an unbiased estimate of the gradient of the loss (module
        docstring); its value is not the loss. ``logs`` holds detached diagnostics:
        ``residual`` (mean squared residual or its estimate), ``rel_l2`` (this batch vs the
        exact solution) and ``boundary`` (with a boundary loss).
        """
        with full_float32(x.device):
            return self._objective(x, xb)

    def _objective(self, x: torch.Tensor, xb: torch.Tensor | None
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self.problem.check_points(x)
        with torch.no_grad():
            exact, g = self.problem.exact_and_source(x)
        residual = self.problem.residual
        # an exact estimate (SDGD with dim_batch >= d too) needs no second, independent one
        if self.estimator.exact_for(x.shape[1]):
            u, lap = self.estimator.estimate(self.net, x)
            r = residual(u, lap, g)
            objective = (r * r).mean()
            shown = objective.detach()
        else:
            with torch.no_grad():
                if self.variant == "backward":
                    u_a, lap_a = self._full.estimate(self.net, x)
                else:
                    u_a, lap_a = self.estimator.estimate(self.net, x, self._generator)
                r_a = residual(u_a, lap_a, g)
            u, lap = self.estimator.estimate(self.net, x, self._generator)
            r = residual(u, lap, g)
            objective = 2 * (r_a * r).mean()
            shown = (r_a * r_a).mean() if self.variant == "backward" else \
                (r_a * r.detach()).mean()
        logs = {"residual": shown}
        with torch.no_grad():
            logs["rel_l2"] = (u.detach() - exact).norm() / exact.norm().clamp_min(1e-30)
        if self.boundary == "loss":
            if xb is None or xb.shape[0] == 0:
                raise ValueError("boundary='loss' needs boundary points: set the datamodule's "
                                 "boundary_batch_size > 0 (data.init_args.boundary_batch_size)")
            self.problem.check_points(xb, "boundary points")
            bc = ((self.net(xb) - self.problem.boundary_value(xb)) ** 2).mean()
            objective = objective + self.boundary_weight * bc
            logs["boundary"] = bc.detach()
        return objective, logs

    @torch.no_grad()
    def init_output_bias(self, n_points: int = 1000, iters: int = 10, chunk: int = 250,
                         generator: torch.Generator | None = None) -> float:
        """Add to the output bias the constant ``b`` minimising the mean squared residual at
        ``n_points`` uniform points of the ball (and the boundary loss on as many points of the
        sphere with ``boundary="loss"``); returns ``b``.

        Adding ``b`` to the MLP's output changes ``u`` by ``q b`` and ``Δu`` by ``b Δq``
        (hard boundary: ``q = 1 - ‖x‖²``, ``Δq = -2d``; boundary loss: ``q = 1``, ``Δq = 0``),
        so ``r(b) = r(0) + b Δq + f(u + q b) - f(u)``: Gauss–Newton in ``b``, each step halved
        until the loss drops (at most ``iters`` steps). The Laplacian of the initial network
        comes from the module's estimator (unbiased; averaged over points; an exact one runs
        ``full_chunk`` dimensions at a time).
        """
        from .sampling import sample_ball, sample_sphere

        gen = generator if generator is not None else \
            torch.Generator().manual_seed(self.seed * 1_000_003 + 77)
        dev, dtype = self.net.out.bias.device, self.net.out.bias.dtype
        hard = self.boundary == "hard"
        # the exact Laplacian ``full_chunk`` dimensions at a time: same value, bounded memory
        est = self.estimator if self.estimator.stochastic else self._full
        us, laps, gs, qs = [], [], [], []
        for start in range(0, n_points, chunk):
            x = sample_ball(min(chunk, n_points - start), self.dim, gen, dtype).to(dev)
            u, lap = est.estimate(self.net, x, self._generator)
            us.append(u)
            laps.append(lap)
            gs.append(self.problem.source(x))
            qs.append(1 - (x * x).sum(-1) if hard else torch.ones_like(u))
        u0, lap0, g, q = (torch.cat(t).double() for t in (us, laps, gs, qs))
        dq = -2.0 * self.dim if hard else 0.0
        nb = torch.empty(0, dtype=torch.float64, device=dev)
        if not hard:
            xb = sample_sphere(n_points, self.dim, gen, dtype).to(dev)
            nb = (self.net(xb) - self.problem.boundary_value(xb)).double()
        w = math.sqrt(self.boundary_weight / max(nb.numel(), 1)) if nb.numel() else 0.0

        def residuals(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """The stacked residual (its squared sum is the loss) and its derivative in b."""
            with torch.enable_grad():
                v = (u0 + q * b).requires_grad_(True)
                f = self.problem.reaction(v)
                df = torch.autograd.grad(f.sum(), v)[0] if f.requires_grad else \
                    torch.zeros_like(v)
            r = torch.cat([(lap0 + b * dq + f.detach() - g) / math.sqrt(len(u0)), w * (nb + b)])
            jac = torch.cat([(dq + df * q) / math.sqrt(len(u0)), torch.full_like(nb, w)])
            return r, jac

        b = torch.zeros((), dtype=torch.float64, device=dev)
        r, jac = residuals(b)
        loss = float((r * r).sum())
        for _ in range(iters):
            denom = (jac * jac).sum()
            if denom == 0:
                break
            step = (r * jac).sum() / denom
            # the full Gauss–Newton step can overshoot when f is nonlinear and the residual
            # large (Allen–Cahn with a boundary loss: b swung between two values, ending
            # above the loss at b = 0); halve it until the loss drops
            for _ in range(40):
                r_new, jac_new = residuals(b - step)
                loss_new = float((r_new * r_new).sum())
                if loss_new < loss:
                    break
                step = step / 2
            else:
                break
            b, r, jac, loss = b - step, r_new, jac_new, loss_new
            if abs(float(step)) <= 1e-10 * max(1.0, abs(float(b))):
                break
        self.net.out.bias += b.to(self.net.out.bias.dtype)
        return float(b)

    # -- Lightning hooks -------------------------------------------------------------------------
    def check_trainer_precision(self, precision, stage: str) -> None:
        """Refuse Lightning's ``precision`` where it casts the network to a dtype its residual
        cannot be trusted in (:data:`PRECISION_REFUSES`), with a ValueError naming
        ``trainer.precision``. Called by :meth:`setup`, and by ``pdesurrogate fit``/``test``
        before the Trainer makes the run folder."""
        check_precision(precision, self.net, PRECISION_REFUSES)

    def train_metric_names(self) -> list[str] | None:
        """The ``train/`` metrics :meth:`training_step` logs, as this module is configured
        (what a callback's ``monitor`` may name); None for a subclass with a training step of
        its own (its monitors are then not checked before training)."""
        if type(self).training_step is not PINNModule.training_step:
            return None
        return ["train/residual", "train/rel_l2",
                *(["train/boundary"] if self.boundary == "loss" else [])]

    def setup(self, stage: str) -> None:
        if self._trainer is not None:
            self.check_trainer_precision(self.trainer.precision, stage)
            if stage == "fit":
                check_training_monitors(self.trainer, type(self).__name__,
                                        self.train_metric_names())
        if stage == "fit":
            seed = claim_fit_seed()
            if self.seed_everything is None:
                self.seed_everything = seed

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint.setdefault(CHECKPOINT_KEY, {}).update({
            "seed_everything": self.seed_everything,
            VALIDATION_KEY: self.last_validation.record(self._trainer)})

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        extra = checkpoint.get(CHECKPOINT_KEY) or {}
        if extra.get("seed_everything") is not None:
            self.seed_everything = int(extra["seed_everything"])
        self.last_validation.restore(extra.get(VALIDATION_KEY))

    def on_fit_start(self) -> None:
        if self.fit_output_bias and self.global_step == 0:
            self.init_output_bias()
            if self.trainer.world_size > 1:
                # every rank fitted the same b from the same draws; rank 0's value is the one
                # all keep, so the replicas start identical whatever the arithmetic did. Sent
                # as Python floats (exact for float32): DDP's broadcast pickles its object, and
                # a CUDA tensor would be unpickled onto cuda:0 on every rank, opening a context
                # on another rank's GPU (refused outright in exclusive-process mode)
                bias = self.trainer.strategy.broadcast(self.net.out.bias.detach().tolist(), 0)
                with torch.no_grad():
                    self.net.out.bias.copy_(torch.tensor(bias, dtype=self.net.out.bias.dtype))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if self._trainer is not None:
            # each batch's SDGD dimensions (Hutchinson probes) from (seed, rank, epoch, batch):
            # the ranks of a DDP run draw their own, and a resumed fit draws what the unbroken
            # one would have (the generator's state is in no checkpoint)
            self._generator.manual_seed(batch_seed(self.seed, int(self.trainer.global_rank),
                                                   int(self.current_epoch), int(batch_idx)))
        x = batch["x"]
        objective, logs = self.objective(x, batch.get("xb"))
        bs = x.shape[0]
        self.log("train/residual", logs["residual"], batch_size=bs)
        self.log("train/rel_l2", logs["rel_l2"], prog_bar=True, batch_size=bs)
        if "boundary" in logs:
            self.log("train/boundary", logs["boundary"], batch_size=bs)
        return objective

    def _start(self, prefix: str) -> None:
        self._sums[prefix] = [0.0, 0.0]

    def _accumulate(self, batch: dict, prefix: str) -> None:
        x = batch["x"]
        with full_float32(x.device):     # the exact solution too (its sums, in bfloat16)
            u, exact = self.net(x), self.problem.exact(x)
        sums = self._sums.setdefault(prefix, [0.0, 0.0])
        sums[0] += float(((u - exact) ** 2).sum())
        sums[1] += float((exact ** 2).sum())

    def _finish(self, prefix: str) -> None:
        err, ref = self._sums.pop(prefix, [0.0, 0.0])
        sums = torch.tensor([err, ref], dtype=torch.float64, device=self.device)
        if self.trainer is not None and self.trainer.world_size > 1:
            sums = self.all_gather(sums).reshape(-1, 2).sum(0)
        rel = math.sqrt(float(sums[0]) / max(float(sums[1]), 1e-300))
        self.log(f"{prefix}/rel_l2", rel, prog_bar=True)

    def on_validation_epoch_start(self) -> None:
        self._start("val")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._accumulate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._finish("val")
        self.last_validation.validated(self._trainer)

    def on_test_epoch_start(self) -> None:
        self._start("test")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._accumulate(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._finish("test")

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """``trainer.predict``: the network's solution ``u(x)`` at the batch's points, ``(N, d)
        -> (N,)``, in the problem's units (the PINN learns ``u`` itself: nothing to undo), in
        float32 under mixed precision, as :meth:`forward` and an export's ``predict``. A batch
        is the points ``(N, d)``, a dict with them as ``"x"``
        (:class:`~pdesurrogate.pinn.points.BallPoints`, whose ``predict_dataloader`` hands its
        test points), or a tuple or list that starts with them
        (a ``TensorDataset``'s); anything else is one ValueError saying so (Lightning's default
        would call ``forward`` on it and fail inside the network)."""
        x = batch
        if isinstance(batch, dict):
            x = batch.get("x")
        elif isinstance(batch, (list, tuple)) and batch:
            x = batch[0]
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            got = (tuple(x.shape) if isinstance(x, torch.Tensor) else
                   f"a dict with keys {sorted(batch)}" if isinstance(batch, dict) else
                   type(batch).__name__)
            raise ValueError(f"{type(self).__name__}.predict_step evaluates u at points: it "
                             f"takes batches of points (N, {self.dim}), {{'x': (N, {self.dim})}}"
                             f" (BallPoints) or (points, ...) (a TensorDataset), got {got}")
        return self(x)

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        return with_schedule(self, opt, self.scheduler)
