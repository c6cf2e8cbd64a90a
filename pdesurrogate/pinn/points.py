"""``BallPoints``, the DataModule of PINN collocation points: fresh uniform points of the unit
ball (and sphere) at every step, drawn by :mod:`.sampling`."""

from __future__ import annotations

import torch
from lightning.pytorch import LightningDataModule

from pdesurrogate.models._checks import check_int
from pdesurrogate.run_record import rank_seed
from pdesurrogate.training.epoch_sampler import resume_position

from .sampling import sample_ball, sample_sphere


class _RandomBatches:
    """``steps`` batches ``{"x": (batch, d)[, "xb": (boundary, d)]}``, a new draw every epoch;
    ``rank`` (the process's rank in a DDP run) gives each process its own points.

    A plain sized iterable, handed to Lightning as is, not a torch ``IterableDataset`` in a
    ``DataLoader``: the batches are drawn whole in the training process, so a DataLoader (with
    ``batch_size=None`` and no workers) added nothing, and Lightning warned at every fit that an
    IterableDataset's ``__len__`` may be wrong with several workers. The length is exact here,
    and Lightning needs it (epoch length, the cosine schedule's ``estimated_stepping_batches``).
    Lightning adds no DistributedSampler to an iterable that is not a DataLoader."""

    def __init__(self, dim: int, batch: int, boundary: int, steps: int, seed: int,
                 rank: int = 0):
        self.dim, self.batch, self.boundary = dim, batch, boundary
        self.steps, self.seed, self.rank = steps, seed, rank
        self.epoch = 0
        # batches to leave out of the next pass: those a checkpoint written in the middle of
        # its epoch had trained (a resumed fit sets it; the pass clears it)
        self.skip = 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        # seeded by (seed, epoch, rank): a run is reproducible, no two epochs share points and
        # no two ranks of a DDP run draw the same ones (rank 0 draws what a single process does)
        gen = torch.Generator().manual_seed(rank_seed(self.seed * 1_000_003 + self.epoch,
                                                      self.rank))
        self.epoch += 1
        skip, self.skip = self.skip, 0
        for i in range(self.steps):
            item = {"x": sample_ball(self.batch, self.dim, gen)}
            if self.boundary:
                item["xb"] = sample_sphere(self.boundary, self.dim, gen)
            if i >= skip:  # the skipped ones are drawn all the same: the later ones follow
                yield item


class BallPoints(LightningDataModule):
    """Collocation points for a PINN on the unit ball: fresh uniform points at every step.

    Args:
        dim: the dimension; None takes the model's (``lightning_module.problem.dim``).
        batch_size: interior points per training step.
        boundary_batch_size: points on the sphere per step (for a boundary loss; 0: none).
        steps_per_epoch: training steps per epoch (validation runs after each epoch).
        val_points: fixed points for validation (relative L2 vs the exact solution).
        test_points: fixed points for ``pdesurrogate test``.
        seed: seed of every draw (training, validation and test points differ). In a
            multi-process (DDP) run each rank draws its own training points (rank 0 the same
            as a single process); validation and test points are one fixed set, whose
            batches Lightning's distributed sampler splits among the ranks.

    Batches are dicts: ``x`` ``(batch_size, dim)``, and ``xb`` ``(boundary_batch_size, dim)``
    when ``boundary_batch_size > 0``.

    A checkpoint keeps the epoch whose points come next and how many of its batches were
    trained (``state_dict``), so a resumed fit draws the points the unbroken fit would have.
    """

    def __init__(self, dim: int | None = None, batch_size: int = 100,
                 boundary_batch_size: int = 0, steps_per_epoch: int = 100,
                 val_points: int = 1000, test_points: int = 1000, seed: int = 0):
        super().__init__()
        self.dim = None if dim is None else check_int("dim", dim, 2)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.boundary_batch_size = check_int("boundary_batch_size", boundary_batch_size, 0)
        self.steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, 1)
        self.val_points = check_int("val_points", val_points, 1)
        self.test_points = check_int("test_points", test_points, 1)
        self.seed = check_int("seed", seed, 0)
        self._train: _RandomBatches | None = None
        # (epoch, batches trained in it) of the checkpoint a resumed fit starts from
        self._resume_at: tuple[int, int] | None = None

    def state_dict(self) -> dict:
        """Where a checkpoint written now leaves the training points (plain ints)."""
        if self._train is None:
            return {}
        epoch, done = resume_position(self.trainer)
        return {"resume_epoch": epoch, "resume_batches": done}

    def load_state_dict(self, state: dict) -> None:
        """Continue from the checkpoint's place (Lightning calls this before it asks for the
        training batches); a checkpoint written before this was saved starts at epoch 0."""
        if "resume_epoch" in state:
            self._resume_at = (int(state["resume_epoch"]), int(state.get("resume_batches", 0)))

    def _rank(self) -> int:
        trainer = self.trainer
        return int(getattr(trainer, "global_rank", 0) or 0) if trainer is not None else 0

    def _model_dim(self) -> int | None:
        trainer = self.trainer
        module = getattr(trainer, "lightning_module", None) if trainer is not None else None
        problem = getattr(module, "problem", None)
        return getattr(problem, "dim", None)

    def setup(self, stage: str) -> None:
        model_dim = self._model_dim()
        if self.dim is None:
            if model_dim is None:
                raise ValueError("BallPoints: dim is not set and the model has no problem.dim; "
                                 "set data.init_args.dim")
            self.dim = model_dim
        elif model_dim is not None and model_dim != self.dim:
            raise ValueError(f"BallPoints: dim={self.dim} but the model's problem has "
                             f"dim={model_dim}; leave data.init_args.dim unset or make them equal")
        if self._train is None:
            self._train = _RandomBatches(self.dim, self.batch_size, self.boundary_batch_size,
                                         self.steps_per_epoch, self.seed)
        self._train.rank = self._rank()

    def _fixed(self, n: int, offset: int) -> _FixedBatches:
        """This rank's batches of the ``n`` fixed evaluation points: with W ranks, rank r takes
        batches r, r + W, ...; the list is padded with empty batches to a multiple of W, so
        every rank has as many batches and no point is counted twice."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + 999_983 + offset)
        x = sample_ball(n, self.dim, gen)
        # one batch per batch_size * 10 points bounds the evaluation's memory at large d
        step = self.batch_size * 10
        batches = [x[i: i + step] for i in range(0, n, step)]
        trainer = self.trainer
        world = int(getattr(trainer, "world_size", 1) or 1) if trainer is not None else 1
        batches += [x[:0]] * (-len(batches) % world)
        return _FixedBatches([{"x": b} for b in batches[self._rank():: world]])

    def train_dataloader(self) -> _RandomBatches:
        if self._resume_at is not None:
            self._train.epoch, self._train.skip = self._resume_at
            self._resume_at = None
        return self._train

    def val_dataloader(self) -> _FixedBatches:
        return self._fixed(self.val_points, 0)

    def test_dataloader(self) -> _FixedBatches:
        return self._fixed(self.test_points, 1)

    def predict_dataloader(self) -> _FixedBatches:
        """``trainer.predict``: the test points, in :meth:`test_dataloader`'s batches and order
        (``PINNModule.predict_step`` returns ``u`` at each batch's ``"x"``)."""
        return self._fixed(self.test_points, 1)


class _FixedBatches:
    """A rank's list of evaluation batches. A sized iterable, not a DataLoader (see
    :class:`_RandomBatches`), so Lightning adds no DistributedSampler (which would split the
    list again and pad it with repeated batches); not a bare list, which Lightning would take
    for a list of loaders."""

    def __init__(self, batches: list[dict[str, torch.Tensor]]):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)
