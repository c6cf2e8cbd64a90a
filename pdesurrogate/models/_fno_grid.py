"""neuralop's grid embedding with its coordinates cached per grid, device and dtype.

neuralop's ``GridEmbeddingND`` keeps the coordinates of one grid, the last it saw, in two
attributes written one after the other (the coordinates, then the grid they are for). One
model called from several threads at once on different grids (an FNO runs on any grid; a
server's threads sharing one loaded surrogate) read each other's half-written cache: 12 of 576
calls from 8 threads on 16- and 32-point grids failed with "Sizes of tensors must match". The
cache was also left behind by ``.to()`` (a plain attribute, not a buffer). Here each entry is
made whole before it is stored, under a key that holds the grid, device and dtype, and a call
uses the entry it made or read, never the attribute again. No parameters or buffers: the
state-dict keys are neuralop's.
"""

from __future__ import annotations

import torch
from neuralop.layers.embeddings import GridEmbeddingND, regular_grid_nd

# grids whose coordinates are kept; a model called on more starts again (a server may see any)
MAX_GRIDS = 8


class KeyedGridEmbedding(GridEmbeddingND):
    """``GridEmbeddingND`` (coordinates on ``grid_boundaries`` per axis appended as channels:
    ``(B, C, *grid) -> (B, C + dim, *grid)``) whose coordinates are cached per grid, device
    and dtype (module docstring)."""

    def __init__(self, in_channels: int, dim: int, grid_boundaries: list[list[float]]):
        super().__init__(in_channels=in_channels, dim=dim, grid_boundaries=grid_boundaries)
        self._grids: dict[tuple, list[torch.Tensor]] = {}

    def grid(self, spatial_dims, device, dtype) -> list[torch.Tensor]:
        """The ``dim`` coordinate fields ``(1, 1, *spatial_dims)`` on ``device`` in ``dtype``."""
        key = (tuple(int(n) for n in spatial_dims), torch.device(device), dtype)
        grids = self._grids.get(key)
        if grids is None:
            grids = [x.to(device).to(dtype).unsqueeze(0).unsqueeze(0)
                     for x in regular_grid_nd(key[0], grid_boundaries=self.grid_boundaries)]
            if len(self._grids) >= MAX_GRIDS:
                self._grids = {}  # a thread reading the old dict keeps its entry
            self._grids[key] = grids
        return grids
