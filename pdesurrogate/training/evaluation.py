"""Validation and test over whole trajectories, exact under DDP: every trajectory counts once.

Two parts, because Lightning's defaults get both wrong on uneven splits:

- ``evaluation_loader``: Lightning gives a plain loader a ``DistributedSampler``, which pads the
  split with repeated trajectories until it divides evenly among the ranks, so those count
  twice. Here rank ``r`` of ``W`` takes trajectories ``r, r + W, ...`` and nothing is repeated;
  the ranks may then see different numbers of trajectories.
- ``TrajectoryMeans``: ``self.log(..., batch_size=b, sync_dist=True)`` averages the ranks'
  summed batch sizes as an integer tensor (3 trajectories on 2 ranks: 1, not 1.5), so its mean
  over uneven ranks is wrong. Here each rank sums its per-trajectory errors and counts them, the
  sums are added over the ranks once at the end of the epoch, and only then divided. A
  maximum (``reduce="max"``) is taken over the ranks' maxima the same way.

Their DataLoader workers end as soon as a pass has yielded its last batch
(:class:`EvaluationLoader`): Lightning stops taking batches at the pass's length without
exhausting the iterator, so the workers would otherwise live on through the next training
epoch, beside the training loader's own, until the next pass replaced the iterator.

The loaders also have their own fixed ``torch.Generator``: without one, every pass over a
DataLoader draws its workers' base seed from torch's global generator, so each validation epoch
(or sanity check) would shift the training shuffle and noise after it, and the trained weights
would depend on how often one validates.

Every rank must run at least one batch (the end-of-epoch sum is a collective call), so a split
with fewer trajectories than ranks, or a fractional batch limit that leaves a rank none, is
refused; an empty split is a split turned off.
"""

from __future__ import annotations

import math

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities.combined_loader import CombinedLoader
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

from .ctrl_c_loader import CtrlCLoader
from .losses import precise_dtype

# the Trainer option that limits each split's batches
_LIMITS = {"validation": "limit_val_batches", "test": "limit_test_batches"}
# seed of the evaluation loaders' own generator (it only seeds their workers: order is fixed)
LOADER_SEED = 0


class RankShare(DistributedSampler):
    """Indices ``rank, rank + world, ...`` of a sized dataset, in order, none repeated. A
    ``DistributedSampler`` (its ``shuffle`` and ``set_epoch`` do nothing), so Lightning keeps it
    instead of putting its own padded one in its place."""

    def __init__(self, dataset: Dataset, world: int, rank: int):
        super().__init__(dataset, num_replicas=world, rank=rank, shuffle=False)
        self.indices = list(range(rank, len(dataset), world))
        self.num_samples = self.total_size = len(self.indices)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class EvaluationLoader(CtrlCLoader):
    """A DataLoader whose worker processes end right after a pass has yielded its last batch
    (and ignore Ctrl-C: :class:`~.ctrl_c_loader.CtrlCLoader`).

    Args:
        dataset, **kwargs: as for :class:`~torch.utils.data.DataLoader`.
        trainer: the Lightning trainer that runs the passes (None: none). Its
            ``limit_val_batches``/``limit_test_batches`` or ``num_sanity_val_steps`` may end a
            pass before ``len(self)`` batches; the workers then end after the pass's last one.

    A pass of ``len(self)`` batches (or the trainer's fewer) shuts its workers down as it hands
    out its last batch: Lightning takes exactly that many and never asks for the end of the
    iterator, which is where a DataLoader would shut them down itself. Without workers, or with
    ``persistent_workers`` (kept on purpose), it is a plain DataLoader.
    """

    def __init__(self, dataset: Dataset, *args, trainer=None, **kwargs):
        super().__init__(dataset, *args, **kwargs)
        self.trainer = trainer

    def __iter__(self):
        it = super().__iter__()
        if not isinstance(it, _MultiProcessingDataLoaderIter) or self.persistent_workers:
            return it
        return _EndsWorkers(it, self._pass_batches())

    def _pass_batches(self) -> int:
        """The batches the trainer takes from this loader in the pass that starts now:
        ``len(self)``, or fewer where a batch limit or the sanity check cuts the pass short
        (read from the trainer's ``num_*_batches``, which Lightning sets before the pass)."""
        n, trainer = len(self), self.trainer
        if trainer is None or not hasattr(trainer, "num_sanity_val_batches"):
            return n
        if getattr(trainer, "testing", False):
            loaders, limits = trainer.test_dataloaders, trainer.num_test_batches
        else:
            loaders = trainer.val_dataloaders
            limits = (trainer.num_sanity_val_batches if trainer.sanity_checking
                      else trainer.num_val_batches)
        flat = CombinedLoader(loaders).flattened if loaders is not None else []
        for loader, limit in zip(flat, limits, strict=False):
            if loader is self and 0 < limit < n:
                return int(limit)
        return n


class _EndsWorkers:
    """``it`` (a multi-process DataLoader iterator) that shuts its workers down as it returns
    batch number ``batches``, and stops there."""

    def __init__(self, it: _MultiProcessingDataLoaderIter, batches: int):
        self._it, self._left = it, batches

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return len(self._it)

    def __next__(self):
        if self._left <= 0:
            raise StopIteration
        batch = next(self._it)
        self._left -= 1
        if self._left == 0:
            # the batch is already in this process (pinned, if asked for): nothing is lost
            self._it._shutdown_workers()
        return batch


def evaluation_loader(dataset: Dataset, batch_size: int, trainer, split: str,
                      num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """A loader over ``dataset`` (whole trajectories, in order) for ``trainer``'s rank.

    Args:
        dataset: the split's trajectories (a sized map-style dataset; empty: the split is off).
        batch_size: trajectories per batch.
        trainer: the Lightning trainer the loader is for (None: one process).
        split: the split's name, ``"validation"`` or ``"test"``.
        num_workers: DataLoader workers; they end as each pass hands out its last batch
            (:class:`EvaluationLoader`; a pass is a few seconds once an epoch: workers kept
            alive would hold their memory through the training epoch that follows).
        pin_memory: page-locked batches, for faster copies to a GPU.

    The loader draws from its own generator (seeded with :data:`LOADER_SEED`), never from
    torch's global one; Lightning keeps it when it re-creates the loader (it copies the
    loader's attributes).

    Raises ValueError, under DDP, when a rank would run no batch: fewer trajectories than
    processes, or a fractional ``limit_val_batches``/``limit_test_batches`` that leaves a rank
    with none (Lightning would stop that rank alone, and the others would wait for it).
    """
    world = int(getattr(trainer, "world_size", 1) or 1) if trainer is not None else 1
    sampler = None
    if world > 1 and len(dataset) > 0:
        n = len(dataset)
        if n < world:
            raise ValueError(
                f"the {split} split holds {n} trajectory(ies), fewer than the {world} training "
                "processes: each needs at least one (give the split more trajectories, e.g. a "
                "larger fraction, or train on fewer devices)")
        name = _LIMITS.get(split)
        limit = getattr(trainer, name, 1.0) if name else 1.0
        if split == "validation" and (getattr(trainer, "overfit_batches", 0) or 0) > 0:
            # Lightning puts overfit_batches in limit_val_batches: name what the user set
            name = "overfit_batches"
        if isinstance(limit, float) and 0 < limit < 1:
            fewest = math.ceil((n // world) / batch_size)  # the last ranks' batches
            if int(fewest * limit) == 0:
                raise ValueError(
                    f"{name}={limit} leaves some of the {world} training processes no "
                    f"{split} batch ({fewest} batch(es) of {batch_size} trajectories each): "
                    "raise it or give it as a number of batches"
                    + (", or use a smaller batch size" if batch_size > 1 else ""))
        sampler = RankShare(dataset, world, int(trainer.global_rank))
    return EvaluationLoader(dataset, batch_size=batch_size, shuffle=False, sampler=sampler,
                            num_workers=num_workers, pin_memory=pin_memory,
                            generator=torch.Generator().manual_seed(LOADER_SEED),
                            trainer=trainer)


class TrajectoryMeans:
    """Means over a split's trajectories of named per-trajectory values, for one epoch.

    ``add(key, values)`` takes a ``(B,)`` tensor (one value per trajectory of the batch);
    ``log(module)`` adds the sums and counts over the ranks, logs ``sum / count`` under each key
    and starts over. ``add(key, values, reduce="max")`` keeps the largest value instead, which
    ``log`` takes over the ranks (a NaN among them makes it NaN on one process; across ranks
    the collective's own NaN rule applies). Keys must be added in every batch of every rank
    alike.
    """

    REDUCTIONS = ("mean", "max")

    def __init__(self):
        self._sums: dict[str, list] = {}
        self._maxima: dict[str, torch.Tensor] = {}
        self.prog_bar: set[str] = set()

    def add(self, key: str, values: torch.Tensor, prog_bar: bool = False,
            reduce: str = "mean") -> None:
        if reduce not in self.REDUCTIONS:
            raise ValueError(f"reduce must be one of {self.REDUCTIONS}, got {reduce!r}")
        if key in (self._maxima if reduce == "mean" else self._sums):
            raise ValueError(f"{key!r} was added with another reduce than {reduce!r}")
        values = values.detach().reshape(-1)
        # summed where the values are (no host sync per batch), in float64 where the device
        # has it (Apple's MPS has not)
        dtype = precise_dtype(values.device)
        if reduce == "max":
            top = values.to(dtype).max()
            old = self._maxima.get(key)
            # torch.maximum propagates a NaN, as the mean's sum does
            self._maxima[key] = top if old is None else torch.maximum(old, top)
        else:
            entry = self._sums.setdefault(
                key, [torch.zeros((), dtype=dtype, device=values.device), 0])
            entry[0] = entry[0] + values.to(dtype).sum()
            entry[1] += values.numel()
        if prog_bar:
            self.prog_bar.add(key)

    def reset(self) -> None:
        self._sums.clear()
        self._maxima.clear()

    def log(self, module: LightningModule) -> dict[str, float]:
        """Log every key's mean (or maximum) over all ranks on ``module``; returns them."""
        keys = sorted(self._sums)
        peaks = sorted(self._maxima)
        if not keys and not peaks:
            return {}
        trainer = module._trainer
        ranks = trainer is not None and trainer.world_size > 1
        out = {}
        if keys:
            totals = torch.stack([torch.stack([self._sums[k][0],
                                               self._sums[k][0].new_tensor(
                                                   float(self._sums[k][1]))])
                                  for k in keys])  # (keys, 2): sum, count
            if ranks:
                totals = trainer.strategy.reduce(totals.to(module.device), reduce_op="sum")
            totals = totals.cpu()
            out.update({k: float(totals[i, 0] / totals[i, 1]) for i, k in enumerate(keys)})
        if peaks:
            tops = torch.stack([self._maxima[k] for k in peaks])
            if ranks:
                tops = trainer.strategy.reduce(tops.to(module.device), reduce_op="max")
            tops = tops.cpu()
            out.update({k: float(tops[i]) for i, k in enumerate(peaks)})
        self.reset()
        for k in sorted(out):
            # already over every rank; sync_dist only keeps Lightning from warning
            module.log(k, out[k], prog_bar=k in self.prog_bar, sync_dist=True)
        return out
