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

neuralop's ``DomainPadding`` keeps two dicts keyed by grid size (the padding of each input
size, the slices that remove it from each padded size), which grow with every grid size a
model is called on, without end: a served FNO called on 4000 sizes held 4000 entries in each
(and the FNO a set of the sizes whose first forward it had made, under a lock, because a
second thread found the first dict filled before the second). :class:`StatelessDomainPadding`
keeps nothing per size: the padding is computed from the input's size and the slices from the
padded size on each call (a few integer operations), the same numbers bit for bit.
"""

from __future__ import annotations

import math

import torch
from neuralop.layers import padding as neuralop_padding
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


class StatelessDomainPadding(neuralop_padding.DomainPadding):
    """neuralop's ``DomainPadding`` (``round(fraction * n)`` zeros at both ends of each spatial
    axis of ``n`` points, Python's ``round``; ``unpad`` cuts them off) without its per-size
    caches (module docstring); no resolution scaling (the FNO's blocks keep the grid)."""

    def __init__(self, fraction: float):
        super().__init__(domain_padding=float(fraction), resolution_scaling_factor=1)
        self.fraction = float(fraction)

    def _per_end(self, n: int) -> int:
        return round(self.fraction * n)

    def pad(self, x: torch.Tensor, verbose: bool = False) -> torch.Tensor:
        ends = [self._per_end(n) for n in x.shape[2:]]
        # F.pad takes the last axis first; through neuralop's module, as its own pad calls it
        return neuralop_padding.F.pad(x, [e for p in reversed(ends) for e in (p, p)],
                                      mode="constant")

    def padded_from(self, m: int) -> int:
        """The ``n`` that pads to ``m`` points: ``n + 2 round(fraction n)`` grows with ``n``
        (by 1 to 3 a point), so one ``n`` at most does, within 1 of ``m / (1 + 2 fraction)``."""
        guess = math.floor(m / (1 + 2 * self.fraction))
        for n in range(max(guess - 1, 0), guess + 3):
            if n + 2 * self._per_end(n) == m:
                return n
        raise ValueError(f"no grid of domain_padding={self.fraction:g} pads to {m} points")

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        cuts = []
        for m in x.shape[2:]:
            p = self._per_end(self.padded_from(int(m)))
            cuts.append(slice(p, -p) if p else slice(None, None))
        return x[(Ellipsis, *cuts)]
