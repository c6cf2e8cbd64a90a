"""``StreamDataModule``: the Lightning data side of an online run.

Training items come from the in-process training buffer that the MPI receiver thread fills
(:class:`~pdesurrogate.streaming.BufferDataset`); each batch is a dict with ``input``/``target``
``(B, C, *grid)`` and ``params`` ``(B, P)``, which
:class:`~pdesurrogate.training.next_step.NextStepModule` trains on like pairs from a file.
Validation uses whole trajectories held in memory, ``u`` ``(N, T, C, *grid)`` and ``params``
``(N, P)``, generated once by the same solver (they never come from the stream).

The module is built in code by ``pdesurrogate online`` (it holds live objects: the buffer and
the receiver), not from a config file.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.streaming import BufferDataset, Receiver, TrainingBuffer
from pdesurrogate.training.evaluation import evaluation_loader


class TrajectoryTensors(Dataset):
    """Whole trajectories held as tensors: item ``i`` is ``{"u": u[i], "params": params[i]}``."""

    def __init__(self, u: torch.Tensor, params: torch.Tensor):
        if u.ndim < 4 or params.ndim != 2 or u.shape[0] != params.shape[0]:
            raise ValueError(f"expected u (N, T, C, *grid) and params (N, P) with the same N, "
                             f"got {tuple(u.shape)} and {tuple(params.shape)}")
        self.u, self.params = u, params

    def __len__(self) -> int:
        return self.u.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"u": self.u[i], "params": self.params[i]}


class StreamDataModule(LightningDataModule):
    """Train from the stream, validate on held-out trajectories.

    Args:
        buffer: the training buffer the receiver fills.
        receiver: the running :class:`Receiver` (its ``should_continue`` keeps trainer ranks in
            step and ends the epoch at the end of the stream or on a stop request).
        param_names: order of the PDE parameters in ``params``.
        batch_size: training items per batch.
        val_u: validation trajectories ``(N, T, C, *grid)`` (physical units).
        val_params: their parameters ``(N, P)``.
        stats: normalisation statistics (taken by the module when a fit starts, unless it has
            a checkpoint's).
        data_info: ``pde``, ``grid_shape``, ``channel_names``, ``param_names``, ``k``, ``dt``
            (recorded in checkpoints and exports).
        val_batch_size: trajectories per validation batch.
    """

    def __init__(self, buffer: TrainingBuffer, receiver: Receiver, param_names: Sequence[str],
                 batch_size: int, val_u: torch.Tensor, val_params: torch.Tensor,
                 stats: ChannelStats, data_info: dict, val_batch_size: int = 16):
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.buffer, self.receiver = buffer, receiver
        self.param_names, self.batch_size = tuple(param_names), batch_size
        self.val = TrajectoryTensors(val_u, val_params)
        self.stats, self.data_info, self.val_batch_size = stats, dict(data_info), val_batch_size

    def train_dataloader(self) -> DataLoader:
        # the dataset draws and collates whole batches (one np.stack per field): per-item
        # tensors + default_collate cost more time between steps than the draws themselves
        ds = BufferDataset(self.buffer, self.param_names, batch_size=self.batch_size,
                           sync=self.receiver.should_continue, collate=True)
        return DataLoader(ds, batch_size=None, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        return evaluation_loader(self.val, self.val_batch_size, self.trainer, "validation")
