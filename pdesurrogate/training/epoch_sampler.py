"""A training order that a resumed fit continues: a permutation seeded by (seed, epoch), which
skips the batches a checkpoint written in the middle of the epoch had already trained.

A ``DataLoader(shuffle=True)`` draws each epoch's order from torch's global generator, which no
checkpoint holds: a resumed fit replays the first epochs' orders, and Lightning starts a
stopped epoch's loader again from its first batch (its warning: "your dataloader is not
resumable"), so some items of that epoch are trained twice and others never.
:class:`EpochShuffle` is a :class:`~torch.utils.data.DistributedSampler` (the one Lightning
gives a plain loader under DDP, which it keeps in place of its own), so each rank takes its
own share of the same permutation; Lightning calls its ``set_epoch`` before every epoch.
A loop that never calls ``set_epoch`` (a bare PyTorch loop over ``train_dataloader()``) gets
the next epoch's order at each pass all the same, as ``shuffle=True`` gave it a new one.
:func:`resume_position` is what a checkpoint records of where in the order it stopped, and
:func:`rank_skip` what each rank of a resumed run leaves out of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

# items of a rank's share turned into Python ints at a time (a slice costs ~46 bytes an item)
SLICE_ITEMS = 65536


class EpochShuffle(DistributedSampler):
    """Rank ``rank``'s share of a permutation of ``dataset`` seeded by ``seed + epoch``
    (``DistributedSampler``'s, padded so the ranks take as many items).

    Args:
        dataset: a sized map-style dataset.
        seed: the run's seed (:func:`~pdesurrogate.training.draw_seeds.run_seed`).
        world_size: processes of the run; rank: this one's.
        epoch: the epoch of the first pass (a resumed fit's; Lightning sets later ones).
        skip: items of this rank to leave out of the first pass if it is of ``epoch``, those
            a checkpoint written in the middle of that epoch had trained (0: none).
    """

    def __init__(self, dataset: Dataset, seed: int, world_size: int = 1, rank: int = 0,
                 epoch: int = 0, skip: int = 0):
        for name, v, low in (("world_size", world_size, 1), ("rank", rank, 0),
                             ("epoch", epoch, 0), ("skip", skip, 0), ("seed", seed, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        if rank >= world_size:
            raise ValueError(f"rank must be below world_size={world_size}, got {rank}")
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
        self.epoch = epoch
        self._skip: tuple[int, int] | None = (epoch, skip) if skip else None
        # whether the next pass takes self.epoch as set (the first pass, or set_epoch since the
        # last one) or moves on to the next epoch (a loop that never calls set_epoch)
        self._epoch_set = True

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self._epoch_set = True

    def __iter__(self) -> Iterator[int]:
        if not self._epoch_set:
            # DistributedSampler would repeat one order every pass; shuffle=True, which
            # this replaced, drew a new one
            self.epoch += 1
        self._epoch_set = False
        skip, self._skip = self._skip, None  # the first pass only
        start = skip[1] if skip is not None and skip[0] == self.epoch else 0
        # DistributedSampler's order, held as one int64 tensor (8 bytes an item) instead of
        # its Python list (~46 bytes an item: 460 MiB at 10 M items): the same randperm of the
        # same generator, padded by wrapping around (position p is perm[p % n]) and dealt out
        # to the ranks at positions rank, rank + world_size, ...
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        perm = torch.randperm(len(self.dataset), generator=g)
        return _share(perm, self.rank, self.num_replicas, start, self.num_samples)


def _share(perm: torch.Tensor, rank: int, world_size: int, start: int,
           stop: int) -> Iterator[int]:
    """Items ``start .. stop - 1`` of rank ``rank``'s share of ``perm`` (its item ``j`` is
    ``perm[(rank + j * world_size) % len(perm)]``), as ints made :data:`SLICE_ITEMS` at a
    time (chained in C: a generator yielding each item took 3x as long)."""
    order = perm.numpy()  # a view: numpy's strided slices are 3x as fast as torch indexing
    n = len(order)

    def slices() -> Iterator[list[int]]:
        for j0 in range(start, stop, SLICE_ITEMS):
            first = rank + j0 * world_size
            last = rank + (min(j0 + SLICE_ITEMS, stop) - 1) * world_size
            if last < n:
                yield order[first: last + 1: world_size].tolist()
            else:  # the padding at the end wraps around to the start of the permutation
                yield order[np.arange(first, last + 1, world_size) % n].tolist()

    return itertools.chain.from_iterable(slices())


def rank_skip(items: int, world_size: int, rank: int) -> int:
    """Items of rank ``rank``'s share to skip when the first ``items`` positions of an epoch's
    permutation were trained: the ranks take positions ``rank, rank + world_size, ...``, so
    this holds whatever world size and batch size trained them (a resume on other devices)."""
    return max(0, -(-(items - rank) // world_size))


def resume_position(trainer) -> tuple[int, int]:
    """``(epoch, batches)``: where a checkpoint written now leaves the training order. After
    an epoch's last batch, the next epoch and 0; in the middle of epoch ``e`` (a Slurm
    requeue's ``hpc_ckpt``, a stop on SIGTERM), ``e`` and the batches of it trained so far.
    ``(0, 0)`` outside a fit."""
    loop = getattr(trainer, "fit_loop", None) if trainer is not None else None
    if loop is None:
        return 0, 0
    progress = loop.epoch_loop.batch_progress
    epoch = int(trainer.current_epoch)
    if progress.is_last_batch or progress.current.processed == 0:
        return epoch + (1 if progress.is_last_batch else 0), 0
    return epoch, int(progress.current.processed)
